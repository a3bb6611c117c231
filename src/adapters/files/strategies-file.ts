/**
 * A remote profile's declared strategies, read from its `strategiesFile` and inline
 * `strategies`, and `strategy add`'s append to that file. Invariant: the file is only ever
 * appended to — every byte already in it stays — by one add at a time (a lock file beside it,
 * held from the read the new text is made from to replacing the file), and the new text replaces
 * the old one whole (written beside it, then renamed over the link's target) only once it reads
 * back as the old rows followed by the new ones. An add with nothing to add takes no lock, needs
 * nothing writable and writes nothing. A lock is taken over only when its process provably no
 * longer runs: same host, same pid namespace, no such pid.
 */
import { constants } from 'node:fs';
import { access, type FileHandle, open, readdir, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, ExitCode, SparctlError, StrategyError, UnavailableError, UsageError } from '../../core/errors.js';
import { environmentCode, systemReason } from './fs-errors.js';
import { readTrustedText, UntrustedFile } from './trusted-file.js';
import { holderText, holding, isStale, lockContent, processRuns, readLock, releaseIfOurs, takeOver } from './pid-lock.js';
import { BUILT_IN, combineDeclared, planAppend, strategyDifferences, type SourcedRow } from '../../core/strategy/declared.js';
import { findCatastrophicBacktracking } from '../../core/strategy/python-regex.js';
import { compileStrategy, DEFAULT_STRATEGY_ROWS, type Strategy, type StrategyRow } from '../../core/strategy/strategy.js';
import type { Settings } from '../../config/settings.js';

type Declaring = Pick<Settings, 'profile' | 'strategiesFile' | 'strategies'>;

/** "file /etc/sparctl/strategies.json" */
export const fileSource = (path: string) => `file ${path}`;
/** "profile prod (inline)" */
export const inlineSource = (profile: string) => `profile ${profile} (inline)`;

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * The file's text, or undefined when it does not exist. Its templates build and read FA strings,
 * so one another user could change is refused as an unsafe config file is (config.unsafe); any
 * other failure to read (a folder, a pipe, bytes that are not UTF-8) is exit 2, naming it.
 */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readTrustedText(path);
  } catch (error) {
    if (!(error instanceof UntrustedFile)) throw error;
    if (error.kind === 'unsafe')
      throw new ConfigError(
        'config.unsafe',
        `strategiesFile ${path} ${error.message}: its strategies build the FA strings sent to the mapper and read the ones it returns, so a change there could send payments elsewhere; nothing was done`,
        { hint: error.fix },
      );
    throw new UsageError('strategy.invalid', `strategiesFile ${path}: ${error.message}`);
  }
}

/** Reads declarations: loaded only for a profile that declares some (it brings the YAML reader and the validator). */
type DeclarationReader = typeof import('../../core/strategy/declared-text.js');
const declarationReader = (): Promise<DeclarationReader> => import('../../core/strategy/declared-text.js');

/** The rows of a strategies file's text. */
function rowsOfText(reader: DeclarationReader, text: string, path: string): StrategyRow[] {
  return reader.declaredRows(reader.parseStrategyText(text, `strategiesFile ${path}`), `strategiesFile ${path}`);
}

/** Built-in, then the file's rows (when it has a text), then the inline ones, each with its source. */
function combined(settings: Declaring, reader: DeclarationReader, path: string | undefined, fileRows: StrategyRow[] | undefined) {
  const declared: { source: string; rows: StrategyRow[] }[] = [];
  if (path !== undefined && fileRows !== undefined) declared.push({ source: fileSource(path), rows: fileRows });
  if (settings.strategies !== undefined) {
    declared.push({
      source: inlineSource(settings.profile),
      rows: reader.declaredRows(settings.strategies, `profile ${settings.profile}: strategies`),
    });
  }
  return combineDeclared(declared);
}

/** The strategies the profile knows: built-in, then its file's, then its inline ones, each with its source. */
export async function declaredStrategyRows(settings: Declaring): Promise<SourcedRow[]> {
  if (settings.strategiesFile === undefined && settings.strategies === undefined) return combineDeclared([]);
  const reader = await declarationReader();
  const path = settings.strategiesFile;
  let fileRows: StrategyRow[] | undefined;
  if (path !== undefined) {
    const text = await readText(path);
    if (text === undefined) {
      const folder = dirname(path);
      const folderThere = await stat(folder).then(
        (s) => s.isDirectory(),
        () => false,
      );
      throw new UsageError('strategy.invalid', `strategiesFile ${path}: no such file`, {
        hint: `fix the path in profile "${settings.profile}" (relative paths are relative to the config file), or create it with "sparctl --profile ${settings.profile} strategy add"${folderThere ? '' : ` once its folder ${folder} exists`}`,
      });
    }
    fileRows = rowsOfText(reader, text, path);
  }
  return combined(settings, reader, path, fileRows);
}

