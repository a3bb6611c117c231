import { describe, expect, it } from 'vitest';
import { homeOf, NO_HOME, sparctlDirs } from '../../src/config/paths.js';
import { redactUrl, redactedSettings, resolveSettings, type SettingsInput } from '../../src/config/settings.js';
import {
  earlierRemoteIdentity,
  holdUrlSecrets,
  redactShownText,
  redactQuery,
  redactSecretsIn,
  redactUrlsIn,
  remoteIdentity,
} from '../../src/config/redact.js';
import { ConfigError, UsageError } from '../../src/core/errors.js';
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
    expect(settings).toMatchObject({
      profile: 'default',
      mode: 'local',
      db: '/data/mapper.db',
      protocol: 'spar-v2',
      batchSize: 500,
      concurrency: 'auto',
    });
    expect(sources).toEqual({});
  });

  it('applies flag > env > profile > default, and records where each value came from', () => {
    const { settings, sources } = resolveSettings({
      ...base,
      configText: file,
      env: { SPARCTL_BATCH_SIZE: '50', SPARCTL_OUTPUT: 'csv' },
      flags: { output: 'json' },
    });
    expect(settings).toMatchObject({ profile: 'field', mode: 'local', db: '/cfg/field.db', batchSize: 50, output: 'json' });
    expect(sources).toMatchObject({
      profile: 'defaultProfile (/cfg/config.json)',
      db: 'profile field (/cfg/config.json)',
      batchSize: 'env SPARCTL_BATCH_SIZE',
      output: 'flag --output',
    });
  });

  it('selects a remote profile by flag or SPARCTL_PROFILE; --db beats the default profile', () => {
    expect(resolveSettings({ ...base, configText: file, profileFlag: 'staging' }).settings.mode).toBe('remote');
    expect(resolveSettings({ ...base, configText: file, env: { SPARCTL_PROFILE: 'staging' } }).sources.profile).toBe('env SPARCTL_PROFILE');
    const withDb = resolveSettings({ ...base, configText: file, flags: { db: 'x.db' }, cwd: '/work' });
    expect(withDb.settings).toMatchObject({ mode: 'local', db: '/work/x.db' });
    expect(withDb.target).toEqual({ mode: 'local', location: '/work/x.db', source: 'flag --db' });
  });

  describe('the target comes whole from one source', () => {
    const staging = { ...base, configText: JSON.stringify({ defaultProfile: 'staging', profiles: JSON.parse(file).profiles }) };

    it("the environment beats the default profile, and the profile's keys do not follow it to another URL", () => {
      const { settings, sources, target, unused } = resolveSettings({
        ...staging,
        env: { SPARCTL_BASE_URL: 'http://127.0.0.1:8765', SPARCTL_SENDER_APP_MNEMONIC: 'ci' },
      });
      expect(target).toEqual({ mode: 'remote', location: 'http://127.0.0.1:8765', source: 'env SPARCTL_BASE_URL' });
      expect(settings).toMatchObject({ mode: 'remote', baseUrl: 'http://127.0.0.1:8765', senderAppMnemonic: 'ci' });
      expect(settings.signingKeyFile).toBeUndefined();
      expect(unused).toEqual(['mode', 'baseUrl', 'signingKeyFile']);
      expect(sources.baseUrl).toBe('env SPARCTL_BASE_URL');
    });

    it('a local default profile loses to SPARCTL_BASE_URL (the CI job that smoke-tested the local file)', () => {
      const { target } = resolveSettings({ ...base, configText: file, env: { SPARCTL_BASE_URL: 'http://127.0.0.1:8765' } });
      expect(target.mode).toBe('remote');
    });

    it("the same mapper named twice keeps the profile's keys", () => {
      const { settings } = resolveSettings({ ...staging, env: { SPARCTL_BASE_URL: 'https://user:pw@spar.example.org/api/mapper/' } });
      expect(settings.signingKeyFile).toBe('/keys/p.pem');
    });

    it('--url beats SPARCTL_DB; --db beats SPARCTL_BASE_URL', () => {
      expect(resolveSettings({ ...base, env: { SPARCTL_DB: '/a.db' }, flags: { baseUrl: 'http://h:1' } }).target.source).toBe('flag --url');
      expect(resolveSettings({ ...base, env: { SPARCTL_BASE_URL: 'http://h:1' }, flags: { db: '/b.db' } }).target).toEqual({
        mode: 'local',
        location: '/b.db',
        source: 'flag --db',
      });
    });

    it('refuses contradictions, naming both sources', () => {
      const cases: [Partial<SettingsInput>, RegExp][] = [
        [{ flags: { db: '/a.db', baseUrl: 'http://h:1' } }, /flag --db .* and flag --url /],
        [{ env: { SPARCTL_DB: '/a.db', SPARCTL_BASE_URL: 'http://h:1' } }, /env SPARCTL_DB .* and env SPARCTL_BASE_URL /],
        [{ configText: file, profileFlag: 'staging', flags: { db: '/tmp/x.db' } }, /flag --db .* and profile staging /],
        [
          { configText: file, env: { SPARCTL_PROFILE: 'staging', SPARCTL_BASE_URL: 'http://other:1' } },
          /env SPARCTL_BASE_URL .* and profile staging \(remote https:\/\/\*\*\*@spar/,
        ],
        [{ env: { SPARCTL_MODE: 'remote' } }, /SPARCTL_MODE=remote but default/],
        [{ env: { SPARCTL_MODE: 'local', SPARCTL_BASE_URL: 'http://h:1' } }, /SPARCTL_MODE=local but env SPARCTL_BASE_URL/],
      ];
      for (const [input, message] of cases) {
        const error = thrownBy(UsageError, () => resolveSettings({ ...base, ...input }));
        expect(error.code).toBe('target.contradiction');
        expect(error.message).toMatch(message);
        expect(error.message).not.toContain(':pw@');
      }
    });
  });

  it('takes secrets only from the environment and hides them, and strips credentials from URLs', () => {
    const { settings, sources } = resolveSettings({
      ...base,
      configText: file,
      profileFlag: 'staging',
      env: { SPARCTL_TOKEN: 'tok-secret-123' },
    });
    expect(settings.token).toBe('tok-secret-123');
    expect(sources.token).toBe('env SPARCTL_TOKEN');
    const shown = JSON.stringify(redactedSettings(settings));
    expect(shown).not.toContain('tok-secret-123');
    expect(shown).not.toContain(':pw@');
    expect(shown).toContain('(set, hidden)');
    expect(redactUrl('https://a:b@h/x')).toBe('https://***@h/x');
    expect(redactUrl('https://h/x')).toBe('https://h/x');
    // config show masks every URL setting however its scheme is written.
    for (const url of ['HTTPS://alice:S3cretPW@h/x?subscription-key=K1', 'https:alice:S3cretPW@h/x']) {
      const shownUrl = JSON.stringify(redactedSettings({ ...settings, baseUrl: url, dfspUrl: url, odkUrl: url }));
      expect(shownUrl).not.toMatch(/S3cretPW|K1/);
    }
    // A URL the parser refuses is the one its refusal echoes: a space or a `?` in the password,
    // no scheme, a scheme missing its colon.
    expect(redactUrl('http://alice:S3cret PW@127.0.0.1:18432')).toBe('http://***@127.0.0.1:18432');
    expect(redactUrl('http://alice:p?ss#w@h/x')).toBe('http://***@h/x');
    expect(redactUrl('alice:S3cretPW@127.0.0.1')).toBe('***@127.0.0.1');
    expect(redactUrl('http//alice:S3cretPW@127.0.0.1/api')).toBe('http//***@127.0.0.1/api');
    expect(redactUrl('https://user:pa/ssSECRET@spar.example.org/api')).toBe('https://***@spar.example.org/api');
    expect(redactUrl('https://h/x?k=v')).toBe('https://h/x?k=***');
    // A gateway's key or a token in the query is a secret too; the names stay, for the shape.
    // A fragment (an implicit-flow #access_token=…), a path parameter and a bare query key are masked whole.
    expect(redactUrl('http://h:1/#access_token=SEC')).toBe('http://h:1/#***');
    expect(redactUrl('http://h:1/api;jsessionid=SEC/x')).toBe('http://h:1/api;jsessionid=***/x');
    expect(redactUrl('http://h:1/api?SECbare')).toBe('http://h:1/api?***');
    expect(redactQuery('http://u:hunter2@127.0.0.1:1/ping')).toBe('http://***@127.0.0.1:1/ping');
    expect(redactQuery('//u:pw@x/ping;token=SEC')).toBe('//***@x/ping;token=***');
    expect(redactUrl('https://u:p@h/x?subscription-key=K1&v=2#top')).toBe('https://***@h/x?subscription-key=***&v=***#***');
    expect(redactUrlsIn('POST http://h:1/x/mapper/resolve?token=abc: connection refused (see https://h/y?k=v).')).toBe(
      'POST http://h:1/x/mapper/resolve?token=***: connection refused (see https://h/y?k=***).',
    );
  });

  it('reads variables as a CI job sets them: a final line break or spaces are no part of a setting or secret', () => {
    const { settings, sources } = resolveSettings({
      ...base,
      env: {
        SPARCTL_BASE_URL: 'https://spar.example.org/api/mapper\n',
        SPARCTL_TIMEOUT_MS: ' 5000\r\n',
        SPARCTL_CONCURRENCY: '4\n',
        SPARCTL_TOKEN: 'tok-123\n',
        SPARCTL_OAUTH_CLIENT_SECRET: ' sec\n',
        SPARCTL_ODK_TOKEN: 'odk-tok\n',
        // A password keeps its spaces; only the line break a file or heredoc adds goes.
        SPARCTL_ODK_PASSWORD: ' pass word \n',
      },
    });
    expect(settings).toMatchObject({
      baseUrl: 'https://spar.example.org/api/mapper',
      timeoutMs: 5000,
      concurrency: 4,
      token: 'tok-123',
      oauthClientSecret: 'sec',
      odkToken: 'odk-tok',
      odkPassword: ' pass word ',
    });
    expect(sources.baseUrl).toBe('env SPARCTL_BASE_URL');
    const words = thrownBy(ConfigError, () => resolveSettings({ ...base, env: { SPARCTL_TIMEOUT_MS: '5s' } }));
    expect(words).toMatchObject({
      code: 'config.invalid_env',
      message: 'environment: SPARCTL_TIMEOUT_MS must be a whole number, in digits (it is "5s")',
    });
  });

  it('explains every configuration mistake with its place', () => {
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: file, profileFlag: 'prod' })).code).toBe(
      'config.unknown_profile',
    );
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: file, profileFlag: 'prod' })).hint).toBe(
      'known profiles: field, staging',
    );
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: '{"profiles":' })).code).toBe('config.invalid_json');
    // A name a plain object already answers to is never a profile: not found, never the default mapper.
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: file, profileFlag: name })).code).toBe(
        'config.unknown_profile',
      );
      const byDefault = JSON.stringify({ defaultProfile: name, profiles: { staging: { mode: 'local' } } });
      expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: byDefault })).code).toBe('config.unknown_profile');
    }
    // A profile named __proto__ (an own key of the parsed file) is refused with the file.
    const proto = '{"profiles":{"local":{"mode":"local"},"__proto__":{"mode":"remote","baseUrl":"http://127.0.0.1:9/evil"}}}';
    expect(thrownBy(ConfigError, () => resolveSettings({ ...base, configText: proto })).message).toMatch(/reserved/);
    // Not JSON: where, never what the file holds (SPARCTL_CONFIG naming a token file by mistake).
    const secret = thrownBy(ConfigError, () => resolveSettings({ ...base, configText: 'PROFTOKEN123\n' }));
    expect(secret.message).toBe('/cfg/config.json: not valid JSON (line 1, column 1: unexpected character)');
    // A key given twice: JSON.parse would keep the last silently.
    const twice = thrownBy(ConfigError, () =>
      resolveSettings({ ...base, configText: '{"profiles":{"p":{"mode":"remote","baseUrl":"http://a","baseUrl":"http://b"}}}' }),
    );
    expect(twice.code).toBe('config.invalid_json');
    expect(twice.message).toMatch(/line 1, column \d+: .*twice/);
    // Notepad's byte order mark is no mistake.
    expect(resolveSettings({ ...base, configText: `\uFEFF${file}` }).settings.batchSize).toBe(200);
    const invalid = thrownBy(ConfigError, () =>
      resolveSettings({ ...base, configText: JSON.stringify({ profiles: { p: { baseurl: 'x', batchSize: 0 } } }) }),
    );
    expect(invalid.code).toBe('config.invalid');
    expect(invalid.message).toContain('/cfg/config.json');
    expect(invalid.message).toContain('profiles.p.baseurl: unknown field baseurl');
    expect(invalid.message).toContain('profiles.p.batchSize: must be at least 1');
    const badUrl = thrownBy(ConfigError, () =>
      resolveSettings({ ...base, configText: JSON.stringify({ profiles: { p: { baseUrl: 'ftp://x' } } }), profileFlag: 'p' }),
    );
    expect(badUrl.message).toContain('profiles.p.baseUrl: must be an http:// or https:// URL');
    const env = thrownBy(ConfigError, () => resolveSettings({ ...base, env: { SPARCTL_CONCURRENCY: 'lots', SPARCTL_PROTOCOL: 'soap' } }));
    expect(env.code).toBe('config.invalid_env');
    expect(env.message).toContain('SPARCTL_CONCURRENCY');
    expect(env.message).toContain('SPARCTL_PROTOCOL');
    expect(
      thrownBy(ConfigError, () =>
        resolveSettings({ ...base, configText: JSON.stringify({ profiles: { r: { mode: 'remote' } } }), profileFlag: 'r' }),
      ).code,
    ).toBe('config.missing_base_url');
  });
});

