// The EventBridge client and the command syncline sends (see ../sdk-imports.ts).
export { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
