import { isAbsolute, join } from 'node:path';

export interface SparctlDirs {
  readonly config: string;
  readonly data: string;
  readonly state: string;
  readonly cache: string;
}

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
