import { isJsonObject } from '../json-safety';

/**
 * An SNS notification as SNS delivers it to a queue without raw message delivery: what was published is its
 * `Message` (https://docs.aws.amazon.com/sns/latest/dg/sns-large-payload-raw-message-delivery.html).
 */
export interface SnsNotification {
  readonly Type: 'Notification';
  readonly MessageId: string;
  readonly TopicArn: string;
  readonly Message: string;
  readonly Timestamp: string;
}

export function isSnsNotification(v: unknown): v is SnsNotification {
  return isJsonObject(v) && v.Type === 'Notification' && typeof v.MessageId === 'string' && typeof v.TopicArn === 'string' && v.TopicArn.startsWith('arn:') && typeof v.Message === 'string' && typeof v.Timestamp === 'string';
}
