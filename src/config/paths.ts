import { isAbsolute, join } from 'node:path';

export interface SparctlDirs {
  readonly config: string;
  readonly data: string;
  readonly state: string;
  readonly cache: string;
}

/**
 * The home folder sparctl's folders hang from: HOME when it is an absolute path, else the
 * system's record of the user (`passwd`), never the working folder — with HOME unset (a service,
 * a bare container) a config file left in whatever folder sparctl ran in would have chosen the
 * mapper. With neither, a path that does not exist: sparctl then finds no config or database and
 * says so, and creates nothing there.
 */
export function homeOf(env: Readonly<Record<string, string | undefined>>, systemHome: () => string | undefined): string {
  const home = env['HOME'];
  if (home && isAbsolute(home)) return home;
  let recorded: string | undefined;
  try {
    recorded = systemHome();
  } catch {
    recorded = undefined; // no passwd entry (an arbitrary uid in a container)
  }
  return recorded && isAbsolute(recorded) ? recorded : NO_HOME;
}

/** The home of a user the system does not know (as `nobody`'s in passwd). */
export const NO_HOME = '/nonexistent';

/**
 * XDG base directories for sparctl, from the environment alone (pure, so tests can point every
 * path at a temp folder). A relative XDG variable is ignored, as the XDG spec requires.
 */
export function sparctlDirs(env: Readonly<Record<string, string | undefined>>, home: string): SparctlDirs {
  const base = (variable: string, fallback: string) => {
    const value = env[variable];
    return value && isAbsolute(value) ? value : join(home, fallback);
  };
  return {
    config: join(base('XDG_CONFIG_HOME', '.config'), 'sparctl'),
    data: join(base('XDG_DATA_HOME', '.local/share'), 'sparctl'),
    state: join(base('XDG_STATE_HOME', '.local/state'), 'sparctl'),
    cache: join(base('XDG_CACHE_HOME', '.cache'), 'sparctl'),
  };
}
