import { sqsClient } from '../adapters/clients';
import { queueUrlFromArn, SqsTargetWriter } from '../adapters/sqs-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const { flow, target } = deliverTarget('sqs');

export const handler = deliverTargetLambda(flow, target.id, new SqsTargetWriter({ client: sqsClient, queueUrl: queueUrlFromArn(target.queueArn) }));
