import type { z } from 'zod';
import { dirname, resolve } from 'node:path';
import { ConfigError, UsageError } from '../core/errors.js';
import { redactUrl } from './redact.js';
import { describeIssues } from '../core/model.js';
import { readJsonTree } from '../core/json-text.js';
import { lazySchema, type Zod } from '../core/schema-library.js';
import { OUTPUT_FORMATS, PROTOCOLS, type OutputFormat } from './constants.js';

/**
 * Profiles and the settings they resolve to. Precedence: flag > SPARCTL_* environment >
 * profile in the config file > built-in default. Every value remembers where it came from so
 * `sparctl config show` can say so. Secrets (tokens, client secrets) never live in the config
 * file: it names files that hold them, or the environment provides them.
 */

export { OUTPUT_FORMATS, PROTOCOLS, type OutputFormat };
export { redactUrl, redactUrlsIn } from './redact.js';

const SENDER_MNEMONIC = /^[A-Za-z0-9_.-]{1,64}$/;
const PROFILE_NAME = /^[A-Za-z0-9_.-]+$/;
/** Names a plain object already answers to (its prototype's): never a profile, whatever the file holds. */
const RESERVED_PROFILE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));
const profileNameOk = (name: string) => PROFILE_NAME.test(name) && !RESERVED_PROFILE_NAMES.has(name);

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}

function buildSettingsSchemas(z: Zod) {
  const httpUrl = z.string().refine(isHttpUrl, { error: 'must be an http:// or https:// URL' });
  const nonEmpty = z.string().min(1, { error: 'is empty' });
  const positiveInt = (max: number) =>
    z
      .number()
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(max, { error: `must be at most ${max}` });

  const profile = z.strictObject({
    mode: z.enum(['local', 'remote']).optional(),
    /** Local mode: the SQLite file of the embedded mapper. */
    db: nonEmpty.optional(),
    /** Remote mode: the mapper's base URL, e.g. https://spar.example.org/api/mapper */
    baseUrl: httpUrl.optional(),
    protocol: z.enum(PROTOCOLS).optional(),
    /** request_header.sender_app_mnemonic: also the partner id the signature is checked against. */
    senderAppMnemonic: z.string().regex(SENDER_MNEMONIC, { error: 'must be 1–64 letters, digits, . _ or -' }).optional(),
    signingKeyFile: nonEmpty.optional(),
    keyId: nonEmpty.optional(),
    tokenFile: nonEmpty.optional(),
    oauthTokenUrl: httpUrl.optional(),
    oauthClientId: nonEmpty.optional(),
    oauthClientSecretFile: nonEmpty.optional(),
    /** Per-operation paths relative to baseUrl, for deployments that moved them. */
    paths: z
      .strictObject({ link: nonEmpty.optional(), update: nonEmpty.optional(), resolve: nonEmpty.optional(), unlink: nonEmpty.optional() })
      .optional(),
    timeoutMs: positiveInt(600_000).optional(),
    batchSize: positiveInt(10_000).optional(),
    /** Requests in flight: a number, or `auto` (adapts to the mapper, up to concurrencyMax). */
    concurrency: z.union([positiveInt(64), z.literal('auto')], { error: 'must be a whole number from 1 to 64, or auto' }).optional(),
    concurrencyMax: positiveInt(64).optional(),
    output: z.enum(OUTPUT_FORMATS).optional(),
    /** import-odk: the ODK Central server, project (a number), form (its xmlFormId) and Web User. */
    odkUrl: httpUrl.optional(),
    odkProject: positiveInt(2_147_483_647).optional(),
    odkForm: nonEmpty.optional(),
    odkEmail: nonEmpty.optional(),
    odkPasswordFile: nonEmpty.optional(),
    /** G2P Connect asynchronous mode (protocol g2p-connect): results by callback or by polling txn/status. */
    async: z.boolean({ error: 'must be true or false' }).optional(),
    asyncResults: z.enum(['callback', 'poll']).optional(),
    /** host:port the callback receiver listens on (default 127.0.0.1:0). */
    callbackListen: nonEmpty.optional(),
    /** The URL the mapper calls back (when it differs from the listen address, e.g. behind a proxy). */
    callbackUrl: httpUrl.optional(),
    asyncTimeoutMs: positiveInt(3_600_000).optional(),
    /** The mapper's certificate or public key: messages are encrypted to it (is_msg_encrypted). */
    encryptionCertFile: nonEmpty.optional(),
    encryptionKid: nonEmpty.optional(),
    /** Our private key for encrypted callbacks (default: signingKeyFile). */
    decryptionKeyFile: nonEmpty.optional(),
    /** The mapper's certificate or public key: callbacks must be signed with it. */
    callbackCertFile: nonEmpty.optional(),
    /** A private CA's certificate (PEM) trusted besides the system's, for every HTTPS connection. */
    caFile: nonEmpty.optional(),
    /** Remote DFSP look-ups: SPAR's bene-portal API base, e.g. https://spar.example.org/api/bene-portal */
    dfspUrl: httpUrl.optional(),
    /**
     * A remote deployment's own strategies (SPAR has no API to list them): a file (JSON as
     * `strategy export --format json` writes it, or Helm values with seedData.strategies; relative
     * to the config file), and/or rows inline. Read and checked when the mapper is opened.
     */
    strategiesFile: nonEmpty.optional(),
    strategies: z.array(z.unknown(), { error: 'must be a list of strategies' }).optional(),
  });
  const configFile = z.strictObject({
    defaultProfile: nonEmpty.optional(),
    profiles: z
      .record(
        z
          .string()
          .regex(PROFILE_NAME, { error: 'profile names may hold letters, digits, . _ and -' })
          .refine((name) => !RESERVED_PROFILE_NAMES.has(name), {
            error: 'this name is reserved (constructor, __proto__, toString…): choose another',
          }),
        profile,
      )
      .default({}),
  });
  return { profile, configFile };
}

