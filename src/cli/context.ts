import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { LocalMapper } from '../adapters/sqlite/local-mapper.js';
import type { Mapper } from '../core/mapper.js';
import { sparctlDirs, type SparctlDirs } from '../config/paths.js';
import type { OutputFormat, Profile, ResolvedSettings } from '../config/settings.js';
import type { Io } from './io.js';

/** Options every command accepts (DESIGN.md §2). */
export interface GlobalOptions {
  readonly profile?: string;
  readonly db?: string;
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
  readonly dirs: SparctlDirs;
  readonly configPath: string;
  readonly resolved: ResolvedSettings;
}

export function configPathOf(io: Io, dirs: SparctlDirs): string {
  const override = io.env['SPARCTL_CONFIG'];
  return override ? resolve(io.cwd, override) : join(dirs.config, 'config.json');
}

async function readConfigText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw new ConfigError('config.unreadable', `cannot read ${path}: ${(error as Error).message}`);
  }
}

export async function loadContext(io: Io, globals: GlobalOptions): Promise<CommandContext> {
  const dirs = sparctlDirs(io.env, io.home);
  const configPath = configPathOf(io, dirs);
  const flags: Partial<Profile> = {
    ...(globals.db !== undefined ? { db: resolve(io.cwd, globals.db) } : {}),
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
  });
  // A relative db path in the config file is relative to that file; anywhere else, to the cwd.
  const dbSource = resolved.sources.db ?? '';
  const base = dbSource.startsWith('profile ') ? dirname(configPath) : io.cwd;
  const settings = { ...resolved.settings, db: resolve(base, resolved.settings.db!), ...(globals.insecure ? { insecure: true } : {}) };
  warnAboutExposedSecrets(io, settings);
  if (globals.insecure) {
    io.stderr.write('sparctl: warning: --insecure: TLS certificates are not checked; anyone on the network path can read and change what is sent, including keys and tokens\n');
  }
  return { io, dirs, configPath, resolved: { settings, sources: resolved.sources } };
}

/** Files holding keys or secrets should be readable by their owner only; say so when they are not. */
function warnAboutExposedSecrets(io: Io, settings: Record<string, unknown>): void {
  for (const setting of ['signingKeyFile', 'decryptionKeyFile', 'tokenFile', 'oauthClientSecretFile', 'odkPasswordFile']) {
    const file = settings[setting];
    if (typeof file !== 'string') continue;
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      continue; // a missing file is reported where it is read
    }
    if ((mode & 0o077) !== 0) {
      io.stderr.write(`sparctl: warning: ${setting} ${file} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}\n`);
    }
  }
}

/**
 * Opens the mapper the settings point at. Adapters load lazily: `--help` must stay fast.
 * `readOnly`: a dry run's local mapper, opened so that nothing can be written to it.
 */
export async function openMapper(context: CommandContext, options: { readOnly?: boolean } = {}): Promise<Mapper> {
  const { settings } = context.resolved;
  if (settings.mode === 'local') {
    const { LocalMapper } = await import('../adapters/sqlite/local-mapper.js');
    // A dry run writes nothing, not even an empty database where none exists yet.
    if (options.readOnly && !existsSync(settings.db!)) return LocalMapper.open(':memory:', `${settings.db} (does not exist yet)`);
    return LocalMapper.open(settings.db!, undefined, options);
  }
  const { HttpMapper } = await import('../adapters/http/http-mapper.js');
  return HttpMapper.create(settings);
}

/**
 * Has a local mapper insert and audit links on a second thread (bulk runs, serve), unless
 * SPARCTL_WRITER_THREAD=off; true when it does. Other mappers have no such thread.
 */
export async function writeLinksOnThread(io: Io, mapper: Mapper): Promise<boolean> {
  if (io.env['SPARCTL_WRITER_THREAD'] === 'off' || !('writeLinksOnThread' in mapper)) return false;
  return (mapper as LocalMapper).writeLinksOnThread();
}
