import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { untrustedBecause } from '../../src/adapters/files/trusted-file.js';
import { tempDir } from '../helpers/tmp.js';

describe('untrustedBecause: a file others could change, unless its mount is read-only', () => {
  it.skipIf(process.platform === 'win32')(
    'a group- or world-writable file, or one in a folder others may write, is refused on a writable mount and read on a read-only one (a ConfigMap volume)',
    () => {
      const dir = join(tempDir(), 'mounted');
      mkdirSync(dir);
      const file = join(dir, 'config.json');
      writeFileSync(file, '{}');
      chmodSync(file, 0o666);
      expect(untrustedBecause(file, statSync(file), () => false)?.why).toBe('can be changed by other users (mode 0666)');
      expect(untrustedBecause(file, statSync(file), (path) => path === file)).toBeUndefined();
      chmodSync(file, 0o644);
      chmodSync(dir, 0o777);
      expect(untrustedBecause(file, statSync(file), () => false)?.why).toMatch(
        /^is in a folder other users can write to \(.*, mode 0777\)/,
      );
      // The folder judged read-only (the file itself on it too: a mount covers both).
      expect(untrustedBecause(file, statSync(file), (path) => path === dir)).toBeUndefined();
      // Sticky, as a ConfigMap volume's root is (1777): no one may replace another's file there.
      chmodSync(dir, 0o1777);
      expect(untrustedBecause(file, statSync(file), () => false)).toBeUndefined();
      chmodSync(dir, 0o755);
    },
  );
});
