import { safeErrorText } from '../error-text';
/** DynamoDB Streams records to change envelopes, pure: the caller supplies the unmarshalling of images. */
import type { FlowConfig, SourceConfig } from '../../config/schema';
import { contentHash, ENVELOPE_VERSION, eventId, type ChangeEnvelope, type OriginMarker } from '../envelope';
import { matchesPattern } from '../event-pattern';

export type DynamoDbStreamSource = Extract<SourceConfig, { type: 'dynamodb-stream' }>;

/** Attribute of items written by syncline's DynamoDB target: `{flow, target, version, hash, item, ts, seq?, id?}`. */
export const ORIGIN_MARKER_ATTRIBUTE = '_syncline';

/** The shape of a stream record that the mapping reads (structurally what `aws-lambda`'s DynamoDBRecord holds). */
export interface StreamRecord {
  readonly eventID?: string;
  readonly eventName?: 'INSERT' | 'MODIFY' | 'REMOVE' | string;
  readonly userIdentity?: { readonly type?: string; readonly principalId?: string } | null;
  readonly dynamodb?: {
    readonly ApproximateCreationDateTime?: number;
    readonly SequenceNumber?: string;
    readonly Keys?: Record<string, unknown>;
    readonly NewImage?: Record<string, unknown>;
    readonly OldImage?: Record<string, unknown>;
  };
}

/** What one stream record becomes. */
export type StreamOutcome =
  | { readonly kind: 'envelope'; readonly envelope: ChangeEnvelope; readonly ttlExpiry: boolean }
  | { readonly kind: 'skipped'; readonly seq: string; readonly reason: 'filtered' | 'ttl delete ignored' }
  | {
      readonly kind: 'invalid';
      readonly seq: string;
      readonly id: string;
      readonly op: 'upsert' | 'delete';
      readonly reason: string;
      /** The image as far as it could be read (unmasked: the caller masks before storing). */
      readonly record: Record<string, unknown>;
    };