/**
 * The profile's strategies compiled, each keeping its source; one that cannot be compiled is
 * exit 2, naming where it is declared. One whose regex could backtrack catastrophically is kept
 * (the deployment has it, and the operator cannot change it) but marked unusable: link and update
 * with it are refused per record, resolve shows its FAs as the mapper returns them, and `strategy
 * list` says so in its source. Every other command of the profile works as before.
 */
export async function declaredStrategies(settings: Declaring): Promise<Strategy[]> {
  return (await declaredStrategyRows(settings)).map((row) => {
    const where = row.source.startsWith('file ') ? `strategiesFile ${row.source.slice('file '.length)}` : row.source;
    let strategy: Strategy;
    try {
      strategy = { ...compileStrategy(row), source: row.source };
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      throw new UsageError('strategy.invalid', `${where}: strategy ${row.id}: ${error.message}`, {
        hint: '"sparctl strategy validate --file FILE" shows what is wrong',
      });
    }
    // SPAR's own texts are known to be safe (and checking them would cost every command).
    const builtIn =
      row.source === BUILT_IN ||
      DEFAULT_STRATEGY_ROWS.some(
        (d) => d.deconstruct_strategy === row.deconstruct_strategy && d.construct_strategy === row.construct_strategy,
      );
    const catastrophic = builtIn ? null : findCatastrophicBacktracking(row.deconstruct_strategy);
    return catastrophic === null ? strategy : unusableStrategy(strategy, where, catastrophic);
  });
}

/** A declared strategy sparctl must never run the regex of: said in its source, refused per record, and a regex that throws instead of hanging. */
function unusableStrategy(strategy: Strategy, where: string, catastrophic: string): Strategy {
  const why = `strategy ${strategy.id} (${where}) is not used by sparctl: its deconstruct regex can take exponential time on a near-miss FA (${catastrophic}); "sparctl strategy validate ${strategy.id}" shows it`;
  const { pattern } = strategy;
  return {
    ...strategy,
    source: `${strategy.source}; not used by sparctl: its regex can backtrack catastrophically`,
    unusable: why,
    // A path that would still run it stops with the reason rather than hang.
    pattern: {
      pythonPattern: pattern.pythonPattern,
      get regex(): RegExp {
        throw new StrategyError('strategy.invalid', why);
      },
      groupNames: pattern.groupNames,
    },
  };
}

/** How long an add waits for another one's lock on the same file before giving up. */
const LOCK_WAIT_MS = 15_000;

/** The file's text as read, what the rows come to against it, and the text with the new rows (when there are any). */
interface Plan {
  readonly text: string | undefined;
  readonly known: SourcedRow[];
  readonly results: ReturnType<typeof planAppend>;
  readonly added: StrategyRow[];
  readonly next: string | undefined;
}

/**
 * `strategy add` on a remote profile: plans the rows against every strategy the profile knows
 * (`planAppend`), and appends those it does not declare yet (creating the file as JSON when it
 * does not exist). The plan is made first without the lock: an add with nothing to add (every
 * row already there, or an id taken) needs neither the lock nor a writable file or folder (a
 * read-only mount, a ConfigMap). Only when there is something to add are writability checked and
 * the lock taken, and the plan made again under it (another add may have written meanwhile).
 * `dryRun` takes no lock and writes nothing, but checks what the real run needs.
 */
export async function addToStrategiesFile(
  settings: Declaring,
  path: string,
  rows: readonly StrategyRow[],
  dryRun: boolean,
  options: { readonly lockWaitMs?: number } = {},
): Promise<{ results: ReturnType<typeof planAppend>; added: StrategyRow[]; known: SourcedRow[]; created: boolean }> {
  const reader = await declarationReader();
  // A link is written through: its target gets the rows, the link stays.
  const target = await linkTarget(path);
  await checkPlace(path, target);
  const outcome = ({ results, added, known, text }: Plan) => ({ results, added, known, created: text === undefined });
  const unlocked = await plan(reader, settings, path, target, rows);
  if (unlocked.added.length === 0) return outcome(unlocked);
  await checkWritable(path, target);
  if (dryRun) return outcome(unlocked);
  const lock = await takeLock(path, target, options.lockWaitMs ?? LOCK_WAIT_MS);
  try {
    await removeStaleTemps(target);
    const locked = await plan(reader, settings, path, target, rows);
    if (locked.added.length === 0 || locked.next === undefined) return outcome(locked);
    await confirmUnchanged(path, target, locked.text, lock);
    await replaceFile(path, target, locked.next, locked.text === undefined ? undefined : (await stat(target)).mode & 0o777);
    return outcome(locked);
  } finally {
    await releaseLock(lock);
  }
}

