import type { PayloadStore } from '../ports';
import { requireEnv } from './env';
import { onDemandPayloadStore } from './on-demand';

/** The claim-check store of large queue messages: bucket PAYLOAD_BUCKET (SyncStore's payload bucket). */
export function payloadStore(): PayloadStore {
  return onDemandPayloadStore(requireEnv('PAYLOAD_BUCKET'));
}