/** The config file's and a profile's schemas, built (and zod loaded) at their first use. */
export const settingsSchemas = lazySchema(buildSettingsSchemas);
type SettingsSchemas = ReturnType<typeof buildSettingsSchemas>;
export type Profile = z.infer<SettingsSchemas['profile']>;
export type SettingKey = keyof Profile;
export type ConfigFile = z.infer<SettingsSchemas['configFile']>;

/*
 * Fast checks: every command reads its settings, and loading zod to check them cost each one
 * 80-95 ms. These say yes only when the schema above would certainly accept the value and
 * give back the same data, in the schema's key order; anything else (every error included)
 * goes through zod, which stays the one authority. test/unit/settings-fast-check.test.ts holds
 * the two to each other.
 */

type FieldKind =
  | 'text'
  | 'url'
  | 'mnemonic'
  | 'boolean'
  | 'list'
  | 'zod'
  | { readonly oneOf: readonly string[] }
  | { readonly upTo: number; readonly orAuto?: true };

/** Every profile field in the schema's order, and what the schema accepts there ('zod': left to zod). */
export const PROFILE_FIELDS: readonly (readonly [SettingKey, FieldKind])[] = [
  ['mode', { oneOf: ['local', 'remote'] }],
  ['db', 'text'],
  ['baseUrl', 'url'],
  ['protocol', { oneOf: PROTOCOLS }],
  ['senderAppMnemonic', 'mnemonic'],
  ['signingKeyFile', 'text'],
  ['keyId', 'text'],
  ['tokenFile', 'text'],
  ['oauthTokenUrl', 'url'],
  ['oauthClientId', 'text'],
  ['oauthClientSecretFile', 'text'],
  ['paths', 'zod'],
  ['timeoutMs', { upTo: 600_000 }],
  ['batchSize', { upTo: 10_000 }],
  ['concurrency', { upTo: 64, orAuto: true }],
  ['concurrencyMax', { upTo: 64 }],
  ['output', { oneOf: OUTPUT_FORMATS }],
  ['odkUrl', 'url'],
  ['odkProject', { upTo: 2_147_483_647 }],
  ['odkForm', 'text'],
  ['odkEmail', 'text'],
  ['odkPasswordFile', 'text'],
  ['async', 'boolean'],
  ['asyncResults', { oneOf: ['callback', 'poll'] }],
  ['callbackListen', 'text'],
  ['callbackUrl', 'url'],
  ['asyncTimeoutMs', { upTo: 3_600_000 }],
  ['encryptionCertFile', 'text'],
  ['encryptionKid', 'text'],
  ['decryptionKeyFile', 'text'],
  ['callbackCertFile', 'text'],
  ['caFile', 'text'],
  ['dfspUrl', 'url'],
  ['strategiesFile', 'text'],
  ['strategies', 'list'],
];
const PROFILE_KINDS: ReadonlyMap<string, FieldKind> = new Map(PROFILE_FIELDS);

