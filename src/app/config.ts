import { ConfigError } from '../core/errors.js';
import type { Profile } from '../config/settings.js';

/**
 * `config`'s use cases: the settings a command would use and where each came from, the config
 * file's profiles, sparctl's paths, and a starter config file. Invariant: `config init` never
 * replaces a config file unless told to (--force), and says nothing was changed when it does not.
 */

/** The settings as a command resolved them (secrets already hidden), and which source named the target. */
export interface SettingsView {
  readonly target: { readonly mode: 'local' | 'remote'; readonly location: string; readonly source: string };
  /** "local PATH" or "remote PROTOCOL URL" (credentials masked). */
  readonly targetWhere: string;
  /** targetWhere and its source: "local /m.db (flag --db)". */
  readonly targetLine: string;
  readonly profile: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly sources: Readonly<Record<string, string | undefined>>;
  /** Target settings the profile holds that were not used, another source having named the target. */
  readonly unused: readonly string[];
}

export interface ConfigDeps {
  /** The config file: SPARCTL_CONFIG, or config.json in the XDG config directory. */
  readonly configPath: string;
  readonly dirs: { readonly data: string; readonly state: string; readonly cache: string };
  /** The settings a command would use (reads the config file and the environment). */
  readonly settingsView: () => Promise<SettingsView>;
  /** The config file's text; undefined when it cannot be read (there is none). */
  readonly readConfigText: () => Promise<string | undefined>;
  /** The config file's profiles, checked; refuses a file that is not valid. */
  readonly parseConfigFile: (
    path: string,
    text: string,
  ) => Promise<{ readonly profiles: Readonly<Record<string, Profile>>; readonly defaultProfile?: string | undefined }>;
  /** Refuses an output format the summary has no form for, before anything is done. */
  readonly checkOutputFormat: () => void;
  /** Writes the file readable by its owner only (its folder made too); without replace, rejects with code EEXIST when it exists. */
  readonly writeConfigFile: (path: string, text: string, replace: boolean) => Promise<void>;
  /** A line for the person (stderr), left out with -q. */
  readonly note: (line: string) => void;
}

export interface ConfigShown extends SettingsView {
  readonly configFile: string;
  /** Why some of the profile's settings are not used, when some are not. */
  readonly unusedNote?: string;
}

/** `config show`. */
export async function showConfig(deps: ConfigDeps): Promise<ConfigShown> {
  const view = await deps.settingsView();
  const unusedNote = view.unused.length
    ? `profile ${view.profile}'s ${view.unused.join(', ')} not used: ${view.target.source} names the target`
    : undefined;
  return { ...view, configFile: deps.configPath, ...(unusedNote ? { unusedNote } : {}) };
}

export interface ProfileRow {
  readonly name: string;
  readonly mode: 'local' | 'remote';
  readonly default: boolean;
}

/** `config profiles`: each profile's mode (a baseUrl makes it remote unless it says otherwise) and which is the default. */
export async function listProfiles(deps: ConfigDeps): Promise<{ configFile: string; rows: ProfileRow[] }> {
  const path = deps.configPath;
  const text = await deps.readConfigText();
  const file = text === undefined ? { profiles: {}, defaultProfile: undefined } : await deps.parseConfigFile(path, text);
  const rows = Object.entries(file.profiles).map(
    ([name, profile]): ProfileRow => ({
      name,
      mode: profile.mode ?? (profile.baseUrl ? 'remote' : 'local'),
      default: name === file.defaultProfile,
    }),
  );
  return { configFile: path, rows };
}

/** `config path`: where sparctl keeps its config, data, state and cache. */
export function configPaths(deps: ConfigDeps): { config: string; data: string; state: string; cache: string } {
  return { config: deps.configPath, data: deps.dirs.data, state: deps.dirs.state, cache: deps.dirs.cache };
}

/** The starter config: a local default profile, and a remote example to edit. */
export const STARTER_CONFIG = {
  defaultProfile: 'local',
  profiles: {
    local: { mode: 'local' },
    staging: {
      mode: 'remote',
      protocol: 'spar-v2',
      baseUrl: 'https://spar.example.org/api/mapper',
      senderAppMnemonic: 'sparctl',
      signingKeyFile: '/path/to/partner-key.pem',
    },
  },
} as const;

/** `config init`: the starter config written, an existing file refused unless `force`. */
export async function initConfig(
  deps: ConfigDeps,
  input: { readonly force: boolean },
): Promise<{ configFile: string; profiles: string[]; defaultProfile: string }> {
  deps.checkOutputFormat();
  const path = deps.configPath;
  try {
    await deps.writeConfigFile(path, `${JSON.stringify(STARTER_CONFIG, null, 2)}\n`, input.force);
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') {
      throw new ConfigError('config.exists', `${path} already exists; nothing was changed`, {
        hint: 'edit it, or pass --force to replace it',
      });
    }
    throw error;
  }
  deps.note(`wrote ${path} (profiles: local [default], staging [edit its baseUrl and key before use])`);
  return { configFile: path, profiles: Object.keys(STARTER_CONFIG.profiles), defaultProfile: STARTER_CONFIG.defaultProfile };
}