/** Reads the file and plans the rows against it; throws `strategy.id_taken`, or `strategy.file_append` when the rows cannot be appended safely. */
async function plan(
  reader: DeclarationReader,
  settings: Declaring,
  path: string,
  target: string,
  rows: readonly StrategyRow[],
): Promise<Plan> {
  const text = await readText(target);
  const before = text === undefined ? undefined : rowsOfText(reader, text, path);
  const known = combined(settings, reader, path, before);
  const results = planAppend(known, rows);
  const added = rows.filter((_, i) => results[i]!.outcome === 'added');
  if (added.length === 0) return { text, known, results, added, next: undefined };
  let next: string;
  if (text === undefined || before === undefined) {
    const { exportStrategies } = await import('../../core/strategy/export.js');
    next = exportStrategies(added, 'json');
  } else {
    next = reader.appendedText(text, added, path);
    checkReadsBack(reader, next, path, [...before, ...added]);
  }
  return { text, known, results, added, next };
}

/** The new text must read back as `expected`, row for row; otherwise nothing is written. */
function checkReadsBack(reader: DeclarationReader, next: string, path: string, expected: readonly StrategyRow[]): void {
  let after: StrategyRow[] | undefined;
  try {
    after = rowsOfText(reader, next, path);
  } catch {
    after = undefined;
  }
  const same = (row: StrategyRow, i: number) => row.id === expected[i]!.id && strategyDifferences(row, expected[i]!).length === 0;
  if (after === undefined || after.length !== expected.length || !after.every(same)) {
    throw new UsageError(
      'strategy.file_append',
      `strategiesFile ${path}: the new strategies cannot be appended safely (its strategies list is not the last thing in the file); nothing was written`,
      { hint: 'add them to its seedData.strategies by hand: "sparctl strategy export --format helm" with the same definition prints them' },
    );
  }
}

/** The file a path names once links are followed, also when it (or the link's target) does not exist yet. */
async function linkTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw cannotWrite(path, `cannot be resolved (${errno(error) ?? (error as Error).message})`);
  }
  let at = path;
  for (let hops = 0; hops < 40; hops++) {
    const next = await readlink(at).catch(() => undefined);
    if (next === undefined) break;
    at = resolve(dirname(at), next);
  }
  const folder = await realpath(dirname(at)).catch(() => dirname(at));
  return join(folder, basename(at));
}

const cannotWrite = (path: string, why: string, hint?: string) =>
  new UsageError('strategy.file_append', `strategiesFile ${path}: ${why}; nothing was written`, hint === undefined ? {} : { hint });

/** A write that failed: a full disk, a quota or a file size limit is the surroundings' (disk.full, exit 4), anything else the file's. */
function writeFailure(path: string, what: string, error: unknown): SparctlError {
  const code = environmentCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG')
    return new SparctlError(
      'disk.full',
      `strategiesFile ${path}: ${what}: ${systemReason(error)} (${code}); nothing was written`,
      ExitCode.unavailable,
      {
        hint: 'free some space (or raise the quota or the file size limit), then run it again',
        cause: error,
      },
    );
  return cannotWrite(path, `${what} (${errno(error) ?? (error as Error).message})`);
}

const linkNote = (path: string, target: string) => (target === path ? '' : ` (a link to ${target})`);

/** Where the file is to be: its folder there, the file (if any) a regular file — or exit 2 saying what is wrong. Checked even when nothing is added. */
async function checkPlace(path: string, target: string): Promise<void> {
  const where = linkNote(path, target);
  const folder = dirname(target);
  const folderStat = await stat(folder).catch((error: unknown) => errno(error) ?? 'unknown');
  if (typeof folderStat === 'string') {
    throw cannotWrite(
      path,
      `its folder ${folder} ${folderStat === 'ENOENT' ? 'does not exist' : `cannot be read (${folderStat})`}${where}`,
      `create the folder (mkdir -p ${folder}), or fix the path in the profile (relative paths are relative to the config file)`,
    );
  }
  if (!folderStat.isDirectory()) throw cannotWrite(path, `${folder} is not a folder${where}`);
  const fileStat = await stat(target).catch(() => undefined);
  if (fileStat !== undefined && !fileStat.isFile()) throw cannotWrite(path, `is not a regular file${where}`);
}

