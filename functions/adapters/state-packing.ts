import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { packDoc, unpackDoc, type MergeDoc, type PackedDoc } from '../core/merge';
import type { AuditEntry } from '../ports';

/* How a state item stores its doc and its key's recent decisions: packed, as JSON, deflated (the `z` attribute). */

/** The stored form of a doc and the recent decisions: packed, as JSON, deflated. */
export function packState(doc: MergeDoc, recent: readonly AuditEntry[] = []): Uint8Array {
  const l = recent.map(({ flow: _f, key: _k, heldBy: _h, ...rest }) => rest);
  return deflateRawSync(Buffer.from(JSON.stringify({ ...packDoc(doc), ...(l.length > 0 ? { l } : {}) }), 'utf8'));
}

export function unpackState(flow: string, key: string, z: Uint8Array): { doc: MergeDoc; recent: AuditEntry[] } {
  const packed = JSON.parse(inflateRawSync(z).toString('utf8')) as PackedDoc & { l?: Omit<AuditEntry, 'flow' | 'key'>[] };
  return { doc: unpackDoc(packed), recent: (packed.l ?? []).map((e) => ({ flow, key, ...e })) };
}
