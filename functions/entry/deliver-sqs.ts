import { sqsClientForQueue } from '../adapters/clients';
import { queueUrlFromArn, SqsTargetWriter } from '../adapters/sqs-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const { flow, target } = deliverTarget('sqs');

// The client signs for the queue's region, which may differ from the function's.
export const handler = deliverTargetLambda(flow, target.id, new SqsTargetWriter({ client: sqsClientForQueue(target.queueArn), queueUrl: queueUrlFromArn(target.queueArn) }));
