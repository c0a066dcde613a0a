import { sqsClientForQueue } from '../adapters/clients';
import { queueUrlFromArn, SqsTargetWriter } from '../adapters/sqs-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const step = deliverTarget('sqs');

// The client signs for the queue's region, which may differ from the function's.
export const handler = deliverTargetLambda(step, step.target.id, new SqsTargetWriter({ client: sqsClientForQueue(step.target.queueArn), queueUrl: queueUrlFromArn(step.target.queueArn) }));
