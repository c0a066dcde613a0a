import { createHash } from 'node:crypto';
import type { TransformConfig } from '../../config/schema';
import { canonicalJson } from '../envelope';

/** A short fingerprint of a transform config: equal configs give equal prints, whatever the order of their keys. */
export function transformFingerprint(transform: TransformConfig): string {
  return createHash('sha256').update(canonicalJson(transform)).digest('base64url').slice(0, 22);
}
