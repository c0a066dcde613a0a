import { createHash } from 'node:crypto';
import type { FlowConfig } from '../../config/schema';
import { canonicalJson } from '../envelope';

/**
 * A short fingerprint of what makes a flow's transformed record: its transform, its key (the record's key is made
 * from it) and its conflict strategy (a per-field merge changes which fields the transform computes). Equal configs
 * give equal prints, whatever the order of their keys.
 */
export function transformFingerprint(flow: Pick<FlowConfig, 'transform' | 'key' | 'conflict'>): string {
  const made = { transform: flow.transform, key: flow.key, strategy: flow.conflict.strategy };
  return createHash('sha256').update(canonicalJson(made)).digest('base64url').slice(0, 22);
}
