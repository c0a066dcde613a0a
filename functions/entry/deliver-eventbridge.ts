import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { regionOfArn } from '../adapters/clients';
import { sdkEventPutter } from '../adapters/eventbridge-sdk';
import { EventBridgeTargetWriter } from '../adapters/eventbridge-target-writer';
import { deliverTarget, deliverTargetLambda } from './deliver-common';

const step = deliverTarget('eventbridge');
const { target } = step;
// A bus given by ARN may be in another region: PutEvents goes to, and is signed for, that region.
const busRegion = regionOfArn(target.busName);
const events = new EventBridgeClient(busRegion ? { region: busRegion } : {});

export const handler = deliverTargetLambda(
  step,
  target.id,
  new EventBridgeTargetWriter({ putter: sdkEventPutter(events), busName: target.busName, source: target.source, detailType: target.detailType }),
);