describe('homeOf', () => {
  it("HOME when absolute; else the system's record of the user; else a path that does not exist, never the working folder", () => {
    const system = () => '/home/from-passwd';
    expect(homeOf({ HOME: '/home/ana' }, system)).toBe('/home/ana');
    for (const HOME of [undefined, '', 'relative', './here'])
      expect(homeOf(HOME === undefined ? {} : { HOME }, system), String(HOME)).toBe('/home/from-passwd');
    expect(
      homeOf({}, () => {
        throw new Error('no passwd entry');
      }),
    ).toBe(NO_HOME);
    expect(homeOf({ HOME: 'x' }, () => 'also-relative')).toBe(NO_HOME);
    expect(homeOf({}, () => undefined)).toBe(NO_HOME);
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

describe('remoteIdentity: one remote mapper, however its URL is spelled', () => {
  it('a trailing slash, an upper-case scheme or host, a default port are the same mapper; the user-info is masked, a path is kept', () => {
    const one = remoteIdentity('spar-v2', 'https://spar.example.org/api/mapper');
    expect(one).toBe('spar-v2 https://spar.example.org/api/mapper');
    for (const spelled of [
      'https://spar.example.org/api/mapper/',
      'HTTPS://SPAR.Example.org/api/mapper',
      'https://spar.example.org:443/api/mapper//',
    ])
      expect(remoteIdentity('spar-v2', spelled), spelled).toBe(one);
    expect(remoteIdentity('spar-v2', 'http://127.0.0.1:8000/')).toBe('spar-v2 http://127.0.0.1:8000');
    expect(remoteIdentity('spar-v2', 'https://spar.example.org/api/other')).not.toBe(one);
    expect(remoteIdentity('spar-v1', 'https://spar.example.org/api/mapper')).not.toBe(one);
    expect(remoteIdentity('spar-v2', 'https://u:s3cret@spar.example.org/api/mapper/')).toBe(
      'spar-v2 https://***@spar.example.org/api/mapper',
    );
    expect(remoteIdentity('spar-v2', 'https://spar.example.org/api/mapper?key=s3cret')).toBe(
      'spar-v2 https://spar.example.org/api/mapper?key=***',
    );
  });
  it('what an earlier sparctl keyed by the URL as typed, when that differs', () => {
    expect(earlierRemoteIdentity('spar-v2', 'https://spar.example.org/api/mapper')).toBeUndefined();
    expect(earlierRemoteIdentity('spar-v2', 'https://spar.example.org/api/mapper/')).toBe('spar-v2 https://spar.example.org/api/mapper/');
  });
});

describe('holdUrlSecrets: what redactUrl masks in a URL, masked in what a server sends back', () => {
  it('the password and every query and path parameter value, as sent and decoded; a short one only after its name', () => {
    holdUrlSecrets('https://mapuser:MAP%40PASS_k3@spar.example.org/api;jsessionid=SESSION123/mapper?subscription-key=SUBKEY_99&k=a%2Fb');
    expect(redactShownText('url /api;jsessionid=SESSION123/mapper/resolve?subscription-key=SUBKEY_99&k=a%2Fb')).toBe(
      'url /api;jsessionid=***/mapper/resolve?subscription-key=***&k=***',
    );
    expect(redactShownText('{"subscription-key":"SUBKEY_99","k":"a/b"} k=a/b')).toBe('{"subscription-key":"***","k":"a/b"} k=***');
    expect(redactShownText('login mapuser:MAP@PASS_k3@ and MAP%40PASS_k3')).toBe('login mapuser:***@ and ***');
    // Short values are not masked on their own: "a/b" is an ordinary word elsewhere.
    expect(redactShownText('a/b')).toBe('a/b');
    // An answer sparctl reads keeps the parameter values: they may be data too (an account
    // number 2019081599 beside ?tenant=20190815 was read as "***99"). The password is a secret everywhere.
    holdUrlSecrets('https://spar.example.org/api?tenant=20190815');
    expect(redactSecretsIn('{"account_number":"2019081599","id":"SUBKEY_99"} MAP%40PASS_k3')).toBe(
      '{"account_number":"2019081599","id":"SUBKEY_99"} ***',
    );
    expect(redactShownText('account 2019081599')).toBe('account ***99');
    // Not a URL: nothing to hold, nothing thrown.
    holdUrlSecrets('not a url');
    holdUrlSecrets(undefined);
  });
});
