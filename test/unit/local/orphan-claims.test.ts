import { describe, expect, it } from 'vitest';
import { claimPointer } from '../../../functions/core/claim-check';
import { orphanClaims } from '../../../lib/local/persistence';
import { LOCAL_PAYLOAD_BUCKET } from '../../../lib/local/resources';

const claim = (n: number) => `claims/2026-12-08/${String(n).repeat(64)}.${'0123456789abcdef'}.json`;

describe('claim-check payloads left by a killed runtime', () => {
  it('are the restored claims no queued message points at; other objects and pointed claims stay', () => {
    // Prepare: claim 1 is queued; claim 2's send was cut off; an S3 target object and a source object are data.
    const restored = [
      { bucket: LOCAL_PAYLOAD_BUCKET, key: claim(1) },
      { bucket: LOCAL_PAYLOAD_BUCKET, key: claim(2) },
      { bucket: 'lake', key: claim(3) },
      { bucket: LOCAL_PAYLOAD_BUCKET, key: 'claims/notes.txt' },
    ];
    const queued = [claimPointer(claim(1)), '{"v":1,"id":"e1"}'];

    // Act / Assess
    expect(orphanClaims(restored, queued)).toEqual([{ bucket: LOCAL_PAYLOAD_BUCKET, key: claim(2) }]);
  });
});