export interface StreamMappingOptions {
  readonly flow: FlowConfig;
  readonly source: DynamoDbStreamSource;
  /** Capture time (ms), for the lineage and as ts when the record has none. */
  readonly now: number;
  /** Turns a DynamoDB-JSON image into a plain JSON record; throws on values JSON cannot hold exactly. */
  readonly unmarshall: (image: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * Maps one stream record: INSERT/MODIFY are upserts of NewImage, REMOVE (and a TTL expiry, unless the source
 * ignores those) a delete keyed by OldImage. The source `filter` is applied to the full image; `attributes`
 * include/exclude to `data` and `before`. An item syncline itself wrote carries the origin marker, which
 * becomes the envelope's `origin` and `ts` and is stripped from the data.
 */
export function mapStreamRecord(record: StreamRecord, options: StreamMappingOptions): StreamOutcome {
  const { flow, source, now, unmarshall: unmarshallImage } = options;
  const ddb = record.dynamodb ?? {};
  const seq = typeof ddb.SequenceNumber === 'string' && ddb.SequenceNumber !== '' ? ddb.SequenceNumber : '';
  const id = typeof record.eventID === 'string' && record.eventID !== '' ? record.eventID : eventId(flow.id, source.id, seq);
  const op = record.eventName === 'REMOVE' ? 'delete' : 'upsert';
  const invalid = (reason: string, image: Record<string, unknown> = {}): StreamOutcome => ({ kind: 'invalid', seq, id, op, reason, record: image });
  if (seq === '') return invalid('stream record has no SequenceNumber');
  if (record.eventName !== 'INSERT' && record.eventName !== 'MODIFY' && record.eventName !== 'REMOVE') {
    return invalid(`unknown eventName ${JSON.stringify(record.eventName)}`);
  }
  const ttlExpiry = op === 'delete' && isTtlExpiry(record);
  if (ttlExpiry && source.ignoreTtlDeletes) return { kind: 'skipped', seq, reason: 'ttl delete ignored' };

  let newImage: Record<string, unknown> | undefined;
  let oldImage: Record<string, unknown> | undefined;
  try {
    newImage = ddb.NewImage ? unmarshallImage(ddb.NewImage) : undefined;
    oldImage = ddb.OldImage ? unmarshallImage(ddb.OldImage) : undefined;
  } catch (err) {
    return invalid(`image cannot be unmarshalled: ${safeErrorText(err)}`);
  }
  let keys: Record<string, unknown> = {};
  try {
    keys = ddb.Keys ? unmarshallImage(ddb.Keys) : {};
  } catch {
    // Keys only fill gaps below; the images are what counts.
  }
  // A marker whose content no longer matches the item: someone edited the item after syncline wrote it (the marker
  // stays on the item), so this is a real outside change, clocked by the stream, not an echo.
  const marker = ownWrite(newImage);
  const image = op === 'upsert' ? newImage : (oldImage ?? (Object.keys(keys).length > 0 ? keys : undefined));
  if (!image) {
    return invalid(op === 'upsert' ? 'INSERT/MODIFY record has no NewImage: the stream must use NEW_AND_OLD_IMAGES or NEW_IMAGE' : 'REMOVE record has no OldImage or Keys');
  }
  const full = { ...keys, ...strip(image) };
  if (source.filter && !matchesPattern(source.filter, full)) return { kind: 'skipped', seq, reason: 'filtered' };

  const data = selectAttributes(full, source.attributes);
  const before = op === 'upsert' && oldImage ? selectAttributes(strip(oldImage), source.attributes) : undefined;
  const ts = marker && op === 'upsert' ? marker.ts : approximateTime(ddb.ApproximateCreationDateTime) ?? now;
  const origin: OriginMarker | undefined = marker && op === 'upsert' ? marker : undefined;
  // A relayed change (another flow's delivery, unchanged) keeps the clock of the change it carries: with the new stream
  // seq and id, at an equal ts it would beat the original edit here while the other flow orders the two the other way.
  const relayed = origin?.seq !== undefined && origin.id !== undefined ? { seq: origin.seq, id: origin.id } : { seq, id };
  // The stream's order of this table's own edits. A relayed change has none: it stands for the change it carries, and
  // must not hide an edit made in this table just before syncline's write landed (that edit wins by its own ts).
  const pos = relayed.seq === seq && /^\d+$/.test(seq) ? `ddb:${seq.replace(/^0+(?=\d)/, '').padStart(40, '0')}` : undefined;
  return {
    kind: 'envelope',
    ttlExpiry,
    envelope: {
      v: ENVELOPE_VERSION,
      id: relayed.id,
      flow: flow.id,
      source: source.id,
      key: '',
      op,
      data,
      ...(before ? { before } : {}),
      ts,
      seq: relayed.seq,
      ...(pos !== undefined ? { pos } : {}),
      lineage: [{ step: 'capture', at: now, outcome: 'captured' }],
      ...(origin ? { origin } : {}),
    },
  };
}

/**
 * The clock of a snapshot read at `readAt` (ms, taken before the read): 1 ms before the whole second it falls in.
 * A stream record's time is rounded down to the second (StreamRecord.ApproximateCreationDateTime,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html), so any change made
 * after the read starts, even within that second, is newer than the snapshot and wins over it.
 */
export function snapshotClock(readAt: number): number {
  return Math.floor(readAt / 1000) * 1000 - 1;
}

/**
 * A full-table re-capture of one item (backfill), read at `readAt` (ms, taken before the read): an upsert snapshot
 * with the item's marker clock when it has one, else `snapshotClock(readAt)`. Its id depends on the item's content,
 * so re-running a backfill over unchanged data is a no-op merge.
 */
export function snapshotEnvelope(flow: FlowConfig, sourceId: string, item: Record<string, unknown>, readAt: number): ChangeEnvelope {
  const source = flow.sources.find((s): s is DynamoDbStreamSource => s.id === sourceId && s.type === 'dynamodb-stream');
  const marker = ownWrite(item);
  const data = selectAttributes(strip(item), source?.attributes);
  const content = JSON.stringify(data, Object.keys(data).sort());
  const ts = marker?.ts ?? snapshotClock(readAt);
  return {
    v: ENVELOPE_VERSION,
    id: eventId(flow.id, sourceId, 'snapshot', content, ts),
    flow: flow.id,
    source: sourceId,
    key: '',
    op: 'upsert',
    data,
    ts,
    seq: `snapshot:${readAt}`,
    lineage: [{ step: 'capture', at: readAt, outcome: 'captured' }],
    ...(marker ? { origin: marker } : {}),
  };
}

/** TTL deletions are made by the DynamoDB service principal. */
export function isTtlExpiry(record: StreamRecord): boolean {
  return record.userIdentity?.type === 'Service' && record.userIdentity.principalId === 'dynamodb.amazonaws.com';
}

/** `ApproximateCreationDateTime` in ms: Lambda gives epoch seconds (maybe fractional); values already in ms are kept. */
export function approximateTime(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return undefined;
  return Math.round(n < 1e11 ? n * 1000 : n);
}

/** Applies `attributes` include/exclude to a record's top-level attributes. */
export function selectAttributes(
  record: Record<string, unknown>,
  attributes: DynamoDbStreamSource['attributes'] | undefined,
): Record<string, unknown> {
  if (!attributes) return record;
  const include = attributes.include && attributes.include.length > 0 ? new Set(attributes.include) : undefined;
  const exclude = new Set(attributes.exclude ?? []);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if ((!include || include.has(k)) && !exclude.has(k)) out[k] = v;
  return out;
}


function strip(image: Record<string, unknown>): Record<string, unknown> {
  if (!(ORIGIN_MARKER_ATTRIBUTE in image)) return image;
  const { [ORIGIN_MARKER_ATTRIBUTE]: _marker, ...rest } = image;
  return rest;
}

/** The marker of an item that still holds exactly what syncline wrote; undefined for an item edited since (or never written by syncline). */
export function ownWrite(image: Record<string, unknown> | undefined): OriginMarker | undefined {
  const marker = readMarker(image);
  if (!marker || !image) return undefined;
  return contentHash(strip(image)) === (marker.item ?? marker.hash) ? marker : undefined;
}

/** The origin marker of an item, when it has a well-formed one. */
export function readMarker(image: Record<string, unknown> | undefined): OriginMarker | undefined {
  const m = image?.[ORIGIN_MARKER_ATTRIBUTE];
  if (!m || typeof m !== 'object' || Array.isArray(m)) return undefined;
  const { flow, version, hash, ts, target, item, seq, id } = m as Record<string, unknown>;
  if (typeof flow !== 'string' || typeof version !== 'number' || typeof hash !== 'string' || typeof ts !== 'number') return undefined;
  // seq and id count only together: a clock with one of them from the marker and the other from the stream orders nothing.
  const clock = typeof seq === 'string' && seq !== '' && typeof id === 'string' && id !== '' ? { seq, id } : {};
  return { flow, target: typeof target === 'string' ? target : '', version, hash, ts, ...(typeof item === 'string' ? { item } : {}), ...clock };
}
