import { describe, expect, it } from 'vitest';
import { sparctlDirs } from '../../src/config/paths.js';
import { redactUrl, redactedSettings, resolveSettings, type SettingsInput } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';
import { thrownBy } from '../helpers/errors.js';

const base: SettingsInput = { configPath: '/cfg/config.json', configText: undefined, env: {}, flags: {}, defaultDb: '/data/mapper.db' };
const file = JSON.stringify({
  defaultProfile: 'field',
  profiles: {
    field: { mode: 'local', db: 'field.db', batchSize: 200 },
    staging: { mode: 'remote', baseUrl: 'https://user:pw@spar.example.org/api/mapper', signingKeyFile: '/keys/p.pem' },
  },
});

describe('resolveSettings', () => {
  it('defaults to the local mapper in the data dir with SPAR-sized batches', () => {
    const { settings, sources } = resolveSettings(base);
    expect(settings).toMatchObject({ profile: 'default', mode: 'local', db: '/data/mapper.db', protocol: 'spar-v2', batchSize: 500, concurrency: 4 });
    expect(sources).toEqual({});
  });

  it('applies flag > env > profile > default, and records where each value came from', () => {
    const { settings, sources } = resolveSettings({ ...base, configText: file, env: { SPARCTL_BATCH_SIZE: '50', SPARCTL_OUTPUT: 'csv' }, flags: { output: 'json' } });
    expect(settings).toMatchObject({ profile: 'field', mode: 'local', db: 'field.db', batchSize: 50, output: 'json' });
    expect(sources).toMatchObject({
      profile: 'defaultProfile (/cfg/config.json)',
      db: 'profile field (/cfg/config.json)',
      batchSize: 'env SPARCTL_BATCH_SIZE',
      output: 'flag --output',
    });
  });

  it('selects a remote profile by flag or SPARCTL_PROFILE, and --db turns any profile local', () => {
    expect(resolveSettings({ ...base, configText: file, profileFlag: 'staging' }).settings.mode).toBe('remote');
    expect(resolveSettings({ ...base, configText: file, env: { SPARCTL_PROFILE: 'staging' } }).sources.profile).toBe('env SPARCTL_PROFILE');
    const withDb = resolveSettings({ ...base, configText: file, profileFlag: 'staging', flags: { db: '/tmp/x.db' } });
    expect(withDb.settings).toMatchObject({ mode: 'local', db: '/tmp/x.db' });
  });

  it('takes secrets only from the environment and hides them, and strips credentials from URLs', () => {
    const { settings, sources } = resolveSettings({ ...base, configText: file, profileFlag: 'staging', env: { SPARCTL_TOKEN: 'tok-secret-123' } });
    expect(settings.token).toBe('tok-secret-123');
    expect(sources.token).toBe('env SPARCTL_TOKEN');
    const shown = JSON.stringify(redactedSettings(settings));
    expect(shown).not.toContain('tok-secret-123');
    expect(shown).not.toContain(':pw@');
    expect(shown).toContain('(set, hidden)');
    expect(redactUrl('https://a:b@h/x')).toBe('https://***@h/x');
    expect(redactUrl('https://h/x')).toBe('https://h/x');
  });

  it('explains every configuration mistake with its place', () => {
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: file, profileFlag: 'prod' })).code).toBe('config.unknown_profile');
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: file, profileFlag: 'prod' })).hint).toBe('known profiles: field, staging');
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: '{"profiles":' })).code).toBe('config.invalid_json');
    const invalid = thrownBy(ConfigError, () => resolveSettings({ ...base, configText: JSON.stringify({ profiles: { p: { baseurl: 'x', batchSize: 0 } } }) }));
    expect(invalid.code).toBe('config.invalid');
    expect(invalid.message).toContain('/cfg/config.json');
    expect(invalid.message).toContain('profiles.p.baseurl: unknown field baseurl');
    expect(invalid.message).toContain('profiles.p.batchSize: must be at least 1');
    const badUrl = thrownBy(ConfigError, () => resolveSettings({ ...base, configText: JSON.stringify({ profiles: { p: { baseUrl: 'ftp://x' } } }), profileFlag: 'p' }));
    expect(badUrl.message).toContain('profiles.p.baseUrl: must be an http:// or https:// URL');
    const env = thrownBy(ConfigError, () => resolveSettings({ ...base, env: { SPARCTL_CONCURRENCY: 'lots', SPARCTL_PROTOCOL: 'soap' } }));
    expect(env.code).toBe('config.invalid_env');
    expect(env.message).toContain('SPARCTL_CONCURRENCY');
    expect(env.message).toContain('SPARCTL_PROTOCOL');
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, env: { SPARCTL_MODE: 'remote' } })).code).toBe('config.missing_base_url');
  });
});

describe('sparctlDirs', () => {
  it('follows XDG variables and falls back under HOME, ignoring relative values', () => {
    expect(sparctlDirs({ XDG_CONFIG_HOME: '/x/config', XDG_DATA_HOME: 'relative' }, '/home/ana')).toEqual({
      config: '/x/config/sparctl',
      data: '/home/ana/.local/share/sparctl',
      state: '/home/ana/.local/state/sparctl',
      cache: '/home/ana/.cache/sparctl',
    });
  });
});
