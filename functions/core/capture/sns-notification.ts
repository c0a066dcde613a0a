import { isJsonObject, jsonDepth, MAX_BODY_DEPTH, parseJsonExact } from '../json-safety';
import { jsonErrorText } from '../error-text';

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

/** What was published, parsed as a message body is (numbers kept exact), or why it cannot be read. */
export function snsMessageOf(notification: SnsNotification): { readonly body: unknown } | { readonly error: string } {
  const depth = jsonDepth(notification.Message);
  if (depth > MAX_BODY_DEPTH) return { error: `SNS Message nests ${depth} levels deep; the limit is ${MAX_BODY_DEPTH}` };
  try {
    return { body: parseJsonExact(notification.Message) };
  } catch (err) {
    return { error: `SNS Message is not valid JSON: ${jsonErrorText(err)}` };
  }
}
