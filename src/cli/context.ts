import { statSync } from 'node:fs';
import { readTrustedText, UntrustedFile } from '../adapters/files/trusted-file.js';
import { join, resolve } from 'node:path';
import { ConfigError, UsageError } from '../core/errors.js';
import type { LocalMapper } from '../adapters/sqlite/local-mapper.js';
import type { Mapper } from '../core/mapper.js';
import { sparctlDirs, type SparctlDirs } from '../config/paths.js';
import { redactUrl } from '../config/redact.js';
import type { OutputFormat, Profile, ResolvedSettings } from '../config/settings.js';
import type { Io } from './io.js';
import { printable, shellWord } from '../core/shell-word.js';

/** Options every command accepts (DESIGN.md §2). */
export interface GlobalOptions {
  readonly profile?: string;
  readonly db?: string;
  /** --url: a remote mapper's base URL. */
  readonly url?: string;
  /** --create: a command that writes may make a new mapper database at --db. */
  readonly create?: boolean;
  readonly output?: OutputFormat;
  readonly quiet?: boolean;
  readonly verbose?: boolean;
  readonly yes?: boolean;
  /** false when --no-input was given. */
  readonly input?: boolean;
  readonly async?: boolean;
  readonly caFile?: string;
  readonly insecure?: boolean;
}

export interface CommandContext {
  readonly io: Io;
  readonly globals: GlobalOptions;
  readonly dirs: SparctlDirs;
  readonly configPath: string;
  readonly resolved: ResolvedSettings;
}

export function configPathOf(io: Io, dirs: SparctlDirs): string {
  const override = io.env['SPARCTL_CONFIG'];
  // Set but empty (a CI secret that is not set): read as unset, the default config file's
  // defaultProfile would pick a mapper nobody named.
  if (override !== undefined && override.trim() === '')
    throw new UsageError('target.empty_variable', 'SPARCTL_CONFIG is set but empty: it names no config file, so nothing was done', {
      hint: 'set it to the config file, or unset it for the default one; a CI secret that is not set leaves it empty',
    });
  return override !== undefined ? resolve(io.cwd, override.trim()) : join(dirs.config, 'config.json');
}

async function readConfigText(path: string): Promise<string | undefined> {
  try {
    // A pipe is taken (`SPARCTL_CONFIG=<(…)` keeps secrets off the disk), as before this reader.
    return await readTrustedText(path, { pipes: true });
  } catch (error) {
    if (!(error instanceof UntrustedFile)) throw error;
    if (error.kind === 'folder')
      throw new ConfigError('config.unreadable', `${path} is a folder, not a config file`, {
        hint: 'SPARCTL_CONFIG names the config file itself (a JSON file such as config.json), not its folder',
      });
    // The config file names the mapper every command acts on: one another user may change (or
    // replace, through its folder) could point sparctl at another mapper.
    if (error.kind === 'unsafe')
      throw new ConfigError(
        'config.unsafe',
        `${path} ${error.message}: a profile there could point sparctl at another mapper; nothing was done`,
        {
          hint: `${error.fix} (SPARCTL_CONFIG names another config file)`,
        },
      );
    throw new ConfigError('config.unreadable', `${path} ${error.message}`);
  }
}

const chosenFormats = new WeakMap<Io, OutputFormat>();

/**
 * The output format the user chose (flag, SPARCTL_OUTPUT or the profile) once a command has read
 * its settings: an error is then also answered in that format on stdout (main.ts).
 */
export function chosenOutputFormat(io: Io): OutputFormat | undefined {
  return chosenFormats.get(io);
}

export async function loadContext(io: Io, globals: GlobalOptions): Promise<CommandContext> {
  const dirs = sparctlDirs(io.env, io.home);
  const configPath = configPathOf(io, dirs);
  const flags: Partial<Profile> = {
    ...(globals.db !== undefined ? { db: globals.db } : {}),
    ...(globals.url !== undefined ? { baseUrl: globals.url } : {}),
    ...(globals.output !== undefined ? { output: globals.output } : {}),
    ...(globals.async ? { async: true } : {}),
    ...(globals.caFile !== undefined ? { caFile: resolve(io.cwd, globals.caFile) } : {}),
  };
  const { resolveSettings } = await import('../config/settings.js');
  const resolved = resolveSettings({
    configPath,
    configText: await readConfigText(configPath),
    env: io.env,
    ...(globals.profile !== undefined ? { profileFlag: globals.profile } : {}),
    flags,
    defaultDb: join(dirs.data, 'mapper.db'),
    cwd: io.cwd,
  });
  const settings = { ...resolved.settings, ...(globals.insecure ? { insecure: true } : {}) };
  if (settings.output !== undefined) chosenFormats.set(io, settings.output);
  warnAboutExposedSecrets(io, settings);
  if (globals.insecure) {
    io.stderr.write(
      'sparctl: warning: --insecure: TLS certificates are not checked; anyone on the network path can read and change what is sent, including keys and tokens\n',
    );
  }
  return { io, globals, dirs, configPath, resolved: { ...resolved, settings } };
}

