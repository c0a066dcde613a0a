import type { SQSEvent } from 'aws-lambda';
import type { ChangeEnvelope } from '../../functions/core/envelope';
import { toSqsRecord } from '../../lib/local/sqs-poller';

/** An upsert of `key` from `source`, as the transform sends it to resolve (`id` holds the key). */
export const upsertOf = (flowId: string, source: string, key: string, data: Record<string, unknown>, ts: number): ChangeEnvelope => ({
  v: 1,
  id: `${source}-${key}-${ts}`,
  flow: flowId,
  source,
  key,
  op: 'upsert',
  data: { id: key, ...data },
  ts,
  seq: String(ts),
  lineage: [{ step: 'capture', at: ts, outcome: 'captured' }],
});

/** The SQS event of a resolve queue carrying these changes, one message each. */
export const resolveEventOf = (envelopes: readonly ChangeEnvelope[]): SQSEvent => ({
  Records: envelopes.map((e, i) =>
    toSqsRecord({ MessageId: `${e.id}-${i}`, ReceiptHandle: `rh-${e.id}`, Body: JSON.stringify(e), MD5OfBody: '', Attributes: {} }, 'arn:aws:sqs:us-east-1:000000000000:resolve', 'us-east-1'),
  ),
});
