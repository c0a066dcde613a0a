import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { FlowConfig } from '../../config/schema';
import type { PulledKey, PullRunState, SeenList } from '../../ports';
import type { PullDeps } from './pull-types';
import { pathsOverlap } from '../transform/raw-record';
import { pullKeyFields, type ScheduleSource } from './records';

/**
 * How a full-mode pull names its keys in its own state (the per-key items and the seen lists). `raw`: the key as
 * read. `sealed`: when the flow masks its key, the state holds an HMAC of it and the key fields encrypted, so the
 * masked value is never at rest in the state table; the key fields are opened only to send an inferred delete.
 */
export interface PullKeys {
  /** `raw`, or `sealed:` and a fingerprint of the hash key: state of another form (or another hash key) is dropped. */
  readonly form: string;
  /** The name of a raw key in the pull's state. */
  readonly id: (key: string) => string;
  /** Whether an id found in the pull's state is of this form (a sealed state may hold what a raw writer left). */
  readonly ownsId: (id: string) => boolean;
  /** What is stored of a record's content hash (keyed when sealed: a record made of its key alone would show it). */
  readonly hash: (contentHash: string) => string;
  /** A key's entry as stored. */
  readonly entry: (id: string, contentHash: string, keyData: Record<string, unknown>) => PulledKey & { readonly key: string };
  /** The key fields of a stored entry; undefined for an entry of another form. */
  readonly keyData: (stored: PulledKey) => Record<string, unknown> | undefined;
  /** A continuation as the run state keeps it (the API's cursor may be the last key read), and back. */
  readonly hide: (continuation: string | undefined) => string | undefined;
  readonly show: (continuation: string | undefined) => string | undefined;
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
    for (const m of [...masked]) if (pathsOverlap(m, to)) masked.add(from + m.slice(to.length));
  }
  const fields = [...pullKeyFields(flow, source), ...flow.key];
  return fields.some((f) => [...masked].some((m) => pathsOverlap(m, f)));
}

const RAW: PullKeys = {
  form: 'raw',
  id: (key) => key,
  ownsId: () => true,
  hash: (h) => h,
  entry: (key, hash, keyData) => ({ key, hash, keyData }),
  keyData: (stored) => stored.keyData ?? {},
  hide: (c) => c,
  show: (c) => c,
};

const SEALED_ID = /^hmac:[0-9a-f]{64}$/;

/** Whether a key name in a pull's state is sealed (an HMAC), not a key as read. */
export const isSealedId = (id: string): boolean => SEALED_ID.test(id);
const SEALED_TEXT = 'sealed:';

/** The PullKeys of a source; sealing needs the deployment's hash key (the one `hash` masks with). */
export async function pullKeys(flow: FlowConfig, source: ScheduleSource, hashKey: (() => Promise<string>) | undefined): Promise<PullKeys> {
  if (!pullKeysSealed(flow, source)) return RAW;
  if (!hashKey) throw new Error(`flow "${flow.id}" masks its key: the pull of source "${source.id}" needs the hash key`);
  const secret = await hashKey();
  // Keys of their own (HKDF), so none equals what a `hash` mask shows: HMAC(hash key, value).
  const derive = (use: string) => Buffer.from(hkdfSync('sha256', secret, 'syncline pull state', `syncline/pull/${use}/v1`, 32));
  const [idKey, contentKey, aesKey, formKey] = ['id', 'content', 'aes', 'form'].map(derive) as [Buffer, Buffer, Buffer, Buffer];
  const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest('hex');
  return {
    // 16 hex digits that tell hash keys apart and reveal nothing of them.
    form: `sealed:${formKey.toString('hex').slice(0, 16)}`,
    id: (key) => `hmac:${mac(idKey, key)}`,
    ownsId: isSealedId,
    hash: (h) => mac(contentKey, h),
    entry: (key, hash, keyData) => ({ key, hash, sealed: seal(aesKey, JSON.stringify(keyData)) }),
    keyData: (stored) => (stored.sealed === undefined ? undefined : (JSON.parse(open(aesKey, stored.sealed)) as Record<string, unknown>)),
    hide: (c) => (c === undefined ? c : SEALED_TEXT + seal(aesKey, c)),
    // A continuation without the prefix was stored by a release that did not seal it: it is used as it is.
    show: (c) => (c?.startsWith(SEALED_TEXT) ? open(aesKey, c.slice(SEALED_TEXT.length)) : c),
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
 * before sealing existed) cannot be matched or opened, so it is dropped: the key lists of the known set and of an
 * active run, with the per-key items they name. No masked key stays at rest as read, and no delete is inferred by
 * comparing lists of two forms; the next complete run makes the known set anew. Progress is kept a chunk at a time
 * (`settling`), lists begun are finished whatever the form is by then, and an invocation short of time leaves the
 * rest to the next one (`unfinished`; such invocations count as the run's, so they chain as a long run does).
 */
export async function settleKeyForm(deps: PullDeps, keys: PullKeys, previous: PullRunState | undefined): Promise<{ run?: PullRunState; unfinished?: true }> {
  if (!previous || ((previous.keys ?? 'raw') === keys.form && !previous.settling?.length)) return { run: previous };
  const { flow, source, state, logger } = deps;
  const active: SeenList[] = previous.active ? [{ runId: previous.runId, chunks: previous.seenChunks }] : [];
  const settling = previous.settling ?? [...previous.known, ...active];
  // The finished run's counts are in `last`; these count the settle's own invocations.
  const counts = { pages: 0, records: 0, changed: 0, quarantined: 0, invocations: previous.settling ? previous.invocations + 1 : 1 };
  let run: PullRunState = { ...previous, ...counts, active: false, continuation: undefined, known: [], settling };
  for (let [list, ...rest] = settling; list; [list, ...rest] = rest) {
    for (let from = list.from ?? 0; from < list.chunks; from++) {
      if (deps.remainingMs() < (deps.reserveMs ?? 60_000)) {
        await state.putRun(run);
        return { run, unfinished: true };
      }
      const one: SeenList = { runId: list.runId, chunks: from + 1, from };
      for await (const chunk of state.readSeen(flow.id, source.id, one)) await state.deleteKeys(flow.id, source.id, chunk);
      await state.dropSeen(flow.id, source.id, one);
      run = { ...run, settling: from + 1 < list.chunks ? [{ ...list, from: from + 1 }, ...rest] : rest };
      await state.putRun(run);
    }
  }
  const settled: PullRunState = { ...run, settling: undefined, keys: keys.form };
  await state.putRun(settled);
  logger.info('pull state re-keyed: deletes are inferred again after the next complete run', { flow: flow.id, source: source.id, from: previous.keys ?? 'raw', to: keys.form });
  return { run: settled };
}
