import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JDK_COMPILER_MISSING, startDynamoDbLocal } from '../../lib/local/servers';

describe('starting DynamoDB Local through its loopback launcher', () => {
  const saved = process.env.JDK_JAVA_OPTIONS;
  afterEach(() => {
    if (saved === undefined) delete process.env.JDK_JAVA_OPTIONS;
    else process.env.JDK_JAVA_OPTIONS = saved;
  });

  it('says which Java to install when the runtime cannot run the launcher (no jdk.compiler module)', async () => {
    // Prepare: a Java runtime reduced to java.base, as some JRE-only images are.
    process.env.JDK_JAVA_OPTIONS = '--limit-modules java.base';
    const cache = mkdtempSync(join(tmpdir(), 'syncline-launcher-'));
    try {
      // Act + Assess
      await expect(startDynamoDbLocal({ startTimeoutMs: 30_000, launcherCacheDir: cache })).rejects.toThrow(JDK_COMPILER_MISSING);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
