import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOdkState, writeOdkState } from '../../src/adapters/odk/odk-state.js';
import { tempDir } from '../helpers/tmp.js';

describe('writeOdkState', () => {
  it('a write that fails leaves no temporary copy behind (it holds beneficiary IDs, and a full disk stays full), nor a changed state', () => {
    const dir = tempDir();
    const path = join(dir, 'state.json');
    writeOdkState(path, { watermark: '2024-05-01T10:00:00.000Z', claims: {} });
    // A path that cannot take the new state (a folder where it was): the copy is written, the rename fails.
    const blocked = join(dir, 'blocked');
    mkdirSync(join(blocked, 'state.json'), { recursive: true });
    writeFileSync(join(blocked, 'state.json', 'x'), '');
    expect(() => writeOdkState(join(blocked, 'state.json'), { claims: {} })).toThrow(
      expect.objectContaining({ code: 'disk.write_failed', message: expect.stringContaining('cannot write the import state') }),
    );
    expect(readdirSync(blocked)).toEqual(['state.json']);
    expect(readOdkState(path)).toEqual({ watermark: '2024-05-01T10:00:00.000Z', claims: {} });
  });
});