/** Files holding keys or secrets should be readable by their owner only; say so when they are not. */
function warnAboutExposedSecrets(io: Io, settings: Record<string, unknown>): void {
  for (const setting of ['signingKeyFile', 'decryptionKeyFile', 'tokenFile', 'oauthClientSecretFile', 'odkPasswordFile']) {
    const file = settings[setting];
    if (typeof file === 'string') warnIfReadableByOthers(io, setting, file);
  }
}

/**
 * One key or secret file others can read, named as given (`what`: the setting or the flag):
 * a command's own secret flags (import-odk's --odk-password-file) are checked with this too.
 */
export function warnIfReadableByOthers(io: Io, what: string, file: string): void {
  let mode: number;
  try {
    mode = statSync(resolve(io.cwd, file)).mode;
  } catch {
    return; // a missing file is reported where it is read
  }
  if ((mode & 0o077) !== 0) {
    io.stderr.write(
      `sparctl: warning: ${what} ${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}\n`,
    );
  }
}

/**
 * What a command will do with its mapper: a read never creates one; a dry run writes nothing;
 * `write-existing` writes to a mapper that must already be there, even the default one (smoke
 * tests a mapper: one it made would test nothing and be left behind).
 */
export type MapperAccess = 'read' | 'write' | 'dry-run' | 'write-existing';

/**
 * Says which mapper the command acts on, as the first line on stderr (unless -q): the target
 * and the one source that named it, so a run against the wrong mapper is seen before it starts.
 */
export function announceTarget(context: CommandContext): void {
  // Once per invocation, however many times the command loads its context.
  if (announced.has(context.io) || context.globals.quiet) return;
  announced.add(context.io);
  // A path or profile name may hold control characters (a pasted escape): shown, never acted on.
  context.io.stderr.write(`→ ${printable(targetLine(context))}\n`);
}
const announced = new WeakSet<Io>();

/** The target for a JSON document: mode, location (a URL's credentials masked) and the source that named it. */
export function targetDocument(context: CommandContext): { mode: 'local' | 'remote'; location: string; source: string } {
  const { target } = context.resolved;
  return { mode: target.mode, location: target.mode === 'remote' ? redactUrl(target.location) : target.location, source: target.source };
}

/** `local /path/mapper.db (flag --db)` or `remote spar-v2 https://host/mapper (profile prod)`. */
export function targetLine(context: CommandContext): string {
  return `${targetWhere(context)} (${context.resolved.target.source})`;
}

/** "local PATH" or "remote PROTOCOL URL" (credentials masked). */
export function targetWhere(context: CommandContext): string {
  const { settings, target } = context.resolved;
  return target.mode === 'local' ? `local ${target.location}` : `remote ${settings.protocol} ${redactUrl(target.location)}`;
}

/**
 * The flags that name this run's mapper again ("--url URL ", "--db PATH ", "--profile NAME "),
 * for a command a hint suggests: pasted, it acts on the mapper this run used, not on the default
 * profile's. A target the environment named needs the same environment, and gets no flag.
 */
export function targetArgs(context: CommandContext): string {
  const { target, settings } = context.resolved;
  if (target.source === 'flag --url') return `--url ${shellWord(redactUrl(target.location))} `;
  if (target.source === 'flag --db') return `--db ${shellWord(target.location)} `;
  if (target.source.startsWith('profile ') && context.globals.profile !== undefined)
    return `--profile ${shellWord(settings.profile ?? context.globals.profile)} `;
  return '';
}

/**
 * The local mapper's database file, checked against the creation rule: only the default path,
 * or --db with --create on a command that writes, may make a new one. `exists` false means it
 * is to be created (write) or stood in for by an empty mapper that is never saved (a dry run, or
 * a read of the default mapper before anything was written to it). A named file that does not
 * exist, or is empty, is refused: it is more likely a typo (or a CSV truncated by a slip) than
 * an empty mapper. Anything else found there is for the adapter to check (a folder, another
 * program's database) before it is opened.
 */
