import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { FlowConfig } from '../../config/schema';
import type { PulledKey, PullRunState, SeenList } from '../../ports';
import type { PullDeps } from './pull-types';
import { pullKeyFields, type ScheduleSource } from './records';

/**
 * How a full-mode pull names its keys in its own state (the per-key items and the seen lists). `raw`: the key as
 * read. `sealed`: when the flow masks its key, the state holds an HMAC of it and the key fields encrypted, so the
 * masked value is never at rest in the state table; the key fields are opened only to send an inferred delete.
 */
export interface PullKeys {
  /** `raw`, or `sealed:` and a fingerprint of the hash key: state of another form (or another hash key) is dropped. */
  readonly form: string;
  readonly sealed: boolean;
  /** The name of a raw key in the pull's state. */
  readonly id: (key: string) => string;
  /** What is stored of a record's content hash (keyed when sealed: a record made of its key alone would show it). */
  readonly hash: (contentHash: string) => string;
  /** A key's entry as stored. */
  readonly entry: (id: string, contentHash: string, keyData: Record<string, unknown>) => PulledKey & { readonly key: string };
  /** The key fields of a stored entry. */
  readonly keyData: (stored: PulledKey) => Record<string, unknown>;
}

/**
 * Whether a full-mode pull keeps its keys sealed: the flow's transform masks a value of its key fields, so the pull's
 * state must not hold them as read. Its function then reads the hash key.
 */
export function pullKeysSealed(flow: FlowConfig, source: ScheduleSource): boolean {
  if (source.mode !== 'full') return false;
  if (flow.transform.detectPii === 'mask') return true;
  const masked = new Set(Object.keys(flow.transform.mask ?? {}));
  for (const [from, to] of Object.entries(flow.transform.rename ?? {})) {
    for (const m of [...masked]) if (overlaps(m, to)) masked.add(from + m.slice(to.length));
  }
  const fields = [...pullKeyFields(flow, source), ...flow.key];
  return fields.some((f) => [...masked].some((m) => overlaps(m, f)));
}

const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

const RAW: PullKeys = {
  form: 'raw',
  sealed: false,
  id: (key) => key,
  hash: (h) => h,
  entry: (key, hash, keyData) => ({ key, hash, keyData }),
  keyData: (stored) => stored.keyData ?? {},
};

/** The PullKeys of a source; sealing needs the deployment's hash key (the one `hash` masks with). */
export async function pullKeys(flow: FlowConfig, source: ScheduleSource, hashKey: (() => Promise<string>) | undefined): Promise<PullKeys> {
  if (!pullKeysSealed(flow, source)) return RAW;
  if (!hashKey) throw new Error(`flow "${flow.id}" masks its key: the pull of source "${source.id}" needs the hash key`);
  const secret = await hashKey();
  const mac = (text: string) => createHmac('sha256', secret).update(text).digest('hex');
  // A key of its own for encryption, derived from the hash key so no second secret is needed.
  const aesKey = createHmac('sha256', secret).update('syncline pull key data').digest();
  return {
    // Not the key: 16 hex digits of an HMAC of a constant, which tell keys apart and reveal nothing of them.
    form: `sealed:${mac('syncline pull key form').slice(0, 16)}`,
    sealed: true,
    id: (key) => `hmac:${mac(`key\u0000${key}`)}`,
    hash: (h) => mac(`content\u0000${h}`),
    entry: (key, hash, keyData) => ({ key, hash, sealed: seal(aesKey, JSON.stringify(keyData)) }),
    keyData: (stored) => (stored.sealed === undefined ? {} : (JSON.parse(open(aesKey, stored.sealed)) as Record<string, unknown>)),
  };
}

/** AES-256-GCM: base64url of iv (12 bytes), tag (16 bytes), ciphertext. */
function seal(key: Buffer, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function open(key: Buffer, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
}

/**
 * State written under another key form (the flow's masks changed, the hash key was replaced, or the state is from
 * before sealing existed) cannot be matched or opened, so it is dropped: its per-key items and key lists. No masked
 * key stays at rest as read, and no delete is inferred by comparing lists of two forms. The next complete run makes
 * the known set anew; until then no delete is inferred.
 */
export async function settleKeyForm(deps: PullDeps, keys: PullKeys, previous: PullRunState | undefined): Promise<PullRunState | undefined> {
  if (!previous || (previous.keys ?? 'raw') === keys.form) return previous;
  const { flow, source, state, logger } = deps;
  const lists: SeenList[] = [...previous.known, ...(previous.active ? [{ runId: previous.runId, chunks: previous.seenChunks }] : [])];
  for (const list of lists) {
    for await (const chunk of state.readSeen(flow.id, source.id, list)) await state.deleteKeys(flow.id, source.id, chunk);
    await state.dropSeen(flow.id, source.id, list);
  }
  const settled: PullRunState = { ...previous, active: false, continuation: undefined, known: [], keys: keys.form };
  await state.putRun(settled);
  logger.info('pull state re-keyed: deletes are inferred again after the next complete run', { flow: flow.id, source: source.id, from: previous.keys ?? 'raw', to: keys.form });
  return settled;
}