/** What replacing the file needs — its folder writable, the file (if any) writable — or exit 2 saying what is missing. Only when something is added. */
async function checkWritable(path: string, target: string): Promise<void> {
  const where = linkNote(path, target);
  const folder = dirname(target);
  try {
    await access(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw cannotWrite(
      path,
      `its folder ${folder} cannot be written (${errno(error)}; the file is replaced by a new one renamed over it)${where}`,
    );
  }
  if ((await stat(target).catch(() => undefined)) === undefined) return;
  try {
    await access(target, constants.W_OK);
  } catch (error) {
    throw cannotWrite(
      path,
      `is read-only (${errno(error)})${where}`,
      'make it writable (chmod u+w) to add to it, or add the entries by hand',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The lock: a file beside the strategies file, made with O_EXCL, holding "pid host nonce pidns"
// (pidns, such as "pid:[4026531836]", only where /proc tells it; older sparctl wrote no pidns)

interface Lock {
  readonly path: string;
  readonly content: string;
}

/**
 * Takes the file's lock, waiting while another add holds it. A lock whose process is gone
 * (killed) is taken over; one held longer than `waitMs` (or from another machine or pid
 * namespace, where its process cannot be checked) stops the add, naming the lock file.
 */
async function takeLock(path: string, target: string, waitMs: number): Promise<Lock> {
  const lockPath = `${target}.lock`;
  const content = lockContent();
  const deadline = Date.now() + waitMs;
  for (;;) {
    const made = await open(lockPath, 'wx', 0o644).catch((error: unknown) => {
      if (errno(error) === 'EEXIST') return undefined;
      throw writeFailure(path, `its lock file ${lockPath} cannot be made`, error);
    });
    if (made !== undefined) {
      holding(content, true);
      await writeLock(path, lockPath, made, content).catch((error: unknown) => {
        holding(content, false);
        throw error;
      });
      return { path: lockPath, content };
    }
    const seen = readLock(lockPath);
    if (seen === undefined) continue; // released meanwhile
    if (isStale(seen)) {
      takeOver(lockPath, seen);
      continue;
    }
    if (Date.now() >= deadline) {
      const holder = holderText(seen.content);
      throw new UnavailableError(
        'strategy.file_locked',
        `strategiesFile ${path}: another "strategy add" holds its lock file ${lockPath}${holder === undefined ? '' : ` (${holder})`}; nothing was written`,
        { hint: `run it again once that one has finished; if no sparctl is running, remove ${lockPath}` },
      );
    }
    await sleep(20 + Math.random() * 40);
  }
}

/**
 * Writes our content into the lock just made. When that fails (ENOSPC), the lock is removed:
 * an empty one left behind would hold every next add up for 5 s (it cannot tell it from a lock
 * being written this instant).
 */
async function writeLock(path: string, lockPath: string, handle: FileHandle, content: string): Promise<void> {
  const made = await handle.stat().catch(() => undefined);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    const there = await stat(lockPath).catch(() => undefined);
    if (made === undefined || (there !== undefined && there.ino === made.ino && there.dev === made.dev))
      await rm(lockPath, { force: true });
    throw writeFailure(path, `its lock file ${lockPath} cannot be written`, error);
  }
}

async function releaseLock(lock: Lock): Promise<void> {
  releaseIfOurs(lock.path, lock.content);
}

/** Just before replacing: the lock is still ours and the file is as read (an editor may not take the lock). */
async function confirmUnchanged(path: string, target: string, text: string | undefined, lock: Lock): Promise<void> {
  if ((await readFile(lock.path, 'utf8').catch(() => undefined)) !== lock.content)
    throw cannotWrite(path, `its lock file ${lock.path} was taken over by another add`, 'run it again');
  if ((await readText(target)) !== text) throw cannotWrite(path, 'it changed while the strategies were being added', 'run it again');
}

/** Temp files of adds killed before their rename (ours included: a process that had our pid); only called under the lock. */
async function removeStaleTemps(target: string): Promise<void> {
  const prefix = `.${basename(target)}.`;
  for (const name of await readdir(dirname(target)).catch(() => [] as string[])) {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? name.slice(prefix.length, -'.tmp'.length) : '';
    if (/^\d+$/.test(pid) && (Number(pid) === process.pid || !processRuns(Number(pid))))
      await rm(join(dirname(target), name), { force: true });
  }
}

/** Writes `text` beside `target` and renames it over: a reader sees the old file or the new one, never half of one. */
async function replaceFile(path: string, target: string, text: string, mode: number | undefined): Promise<void> {
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode ?? 0o644);
    try {
      await handle.writeFile(text, 'utf8');
      // The file's own mode, whatever the umask.
      if (mode !== undefined) await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof SparctlError) throw error;
    throw writeFailure(path, 'cannot be written', error);
  }
}
