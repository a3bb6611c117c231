import { describe, expect, it } from 'vitest';
import {
  STARTER_CONFIG,
  configPaths,
  initConfig,
  listProfiles,
  showConfig,
  type ConfigDeps,
  type SettingsView,
} from '../../src/app/config.js';
import { UsageError } from '../../src/core/errors.js';
import { strict } from '../helpers/strict.js';

/** Deps that record, in order, what the use case did; anything not given throws. */
function deps(given: Partial<ConfigDeps>): ConfigDeps & { log: string[] } {
  const log: string[] = [];
  return Object.assign(
    strict<ConfigDeps>('deps', { configPath: '/c/config.json', note: (line) => void log.push(`note ${line}`), ...given }),
    { log },
  );
}

const VIEW: SettingsView = {
  target: { mode: 'local', location: '/x.db', source: 'flag --db' },
  targetWhere: 'local /x.db',
  targetLine: 'local /x.db (flag --db)',
  profile: 'staging',
  settings: { db: '/x.db' },
  sources: { db: 'flag --db' },
  unused: [],
};

describe('config (use cases)', () => {
  it("show: the settings as resolved, the config file; a note only when a profile's target settings were not used", async () => {
    expect(await showConfig(deps({ settingsView: async () => VIEW }))).toEqual({ ...VIEW, configFile: '/c/config.json' });
    const shown = await showConfig(deps({ settingsView: async () => ({ ...VIEW, unused: ['baseUrl', 'signingKeyFile'] }) }));
    expect(shown.unusedNote).toBe("profile staging's baseUrl, signingKeyFile not used: flag --db names the target");
  });

  it('profiles: none without a config file (never parsed); a profile is remote by its mode, else by having a baseUrl; the default marked', async () => {
    expect(await listProfiles(deps({ readConfigText: async () => undefined }))).toEqual({ configFile: '/c/config.json', rows: [] });
    const d = deps({
      readConfigText: async () => 'text',
      parseConfigFile: async (path, text) => {
        expect([path, text]).toEqual(['/c/config.json', 'text']);
        return { defaultProfile: 'b', profiles: { a: {}, b: { baseUrl: 'https://x' }, c: { mode: 'local', baseUrl: 'https://x' } } };
      },
    });
    expect((await listProfiles(d)).rows).toEqual([
      { name: 'a', mode: 'local', default: false },
      { name: 'b', mode: 'remote', default: true },
      { name: 'c', mode: 'local', default: false },
    ]);
  });

  it('path: the config file and the XDG data, state and cache folders', () => {
    expect(configPaths(deps({ dirs: { data: '/d', state: '/s', cache: '/k' } }))).toEqual({
      config: '/c/config.json',
      data: '/d',
      state: '/s',
      cache: '/k',
    });
  });

  it('init: the output format checked first, the starter written without replacing, said, and summarised', async () => {
    const writes: [string, string, boolean][] = [];
    const d = deps({ checkOutputFormat: () => void d.log.push('format'), writeConfigFile: async (...args) => void writes.push(args) });
    expect(await initConfig(d, { force: false })).toEqual({
      configFile: '/c/config.json',
      profiles: ['local', 'staging'],
      defaultProfile: 'local',
    });
    expect(writes).toEqual([['/c/config.json', `${JSON.stringify(STARTER_CONFIG, null, 2)}\n`, false]]);
    expect(JSON.parse(writes[0]![1])).toMatchObject({
      defaultProfile: 'local',
      profiles: { local: { mode: 'local' }, staging: { mode: 'remote' } },
    });
    expect(d.log).toEqual([
      'format',
      'note wrote /c/config.json (profiles: local [default], staging [edit its baseUrl and key before use])',
    ]);
  });

  it('init: an existing file is config.exists and nothing is said; --force replaces; other write errors pass through; a refused format writes nothing', async () => {
    const exists = deps({
      checkOutputFormat: () => undefined,
      writeConfigFile: async () => Promise.reject(Object.assign(new Error('EEXIST'), { code: 'EEXIST' })),
    });
    await expect(initConfig(exists, { force: false })).rejects.toMatchObject({
      code: 'config.exists',
      message: '/c/config.json already exists; nothing was changed',
    });
    expect(exists.log).toEqual([]);
    const replaced: boolean[] = [];
    await initConfig(
      deps({ checkOutputFormat: () => undefined, writeConfigFile: async (_p, _t, replace) => void replaced.push(replace) }),
      { force: true },
    );
    expect(replaced).toEqual([true]);
    const denied = Object.assign(new Error('EACCES'), { code: 'EACCES' });
    await expect(
      initConfig(deps({ checkOutputFormat: () => undefined, writeConfigFile: async () => Promise.reject(denied) }), { force: false }),
    ).rejects.toBe(denied);
    const refused = deps({
      checkOutputFormat: () => {
        throw new UsageError('usage.output_format', 'no CSV');
      },
    });
    await expect(initConfig(refused, { force: false })).rejects.toMatchObject({ code: 'usage.output_format' });
  });
});
