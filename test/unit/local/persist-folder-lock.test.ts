import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockPersistFolder, PersistFolderInUseError } from '../../../lib/local/persistence';

describe('the --persist folder lock', () => {
  const dirs: string[] = [];
  const folder = () => {
    const d = mkdtempSync(join(tmpdir(), 'syncline-lock-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a folder a live runtime holds, naming its pid', () => {
    // Prepare: the folder held by a process that is alive (this test's parent).
    const dir = folder();
    writeFileSync(join(dir, 'syncline.pid'), String(process.ppid));
    // Act + Assess
    expect(() => lockPersistFolder(dir)).toThrow(PersistFolderInUseError);
    expect(() => lockPersistFolder(dir)).toThrow(new RegExp(`in use by another syncline runtime \\(pid ${process.ppid}\\)`));
  });

  it('refuses a path that is a file, saying so, and makes a missing folder', () => {
    // Prepare
    const file = join(folder(), 'notadir');
    writeFileSync(file, 'x');
    const missing = join(folder(), 'a', 'b');

    // Act + Assess
    expect(() => lockPersistFolder(file)).toThrow(`--persist ${file} is a file, not a folder`);
    lockPersistFolder(missing)();
    expect(existsSync(missing)).toBe(true);
  });

  it('takes over a folder left by a killed runtime and frees it on release', () => {
    // Prepare: the pid of a process that has ended.
    const dir = folder();
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    writeFileSync(join(dir, 'syncline.pid'), String(dead));
    // Act
    const release = lockPersistFolder(dir);
    // Assess
    expect(readFileSync(join(dir, 'syncline.pid'), 'utf8')).toBe(String(process.pid));
    release();
    expect(existsSync(join(dir, 'syncline.pid'))).toBe(false);
  });
});
