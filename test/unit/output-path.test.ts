import { existsSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutputPath } from '../../src/adapters/files/fs-errors.js';
import { UsageError } from '../../src/core/errors.js';
import { thrownBy } from '../helpers/errors.js';
import { tempDir } from '../helpers/tmp.js';

describe('checkOutputPath: an output is proven writable before anything is sent', () => {
  it('a new file: created once and removed, nothing left; an existing file is left as it is', () => {
    const dir = tempDir();
    checkOutputPath(join(dir, 'r.csv'));
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'kept.csv'), 'x');
    checkOutputPath(join(dir, 'kept.csv'), false);
    expect(readdirSync(dir)).toEqual(['kept.csv']);
  });

  it.runIf(process.platform === 'linux')('a path the system will not create (under /proc) is refused, even for root', () => {
    expect(thrownBy(UsageError, () => checkOutputPath('/proc/sparctl-probe.csv')).code).toBe('output.unwritable');
  });

  it.runIf(process.platform === 'linux')("a dangling symlink is followed: its target's place is what is checked", () => {
    const dir = tempDir();
    symlinkSync('/proc/sparctl-probe.csv', join(dir, 'bad.csv'));
    expect(thrownBy(UsageError, () => checkOutputPath(join(dir, 'bad.csv'))).message).toMatch(/^\/proc/);
    symlinkSync(join(dir, 'target.csv'), join(dir, 'good.csv'));
    checkOutputPath(join(dir, 'good.csv'));
    expect(existsSync(join(dir, 'target.csv'))).toBe(false);
  });
});
