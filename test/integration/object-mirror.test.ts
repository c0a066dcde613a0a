import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { ObjectMirror } from '../../lib/local/object-mirror';
import { ensureBucket } from '../../lib/local/resources';
import { integrationClients, uniqueSuffix } from '../support/local-servers';

describe('the object copies of --persist (fauxqs S3)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-objects-'));
  const mirrored = integrationClients();
  // Another client stands for the restarted, empty server: what it removes, the mirror does not see.
  const plain = integrationClients();
  afterAll(() => {
    mirrored.destroy();
    plain.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes back, after a restart, the objects written and not deleted, with their content type', async () => {
    // Prepare
    const bucket = `it-mirror-${uniqueSuffix()}`;
    await ensureBucket(plain.s3, bucket);
    const mirror = new ObjectMirror(dir);
    mirror.attach(mirrored.s3);

    // Act: three objects written, one deleted; then the server "loses" them all.
    await mirrored.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'claims/a.json', Body: '{"a":"é✓"}', ContentType: 'application/json' }));
    await mirrored.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'out/b.jsonl', Body: Buffer.from('{"b":1}\n') }));
    await mirrored.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'claims/c.json', Body: '{"c":1}' }));
    await mirrored.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'claims/c.json' }));
    for (const key of ['claims/a.json', 'out/b.jsonl']) await plain.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    const restored = await new ObjectMirror(dir).restore(plain.s3, (b) => b === bucket);

    // Assess
    expect(restored.map((o) => o.key).sort()).toEqual(['claims/a.json', 'out/b.jsonl']);
    const keys = ((await plain.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key).sort();
    expect(keys).toEqual(['claims/a.json', 'out/b.jsonl']);
    const a = await plain.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'claims/a.json' }));
    expect(await a.Body!.transformToString('utf8')).toBe('{"a":"é✓"}');
    expect(a.ContentType).toBe('application/json');
    expect(mirror.has(bucket, 'claims/c.json')).toBe(false);
  });
});