export function localMapperFile(context: CommandContext, access: MapperAccess): { path: string; exists: boolean } {
  const path = context.resolved.settings.db!;
  if (context.globals.db === '') {
    // resolve(cwd, '') is the working folder itself: never what an empty --db "$VAR" meant.
    throw new UsageError('usage.invalid_argument', '--db is empty: it must name the mapper database file', {
      hint: 'give the path of the mapper database, e.g. --db mapper.db; an unset variable in --db "$VAR" gives an empty one',
    });
  }
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path, { throwIfNoEntry: false });
  } catch {
    return { path, exists: true }; // a path that cannot be looked at: the open says why
  }
  const empty = stats?.isFile() === true && stats.size === 0;
  if (stats !== undefined && !empty) return { path, exists: true };
  if (mayCreate(context, access, path)) return { path, exists: false };
  const fix = `sparctl init --db ${shellWord(path)}`;
  throw new UsageError('local.no_mapper', empty ? `no mapper at ${path}: the file is empty` : `no mapper at ${path}`, {
    hint:
      access === 'read'
        ? `check the path; "${fix}" creates an empty mapper there`
        : access === 'write-existing'
          ? `check the path: this command tests a mapper and makes none; "${fix}" creates an empty one there`
          : `check the path; to start a new mapper there, add --create or run "${fix}"`,
  });
}

/** Whether opening the mapper with this access may make one there (the creation rule, for a write). */
export function mayMakeMapper(context: CommandContext, access: MapperAccess): boolean {
  return access !== 'read' && mayCreate(context, access, context.resolved.settings.db!);
}

/** The creation rule: a new mapper only at the default path, or with --create on a command that writes. */
function mayCreate(context: CommandContext, access: MapperAccess, path: string): boolean {
  if (access === 'write-existing') return false;
  return path === join(context.dirs.data, 'mapper.db') || (access !== 'read' && context.globals.create === true);
}

/**
 * Opens the mapper the settings point at, after saying which it is. Adapters load lazily:
 * `--help` must stay fast. A dry run's local mapper is opened so that nothing can be written.
 */
export async function openMapper(context: CommandContext, access: MapperAccess): Promise<Mapper> {
  const { settings } = context.resolved;
  announceTarget(context);
  if (settings.mode === 'local') {
    const file = localMapperFile(context, access);
    const { LocalMapper } = await import('../adapters/sqlite/local-mapper.js');
    // Reads and dry runs write nothing, not even an empty database where none exists yet.
    if (access !== 'write' && !file.exists) return LocalMapper.open(':memory:', `${file.path} (does not exist yet)`);
    // A read never makes a mapper, even of an SQLite file without tables the rule would let a write make one of.
    return LocalMapper.open(file.path, undefined, {
      readOnly: access === 'dry-run',
      create: mayMakeMapper(context, access),
    });
  }
  const { isLoopbackHost } = await import('../adapters/server/guard.js');
  // The token an OAuth2 endpoint hands out goes to the mapper as a bearer token too.
  const credentials =
    settings.token !== undefined || settings.tokenFile !== undefined
      ? 'the bearer token'
      : settings.oauthTokenUrl !== undefined
        ? 'the OAuth2 access token'
        : undefined;
  warnIfInTheClear(context.io, settings.baseUrl!, credentials, isLoopbackHost);
  if (settings.oauthTokenUrl !== undefined)
    warnIfInTheClear(context.io, settings.oauthTokenUrl, 'the OAuth2 client secret', isLoopbackHost);
  const { HttpMapper } = await import('../adapters/http/http-mapper.js');
  return HttpMapper.create(settings);
}

/**
 * A secret about to go to another machine over plain http: anyone on the network path can read
 * it and act as its owner. A warning, not a refusal: inside a cluster a mapper's service
 * address is often plain http. `what`: the secret sent (a URL's own user and password count).
 */
export function warnIfInTheClear(io: Io, url: string, what: string | undefined, isLoopbackHost: (host: string) => boolean): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  const secret = what ?? (parsed.username !== '' || parsed.password !== '' ? 'the user and password in the URL' : undefined);
  if (secret === undefined || parsed.protocol !== 'http:' || isLoopbackHost(parsed.hostname)) return;
  const key = `${secret} ${parsed.host}`;
  const said = warnedInTheClear.get(io) ?? new Set<string>();
  if (said.has(key)) return;
  said.add(key);
  warnedInTheClear.set(io, said);
  io.stderr.write(
    `sparctl: warning: sending ${secret} to ${parsed.host} over plain http, unencrypted: anyone on the network path can read it and use it; use https unless the address is inside a private network\n`,
  );
}
const warnedInTheClear = new WeakMap<Io, Set<string>>();

/**
 * Has a local mapper insert and audit links on a second thread (bulk runs, serve), unless
 * SPARCTL_WRITER_THREAD=off; true when it does. Other mappers have no such thread.
 */
export async function writeLinksOnThread(io: Io, mapper: Mapper): Promise<boolean> {
  if (io.env['SPARCTL_WRITER_THREAD'] === 'off' || !('writeLinksOnThread' in mapper)) return false;
  return (mapper as LocalMapper).writeLinksOnThread();
}
