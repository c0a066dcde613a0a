import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeTargetWriter, sdkEventPutter } from '../adapters/eventbridge-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const { flow, target } = deliverTarget('eventbridge');
const events = new EventBridgeClient({});

export const handler = deliverTargetLambda(
  flow,
  target.id,
  new EventBridgeTargetWriter({ putter: sdkEventPutter(events), busName: target.busName, source: target.source, detailType: target.detailType }),
);
