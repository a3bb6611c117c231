import { UsageError } from '../core/errors.js';

/**
 * `init`'s use case: an empty local mapper made on purpose — the one way, besides a first write
 * to the default path or --create, that a database file comes to exist. Invariant: an existing
 * sparctl mapper is left as it is; a remote target is refused before anything is said or done.
 */

export interface InitDeps {
  readonly remote: boolean;
  /** What named the target ("flag --url", "profile prod"), for the refusal. */
  readonly targetSource: string;
  /** Refuses an output format the summary has no form for, before anything is done. */
  readonly checkOutputFormat: () => void;
  /** Says which mapper the command acts on, once. */
  readonly announceTarget: () => void;
  /** The local mapper's file, checked against the creation rule; exists false when it is to be made. */
  readonly mapperFile: () => { readonly path: string; readonly exists: boolean };
  /**
   * Opens the local mapper at path (making its tables and default strategies when new) and closes
   * it; refuses a file that is not one. True when this open made the tables: another process may
   * have made them between the look at the file and the open (two inits at once).
   */
  readonly openAndClose: (path: string) => Promise<boolean>;
  /** A line for the person (stderr), left out with -q. */
  readonly note: (line: string) => void;
}

export async function initMapper(deps: InitDeps): Promise<{ readonly path: string; readonly created: boolean }> {
  if (deps.remote) {
    throw new UsageError('init.remote', `init creates a local mapper, but the target is remote (${deps.targetSource})`, {
      hint: 'give --db PATH, or use a local profile; a remote SPAR is set up by its own deployment',
    });
  }
  deps.checkOutputFormat();
  deps.announceTarget();
  const file = deps.mapperFile();
  // Made by this open, not judged from the look at the file: another init may have made it since.
  const created = await deps.openAndClose(file.path);
  deps.note(created ? `created an empty mapper at ${file.path}` : `${file.path} is already a sparctl mapper; nothing was changed`);
  return { path: file.path, created };
}