function surelyValidValue(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case 'text':
      return typeof value === 'string' && value.length >= 1;
    case 'url':
      return typeof value === 'string' && isHttpUrl(value);
    case 'mnemonic':
      return typeof value === 'string' && SENDER_MNEMONIC.test(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'list':
      return Array.isArray(value);
    case 'zod':
      return false;
    default:
      if ('oneOf' in kind) return typeof value === 'string' && kind.oneOf.includes(value);
      return (
        (Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= kind.upTo) ||
        (kind.orAuto === true && value === 'auto')
      );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** The profile as the schema would give it back, if the schema would surely accept it; else undefined. */
export function fastProfile(value: unknown): Profile | undefined {
  if (!isPlainObject(value)) return undefined;
  for (const key of Object.keys(value)) {
    const kind = PROFILE_KINDS.get(key);
    if (kind === undefined || !surelyValidValue(kind, value[key])) return undefined;
  }
  const ordered: Record<string, unknown> = {};
  for (const [key] of PROFILE_FIELDS) if (Object.hasOwn(value, key)) ordered[key] = value[key];
  return ordered as Profile;
}

/** The config file as the schema would give it back, if the schema would surely accept it; else undefined. */
export function fastConfigFile(value: unknown): ConfigFile | undefined {
  if (!isPlainObject(value) || !isPlainObject(value['profiles'])) return undefined;
  const { defaultProfile, profiles } = value;
  for (const key of Object.keys(value)) if (key !== 'defaultProfile' && key !== 'profiles') return undefined;
  if (Object.hasOwn(value, 'defaultProfile') && !(typeof defaultProfile === 'string' && defaultProfile.length >= 1)) return undefined;
  // No prototype: a profile named __proto__ is a key like any other (the schema then refuses it).
  const checked: Record<string, Profile> = Object.create(null) as Record<string, Profile>;
  for (const name of Object.keys(profiles)) {
    const profile = profileNameOk(name) ? fastProfile(profiles[name]) : undefined;
    if (profile === undefined) return undefined;
    checked[name] = profile;
  }
  return { ...(Object.hasOwn(value, 'defaultProfile') ? { defaultProfile: defaultProfile as string } : {}), profiles: checked };
}

/** SPARCTL_* variables that override a profile setting. */
export const ENV_SETTINGS: Readonly<Record<string, SettingKey>> = {
  SPARCTL_MODE: 'mode',
  SPARCTL_DB: 'db',
  SPARCTL_BASE_URL: 'baseUrl',
  SPARCTL_PROTOCOL: 'protocol',
  SPARCTL_SENDER_APP_MNEMONIC: 'senderAppMnemonic',
  SPARCTL_SIGNING_KEY_FILE: 'signingKeyFile',
  SPARCTL_KEY_ID: 'keyId',
  SPARCTL_TOKEN_FILE: 'tokenFile',
  SPARCTL_OAUTH_TOKEN_URL: 'oauthTokenUrl',
  SPARCTL_OAUTH_CLIENT_ID: 'oauthClientId',
  SPARCTL_OAUTH_CLIENT_SECRET_FILE: 'oauthClientSecretFile',
  SPARCTL_TIMEOUT_MS: 'timeoutMs',
  SPARCTL_BATCH_SIZE: 'batchSize',
  SPARCTL_CONCURRENCY: 'concurrency',
  SPARCTL_CONCURRENCY_MAX: 'concurrencyMax',
  SPARCTL_OUTPUT: 'output',
  SPARCTL_ODK_URL: 'odkUrl',
  SPARCTL_ODK_PROJECT: 'odkProject',
  SPARCTL_ODK_FORM: 'odkForm',
  SPARCTL_ODK_EMAIL: 'odkEmail',
  SPARCTL_ODK_PASSWORD_FILE: 'odkPasswordFile',
  SPARCTL_DFSP_URL: 'dfspUrl',
  SPARCTL_ASYNC: 'async',
  SPARCTL_CA_FILE: 'caFile',
  SPARCTL_CALLBACK_LISTEN: 'callbackListen',
  SPARCTL_CALLBACK_URL: 'callbackUrl',
};
const NUMERIC_SETTINGS = new Set<SettingKey>(['timeoutMs', 'batchSize', 'concurrency', 'concurrencyMax', 'odkProject']);

export const DEFAULTS = {
  protocol: 'spar-v2',
  senderAppMnemonic: 'sparctl',
  timeoutMs: 30_000,
  batchSize: 500,
  // Remote runs adapt to the mapper (bench/remote.mjs: against 8 workers auto reached 0.96 of the
  // best fixed level where 4 reached 0.73; against 1 worker, 0.98); a local mapper takes 4.
  concurrency: 'auto',
  concurrencyMax: 16,
} as const satisfies Profile;

export interface Settings extends Profile {
  readonly profile: string;
  readonly mode: 'local' | 'remote';
  readonly protocol: (typeof PROTOCOLS)[number];
  readonly senderAppMnemonic: string;
  readonly timeoutMs: number;
  readonly batchSize: number;
  readonly concurrency: number | 'auto';
  /** From SPARCTL_TOKEN; never printed. */
  readonly token?: string;
  /** From SPARCTL_OAUTH_CLIENT_SECRET; never printed. */
  readonly oauthClientSecret?: string;
  /** Only from the --insecure flag: TLS certificates are not verified. */
  readonly insecure?: boolean;
  /** From SPARCTL_ODK_PASSWORD and SPARCTL_ODK_TOKEN; never printed. */
  readonly odkPassword?: string;
  readonly odkToken?: string;
}

export interface ResolvedSettings {
  readonly settings: Settings;
  /** Where each non-default value came from: "flag --db", "env SPARCTL_DB", "profile staging (…/config.json)". */
  readonly sources: Readonly<Partial<Record<keyof Settings, string>>>;
  /** The mapper, and which source named it. */
  readonly target: Target;
  /** Target settings the profile holds but that were not used: another source named the target. */
  readonly unused: readonly string[];
}

export interface SettingsInput {
  readonly configPath: string;
  /** The config file's text, or undefined when there is no config file. */
  readonly configText: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly profileFlag?: string;
  readonly flags: Partial<Profile>;
  readonly defaultDb: string;
  /** Relative --db and SPARCTL_DB paths are relative to this folder. */
  readonly cwd?: string;
}

export function parseConfigFile(path: string, text: string): ConfigFile {
  // Notepad saves UTF-8 with a byte order mark, which RFC 8259 lets a reader ignore.
  const body = text.replace(/^\uFEFF/, '');
  // Where the text is wrong, never the text itself (SPARCTL_CONFIG may name a token file by
  // mistake), and a key given twice is refused: JSON.parse would keep the last silently.
  const read = readJsonTree(body);
  if ('problem' in read) {
    throw new ConfigError('config.invalid_json', `${path}: not valid JSON (${read.problem})`, {
      hint: 'fix the file, or move it away to start from the built-in local profile',
    });
  }
  const json: unknown = JSON.parse(body);
  // A profile the schema library would drop without a word (it will not write __proto__): refused by name.
  const profiles = isPlainObject(json) ? json['profiles'] : undefined;
  const reserved = isPlainObject(profiles) ? Object.keys(profiles).find((name) => RESERVED_PROFILE_NAMES.has(name)) : undefined;
  if (reserved !== undefined) {
    throw new ConfigError(
      'config.invalid',
      `${path}: profiles.${reserved}: this name is reserved (constructor, __proto__, toString…): choose another`,
      {
        hint: 'see "Configuration" in the README for the fields a profile accepts',
      },
    );
  }
  const fast = fastConfigFile(json);
  const parsed = fast !== undefined ? { success: true as const, data: fast } : settingsSchemas().configFile.safeParse(json);
  if (!parsed.success) {
    throw new ConfigError('config.invalid', `${path}: ${describeIssues(parsed.error).join('; ')}`, {
      hint: 'see "Configuration" in the README for the fields a profile accepts',
    });
  }
  return parsed.data;
}

/**
 * The settings that say which mapper a command acts on and how to talk to it. They come whole from
 * the source that names the target: a profile's protocol, keys or token are never sent to a URL
 * the environment or a flag named.
 */
const TARGET_SETTINGS = new Set<string>([
  'mode',
  'db',
  'baseUrl',
  'protocol',
  'senderAppMnemonic',
  'signingKeyFile',
  'keyId',
  'tokenFile',
  'oauthTokenUrl',
  'oauthClientId',
  'oauthClientSecretFile',
  'paths',
  'async',
  'asyncResults',
  'callbackListen',
  'callbackUrl',
  'asyncTimeoutMs',
  'encryptionCertFile',
  'encryptionKid',
  'decryptionKeyFile',
  'callbackCertFile',
  'caFile',
  'dfspUrl',
  'strategiesFile',
  'strategies',
]);

/** The mapper a command acts on, and the one source that named it. */
export interface Target {
  readonly mode: 'local' | 'remote';
  /** The database path (local) or the base URL (remote). */
  readonly location: string;
  /** "flag --db", "env SPARCTL_BASE_URL", "profile prod", or "default". */
  readonly source: string;
}

function sameTarget(a: Target, b: Target): boolean {
  return (
    a.mode === b.mode &&
    (a.mode === 'local' ? resolve(a.location) === resolve(b.location) : a.location.replace(/\/+$/, '') === b.location.replace(/\/+$/, ''))
  );
}

function describeTarget(target: Target): string {
  return `${target.source} (${target.mode} ${target.mode === 'remote' ? redactUrl(target.location) : target.location})`;
}

function contradiction(a: Target, b: Target): UsageError {
  return new UsageError('target.contradiction', `${describeTarget(a)} and ${describeTarget(b)} name two different mappers`, {
    hint: `give one of them; "sparctl config show" shows where each setting comes from`,
  });
}

/**
 * Merges file, environment and flags into the settings a command runs with. Pure.
 *
 * The target rule: the mapper comes whole from the most specific source that names one — the
 * --db or --url flag, then SPARCTL_DB or SPARCTL_BASE_URL, then the profile — and a contradiction
 * (two names in one source, a profile chosen by name against a flag or variable, SPARCTL_MODE
 * against the target) is refused rather than settled silently.
 */
export function resolveSettings(input: SettingsInput): ResolvedSettings {
  refuseEmptyTargetVariables(input);
  const file = input.configText === undefined ? { profiles: {} } : parseConfigFile(input.configPath, input.configText);
  const explicitProfile = input.profileFlag ?? nonBlank(input.env['SPARCTL_PROFILE'])?.trim();
  const profileName = explicitProfile ?? file.defaultProfile ?? 'default';
  // Only the file's own profiles: `constructor` or `toString` must not find Object's.
  const profile = Object.hasOwn(file.profiles, profileName) ? file.profiles[profileName] : undefined;
  if (!profile && (explicitProfile !== undefined || file.defaultProfile !== undefined)) {
    const known = Object.keys(file.profiles);
    const where = input.configText === undefined ? `${input.configPath} does not exist` : `it is not in ${input.configPath}`;
    throw new ConfigError('config.unknown_profile', `profile "${profileName}" not found: ${where}`, {
      hint: known.length
        ? `known profiles: ${known.join(', ')}`
        : 'create it with "sparctl config init", or drop --profile to use the local mapper',
    });
  }
  const cwd = input.cwd ?? '/';

  const fromEnv: Record<string, unknown> = {};
  const envNames: Record<string, string> = {};
  for (const [variable, key] of Object.entries(ENV_SETTINGS)) {
    // A CI secret or a file read into a variable often ends with a line break: never part of a setting.
    const raw = nonBlank(input.env[variable])?.trim();
    if (raw === undefined) continue;
    if (NUMERIC_SETTINGS.has(key) && key !== 'concurrency' && !/^\d+$/.test(raw))
      throw new ConfigError(
        'config.invalid_env',
        `environment: ${variable} must be a whole number, in digits (it is ${JSON.stringify(raw)})`,
      );
    fromEnv[key] =
      NUMERIC_SETTINGS.has(key) && /^\d+$/.test(raw)
        ? Number(raw)
        : key === 'async' && /^(true|1|false|0)$/.test(raw)
          ? raw === 'true' || raw === '1'
          : raw;
    envNames[key] = variable;
  }
  const fastEnv = fastProfile(fromEnv);
  const envParsed = fastEnv !== undefined ? { success: true as const, data: fastEnv } : settingsSchemas().profile.safeParse(fromEnv);
  if (!envParsed.success) {
    const problems = envParsed.error.issues.map((issue) => `${envNames[String(issue.path[0])] ?? String(issue.path[0])} ${issue.message}`);
    throw new ConfigError('config.invalid_env', `environment: ${problems.join('; ')}`);
  }
  const env = envParsed.data;
  if (input.flags.baseUrl !== undefined && !isHttpUrl(input.flags.baseUrl)) {
    throw new UsageError('target.bad_url', `--url ${redactUrl(input.flags.baseUrl)}: must be an http:// or https:// URL`);
  }

  // Who names a target, most specific first.
  const named = (source: string, values: Partial<Profile>, base: string): Target[] => [
    ...(values.db !== undefined
      ? [{ mode: 'local' as const, location: resolve(base, values.db), source: `${source} ${source === 'flag' ? '--db' : 'SPARCTL_DB'}` }]
      : []),
    ...(values.baseUrl !== undefined
      ? [{ mode: 'remote' as const, location: values.baseUrl, source: `${source} ${source === 'flag' ? '--url' : 'SPARCTL_BASE_URL'}` }]
      : []),
  ];
  const byFlag = named('flag', input.flags, cwd);
  const byEnv = named('env', env, cwd);
  for (const claims of [byFlag, byEnv]) if (claims.length > 1) throw contradiction(claims[0]!, claims[1]!);
  let byProfile: Target | undefined;
  if (profile && (profile.mode !== undefined || profile.db !== undefined || profile.baseUrl !== undefined)) {
    const mode = profile.mode ?? (profile.baseUrl !== undefined ? 'remote' : 'local');
    if (mode === 'remote' && profile.baseUrl === undefined) {
      throw new ConfigError('config.missing_base_url', `profile "${profileName}" is remote but has no baseUrl`, {
        hint: 'add "baseUrl" to the profile, or set SPARCTL_BASE_URL',
      });
    }
    // A relative db path in the config file is relative to that file.
    const location =
      mode === 'local' ? (profile.db !== undefined ? resolve(dirname(input.configPath), profile.db) : input.defaultDb) : profile.baseUrl!;
    byProfile = { mode, location, source: `profile ${profileName}` };
  }
  const target: Target = byFlag[0] ?? byEnv[0] ?? byProfile ?? { mode: 'local', location: input.defaultDb, source: 'default' };
  // A profile chosen by name is a target named on purpose: it must not lose silently.
  if (explicitProfile !== undefined && byProfile && target !== byProfile && !sameTarget(target, byProfile))
    throw contradiction(target, byProfile);
  if (env.mode !== undefined && env.mode !== target.mode) {
    throw new UsageError('target.contradiction', `env SPARCTL_MODE=${env.mode} but ${describeTarget(target)} is ${target.mode}`, {
      hint: 'unset SPARCTL_MODE, or name the mapper you mean',
    });
  }
  const profileIsTarget = byProfile !== undefined && (target === byProfile || sameTarget(target, byProfile));

  const merged: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  /** A profile's target settings it holds but does not apply, because another source named the target. */
  const unused: string[] = [];
  const layer = (values: Partial<Profile>, source: (key: string) => string) => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      merged[key] = value;
      sources[key] = source(key);
    }
  };
  if (profile) {
    const kept = Object.fromEntries(
      Object.entries(profile).filter(([key]) => {
        if (profileIsTarget || !TARGET_SETTINGS.has(key)) return true;
        unused.push(key);
        return false;
      }),
    );
    // A relative strategiesFile, like db, is relative to the config file.
    if (typeof kept['strategiesFile'] === 'string') kept['strategiesFile'] = resolve(dirname(input.configPath), kept['strategiesFile']);
    if (target.mode === 'local' && (kept['strategiesFile'] !== undefined || kept['strategies'] !== undefined)) {
      throw new ConfigError(
        'config.strategies_local',
        `profile "${profileName}" is local but declares strategiesFile or strategies, which describe a remote deployment's strategies`,
        { hint: 'a local mapper keeps its strategies in its database: add them with "sparctl strategy add"' },
      );
    }
    layer(kept, () => `profile ${profileName} (${input.configPath})`);
  }
  layer(env, (key) => `env ${envNames[key]}`);
  layer(input.flags, (key) => (key === 'baseUrl' ? 'flag --url' : `flag --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`));
  delete merged['db'];
  delete merged['baseUrl'];
  delete merged['mode'];
  for (const key of ['db', 'baseUrl', 'mode']) delete sources[key];
  if (target.source !== 'default') {
    sources['mode'] = target.source;
    sources[target.mode === 'local' ? 'db' : 'baseUrl'] =
      target.source === `profile ${profileName}` ? `profile ${profileName} (${input.configPath})` : target.source;
  }

  // Secrets as their files are read: tokens trimmed, a password without its final line break.
  const token = nonBlank(input.env['SPARCTL_TOKEN'])?.trim();
  const oauthClientSecret = nonBlank(input.env['SPARCTL_OAUTH_CLIENT_SECRET'])?.trim();
  if (token) sources['token'] = 'env SPARCTL_TOKEN';
  if (oauthClientSecret) sources['oauthClientSecret'] = 'env SPARCTL_OAUTH_CLIENT_SECRET';
  const odkPassword = nonBlank(input.env['SPARCTL_ODK_PASSWORD'])?.replace(/\r?\n$/, '');
  const odkToken = nonBlank(input.env['SPARCTL_ODK_TOKEN'])?.trim();
  if (odkPassword) sources['odkPassword'] = 'env SPARCTL_ODK_PASSWORD';
  if (odkToken) sources['odkToken'] = 'env SPARCTL_ODK_TOKEN';
  const settings: Settings = {
    ...DEFAULTS,
    ...(merged as Profile),
    profile: profileName,
    mode: target.mode,
    db: target.mode === 'local' ? target.location : input.defaultDb,
    ...(target.mode === 'remote' ? { baseUrl: target.location } : {}),
    ...(token ? { token } : {}),
    ...(oauthClientSecret ? { oauthClientSecret } : {}),
    ...(odkPassword ? { odkPassword } : {}),
    ...(odkToken ? { odkToken } : {}),
  };
  const profileSource =
    input.profileFlag !== undefined
      ? 'flag --profile'
      : explicitProfile !== undefined
        ? 'env SPARCTL_PROFILE'
        : file.defaultProfile !== undefined
          ? `defaultProfile (${input.configPath})`
          : undefined;
  if (profileSource) sources['profile'] = profileSource;
  return { settings, sources, target, unused };
}

