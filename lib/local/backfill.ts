import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { FlowConfig } from '../config/schema';
import { unmarshallImage } from '../../functions/adapters/dynamodb-images';
import { ORIGIN_MARKER_ATTRIBUTE, snapshotEnvelope, type DynamoDbStreamSource } from '../../functions/core/capture/dynamodb-stream';
import { ENVELOPE_VERSION, eventId, keyOf, type ChangeEnvelope } from '../../functions/core/envelope';
import { MAX_RECORD_BYTES } from '../../functions/core/claim-check';
import { matchesPattern } from '../../functions/core/event-pattern';
import { keyUntouchedByTransform, maskForQuarantine } from '../../functions/core/transform/raw-record';
import { auditable } from '../../functions/handlers/sqs-batch';
import type { AuditEntry, AuditLog, Publisher, QuarantineItem, QuarantineStore } from '../../functions/ports';

export interface BackfillDeps {
  readonly flow: FlowConfig;
  readonly sourceId: string;
  /** The source table (local name). */
  readonly tableName: string;
  readonly dynamodb: DynamoDBClient;
  readonly publisher: Publisher;
  readonly transformQueueUrl: string;
  readonly audit: AuditLog;
  readonly quarantine: QuarantineStore;
  /** Parallel scan segments. @default 4 */
  readonly segments?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface BackfillSummary {
  readonly flow: string;
  readonly source: string;
  readonly table: string;
  readonly segments: number;
  /** Items read from the table. */
  readonly scanned: number;
  /** Snapshots sent to the transform queue. */
  readonly sent: number;
  /** Items the source's `filter` drops (as the stream capture would). */
  readonly filtered: number;
  /** Items that cannot be captured (unreadable, no key, too large), stored in quarantine. */
  readonly quarantined: number;
  /** Snapshots the queue refused after retries; run the backfill again. */
  readonly failed: number;
}

/**
 * Re-captures a `dynamodb-stream` source's table in full: a parallel Scan whose items become `upsert` snapshots
 * (`snapshotEnvelope`) on the flow's transform queue, with the source's `filter` and `attributes` applied as the
 * stream capture applies them. Merges are idempotent and ordered by clock, so a backfill never regresses newer state.
 */
export async function backfillSource(deps: BackfillDeps): Promise<BackfillSummary> {
  const { flow, sourceId, tableName } = deps;
  const source = flow.sources.find((s): s is DynamoDbStreamSource => s.id === sourceId && s.type === 'dynamodb-stream');
  if (!source) throw new Error(`flow "${flow.id}" has no dynamodb-stream source "${sourceId}"`);
  const total = deps.segments ?? 4;
  const now = deps.now ?? Date.now;
  const keyIsRaw = keyUntouchedByTransform(flow);
  const counts = { scanned: 0, sent: 0, filtered: 0, quarantined: 0, failed: 0 };

  const capturePage = async (items: readonly Record<string, AttributeValue>[], segment: number, page: number) => {
    const at = now();
    const envelopes: ChangeEnvelope[] = [];
    const quarantined: QuarantineItem[] = [];
    const audits: AuditEntry[] = [];
    items.forEach((raw, index) => {
      const position = `${tableName} scan segment ${segment}/${total} page ${page} item ${index}`;
      const bad = (reason: string, record: Record<string, unknown>, key = '') => {
        const id = eventId(flow.id, source.id, 'snapshot', position, at);
        quarantined.push({
          flow: flow.id,
          id,
          source: source.id,
          at,
          reason,
          errors: [reason],
          record: maskForQuarantine(flow, record),
          envelope: { v: ENVELOPE_VERSION, id, flow: flow.id, source: source.id, key, op: 'upsert', ts: at, seq: `snapshot:${at}`, lineage: [{ step: 'capture', at, outcome: 'quarantined' }] },
          position,
        });
        audits.push({ flow: flow.id, key, step: 'capture', at, source: source.id, eventId: id, outcome: 'quarantined', reason });
      };
      let item: Record<string, unknown>;
      try {
        item = unmarshallImage(raw as Record<string, unknown>);
      } catch (err) {
        bad(`item cannot be unmarshalled: ${(err as Error).message}`, {});
        return;
      }
      const { [ORIGIN_MARKER_ATTRIBUTE]: _marker, ...full } = item;
      if (source.filter && !matchesPattern(source.filter, full)) {
        counts.filtered++;
        return;
      }
      const env = snapshotEnvelope(flow, source.id, item, at);
      const key = keyIsRaw ? (keyOf(env.data ?? {}, flow.key) ?? '') : '';
      if (keyIsRaw && key === '') return bad(`missing key field(s) ${flow.key.join(', ')}`, env.data ?? {});
      if (Buffer.byteLength(JSON.stringify(env), 'utf8') > MAX_RECORD_BYTES) return bad(`record is larger than ${MAX_RECORD_BYTES} bytes, the largest record syncline carries`, env.data ?? {}, key);
      envelopes.push(env);
      audits.push({ flow: flow.id, key, step: 'capture', at, source: source.id, eventId: env.id, outcome: 'captured', detail: { op: 'upsert', backfill: true } });
    });
    if (envelopes.length > 0) {
      // Duplicate ids (identical items) are one snapshot: merges would absorb the repeat anyway.
      const unique = [...new Map(envelopes.map((e) => [e.id, e])).values()];
      const { failed } = await deps.publisher.send(deps.transformQueueUrl, unique.map((e) => ({ id: e.id, body: JSON.stringify(e) })));
      counts.failed += failed.length;
      counts.sent += unique.length - failed.length;
    }
    if (quarantined.length > 0) await deps.quarantine.put(quarantined);
    counts.quarantined += quarantined.length;
    const entries = auditable(flow, audits);
    if (entries.length > 0) await deps.audit.write(entries);
  };

  await Promise.all(
    Array.from({ length: total }, async (_, segment) => {
      let start: Record<string, AttributeValue> | undefined;
      let page = 0;
      do {
        const out = await deps.dynamodb.send(new ScanCommand({ TableName: tableName, Segment: segment, TotalSegments: total, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
        const items = out.Items ?? [];
        counts.scanned += items.length;
        await capturePage(items, segment, page++);
        start = out.LastEvaluatedKey;
      } while (start);
    }),
  );
  return { flow: flow.id, source: source.id, table: tableName, segments: total, ...counts };
}
