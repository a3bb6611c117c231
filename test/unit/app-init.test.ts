import { describe, expect, it } from 'vitest';
import { initMapper, type InitDeps } from '../../src/app/init.js';
import { UsageError } from '../../src/core/errors.js';
import { strict } from '../helpers/strict.js';

/** Deps that record, in order, what the use case did; anything not given throws. */
function deps(given: Partial<InitDeps>): InitDeps & { log: string[] } {
  const log: string[] = [];
  const base: Partial<InitDeps> = {
    remote: false,
    checkOutputFormat: () => void log.push('format'),
    announceTarget: () => void log.push('target'),
    // As the file looked (mapperFile): made by this open when it was not there.
    openAndClose: async (path) => {
      log.push(`open+close ${path}`);
      return given.mapperFile?.().exists === false;
    },
    note: (line) => void log.push(`note ${line}`),
  };
  return Object.assign(strict<InitDeps>('deps', { ...base, ...given }), { log });
}

describe('init (use case)', () => {
  it('a new file: format checked, target said, the mapper made and closed, "created"', async () => {
    const d = deps({ mapperFile: () => ({ path: '/m.db', exists: false }) });
    expect(await initMapper(d)).toEqual({ path: '/m.db', created: true });
    expect(d.log).toEqual(['format', 'target', 'open+close /m.db', 'note created an empty mapper at /m.db']);
  });

  it('an existing mapper is opened (checked) and left as it is: not "created"', async () => {
    const d = deps({ mapperFile: () => ({ path: '/m.db', exists: true }) });
    expect(await initMapper(d)).toEqual({ path: '/m.db', created: false });
    expect(d.log.at(-1)).toBe('note /m.db is already a sparctl mapper; nothing was changed');
  });

  it('a file another init made between the look and the open: not "created" (the open made nothing)', async () => {
    const d = deps({ mapperFile: () => ({ path: '/m.db', exists: false }), openAndClose: async () => false });
    expect(await initMapper(d)).toEqual({ path: '/m.db', created: false });
    expect(d.log.at(-1)).toBe('note /m.db is already a sparctl mapper; nothing was changed');
  });

  it('a remote target is refused before anything is checked, said or opened', async () => {
    const d = deps({ remote: true, targetSource: 'flag --url' });
    await expect(initMapper(d)).rejects.toMatchObject({
      code: 'init.remote',
      message: 'init creates a local mapper, but the target is remote (flag --url)',
    });
    expect(d.log).toEqual([]);
  });

  it('a refused output format or a file that is not a mapper stop it before it says anything of its own', async () => {
    const refused = deps({
      checkOutputFormat: () => {
        throw new UsageError('usage.output_format', 'no CSV');
      },
    });
    await expect(initMapper(refused)).rejects.toMatchObject({ code: 'usage.output_format' });
    expect(refused.log).toEqual([]);
    const foreign = deps({
      mapperFile: () => ({ path: '/x.txt', exists: true }),
      openAndClose: async () => {
        throw new UsageError('local.not_a_mapper', 'not a mapper');
      },
    });
    await expect(initMapper(foreign)).rejects.toMatchObject({ code: 'local.not_a_mapper' });
    expect(foreign.log).toEqual(['format', 'target']);
  });
});