/**
 * The variables that name the target. Set but empty (a CI secret that is not set gives
 * `SPARCTL_BASE_URL=`), one is refused: read as unset, it would let the next source — the
 * default local mapper at last — pick a mapper nobody named. None is read when --db, --url or
 * --profile names the mapper, so none is checked then.
 */
const TARGET_VARIABLES = ['SPARCTL_BASE_URL', 'SPARCTL_DB', 'SPARCTL_PROFILE'] as const;

function refuseEmptyTargetVariables(input: SettingsInput): void {
  // A flag that names the mapper wins over every variable: an empty one is then never read.
  if (input.profileFlag !== undefined || input.flags.db !== undefined || input.flags.baseUrl !== undefined) return;
  for (const variable of TARGET_VARIABLES) {
    const value = input.env[variable];
    if (value === undefined || value.trim() !== '') continue;
    throw new UsageError('target.empty_variable', `${variable} is set but empty: it names no mapper, so nothing was done`, {
      hint: `set it to the ${variable === 'SPARCTL_BASE_URL' ? "mapper's URL" : variable === 'SPARCTL_DB' ? 'database path' : 'profile name'}, or unset it; a CI secret that is not set leaves it empty`,
    });
  }
}

function nonBlank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

const SECRET_KEYS = new Set<string>(['token', 'oauthClientSecret', 'odkPassword', 'odkToken']);

/**
 * The settings as `config show` prints them: secrets replaced by a marker, credentials
 * stripped from URLs.
 */
/** The settings that hold a URL, whose user-info and query values are never shown. */
const URL_KEYS: ReadonlySet<string> = new Set(PROFILE_FIELDS.filter(([, kind]) => kind === 'url').map(([key]) => key));

export function redactedSettings(settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    if (SECRET_KEYS.has(key)) out[key] = '(set, hidden)';
    // Every URL setting, however its scheme is written (`HTTPS://`, `https:u:p@h` parse too), and
    // any other value that looks like a URL.
    else if (typeof value === 'string' && (URL_KEYS.has(key) || /^[a-z][a-z0-9+.-]*:/i.test(value))) out[key] = redactUrl(value);
    else out[key] = value;
  }
  return out;
}
