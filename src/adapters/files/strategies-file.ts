/**
 * A remote profile's declared strategies, read from its `strategiesFile` and inline
 * `strategies`, and `strategy add`'s append to that file. Invariant: the file is only ever
 * appended to — every byte already in it stays — by one add at a time (a lock file beside it,
 * held from reading the file to replacing it), and the new text replaces the old one whole
 * (written beside it, then renamed over the link's target) only once it reads back as the old
 * rows followed by the new ones.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, open, readdir, readFile, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SparctlError, UnavailableError, UsageError } from '../../core/errors.js';
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

/** The file's text, or undefined when it does not exist; any other failure to read is exit 2, naming it. */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = errno(error);
    if (code === 'ENOENT') return undefined;
    throw new UsageError('strategy.invalid', `strategiesFile ${path}: cannot be read (${code ?? (error as Error).message})`);
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
 * The profile's strategies compiled, each keeping its source; one that cannot be compiled, or
 * whose regex could backtrack catastrophically (resolving a near-miss FA would hang, as
 * `strategy validate` says), is exit 2, naming where it is declared.
 */
export async function declaredStrategies(settings: Declaring): Promise<Strategy[]> {
  return (await declaredStrategyRows(settings)).map((row) => {
    const where = () => (row.source.startsWith('file ') ? `strategiesFile ${row.source.slice('file '.length)}` : row.source);
    const hint = '"sparctl strategy validate --file FILE" shows what is wrong';
    let strategy: Strategy;
    try {
      strategy = { ...compileStrategy(row), source: row.source };
    } catch (error) {
      if (!(error instanceof SparctlError)) throw error;
      throw new UsageError('strategy.invalid', `${where()}: strategy ${row.id}: ${error.message}`, { hint });
    }
    // SPAR's own texts are known to be safe (and checking them would cost every command).
    const builtIn =
      row.source === BUILT_IN ||
      DEFAULT_STRATEGY_ROWS.some(
        (d) => d.deconstruct_strategy === row.deconstruct_strategy && d.construct_strategy === row.construct_strategy,
      );
    const catastrophic = builtIn ? null : findCatastrophicBacktracking(row.deconstruct_strategy);
    if (catastrophic !== null) {
      throw new UsageError(
        'strategy.invalid',
        `${where()}: strategy ${row.id}: deconstruct regex can take exponential time on a near-miss FA, which would hang every resolve: ${catastrophic}`,
        { hint },
      );
    }
    return strategy;
  });
}

/** How long an add waits for another one's lock on the same file before giving up. */
const LOCK_WAIT_MS = 15_000;

/**
 * `strategy add` on a remote profile: under the file's lock, reads it, plans the rows against
 * every strategy the profile knows (`planAppend`), and appends those it does not declare yet
 * (creating the file as JSON when it does not exist). `dryRun` takes no lock and writes nothing,
 * but checks what the real run needs: a folder that exists and can be written, a writable file.
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
  await checkWritable(path, target);
  const lock = dryRun ? undefined : await takeLock(path, target, options.lockWaitMs ?? LOCK_WAIT_MS);
  try {
    if (lock !== undefined) await removeStaleTemps(target);
    const text = await readText(target);
    const before = text === undefined ? undefined : rowsOfText(reader, text, path);
    const known = combined(settings, reader, path, before);
    const results = planAppend(known, rows);
    const added = rows.filter((_, i) => results[i]!.outcome === 'added');
    if (added.length === 0) return { results, added, known, created: false };
    let next: string;
    if (text === undefined || before === undefined) {
      const { exportStrategies } = await import('../../core/strategy/export.js');
      next = exportStrategies(added, 'json');
    } else {
      next = reader.appendedText(text, added, path);
      checkReadsBack(reader, next, path, [...before, ...added]);
    }
    if (lock !== undefined) {
      await confirmUnchanged(path, target, text, lock);
      await replaceFile(path, target, next, text === undefined ? undefined : (await stat(target)).mode & 0o777);
    }
    return { results, added, known, created: text === undefined };
  } finally {
    if (lock !== undefined) await releaseLock(lock);
  }
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

/** What replacing the file needs — its folder there and writable, the file (if any) a writable regular file — or exit 2 saying what is missing. */
async function checkWritable(path: string, target: string): Promise<void> {
  const where = target === path ? '' : ` (a link to ${target})`;
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
  try {
    await access(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw cannotWrite(
      path,
      `its folder ${folder} cannot be written (${errno(error)}; the file is replaced by a new one renamed over it)${where}`,
    );
  }
  const fileStat = await stat(target).catch(() => undefined);
  if (fileStat === undefined) return;
  if (!fileStat.isFile()) throw cannotWrite(path, `is not a regular file${where}`);
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
// The lock: a file beside the strategies file, made with O_EXCL, holding "pid host nonce"

interface Lock {
  readonly path: string;
  readonly content: string;
}

/** The contents of the locks this process holds: one of our pid not among them was left by an earlier process with our pid. */
const held = new Set<string>();

/**
 * Takes the file's lock, waiting while another add holds it. A lock whose process is gone
 * (killed) is taken over; one held longer than `waitMs` (or from another machine, where its
 * process cannot be checked) stops the add, naming the lock file.
 */
async function takeLock(path: string, target: string, waitMs: number): Promise<Lock> {
  const lockPath = `${target}.lock`;
  const content = `${process.pid} ${hostname()} ${randomUUID()}\n`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o644);
      held.add(content);
      try {
        await handle.writeFile(content, 'utf8');
      } finally {
        await handle.close();
      }
      return { path: lockPath, content };
    } catch (error) {
      if (errno(error) !== 'EEXIST')
        throw cannotWrite(path, `its lock file ${lockPath} cannot be made (${errno(error) ?? (error as Error).message})`);
    }
    let holder: string;
    try {
      holder = await readFile(lockPath, 'utf8');
    } catch (error) {
      if (errno(error) === 'ENOENT') continue; // released meanwhile
      holder = '';
    }
    if (await isStale(lockPath, holder)) {
      await takeOver(lockPath, holder);
      continue;
    }
    if (Date.now() >= deadline) {
      const pid = /^\d+/.exec(holder)?.[0];
      throw new UnavailableError(
        'strategy.file_locked',
        `strategiesFile ${path}: another "strategy add" holds its lock file ${lockPath}${pid === undefined ? '' : ` (pid ${pid})`}; nothing was written`,
        { hint: `run it again once that one has finished; if no sparctl is running, remove ${lockPath}` },
      );
    }
    await sleep(20 + Math.random() * 40);
  }
}

/** A lock whose process no longer runs on this machine (or ours, left by a process that had our pid). */
async function isStale(lockPath: string, holder: string): Promise<boolean> {
  if (held.has(holder)) return false;
  const [pid, host] = holder.split(' ');
  if (host === undefined || !/^\d+$/.test(pid ?? '')) {
    // Being written this instant, or left empty by a process killed between making and writing it.
    const age = await stat(lockPath).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    return age > 5_000;
  }
  if (host !== hostname()) return false;
  return Number(pid) === process.pid || !processRuns(Number(pid));
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM';
  }
}

/**
 * Removes a stale lock. Two adds may judge it stale at once, so it is first renamed aside (only
 * one rename takes it); one that turns out to be another add's fresh lock is linked back.
 */
async function takeOver(lockPath: string, stale: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await readFile(aside, 'utf8').catch(() => stale);
  if (moved !== stale) await link(aside, lockPath).catch(() => undefined);
  await rm(aside, { force: true });
}

async function releaseLock(lock: Lock): Promise<void> {
  const holder = await readFile(lock.path, 'utf8').catch(() => undefined);
  if (holder === lock.content) await rm(lock.path, { force: true });
  held.delete(lock.content);
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
    throw cannotWrite(path, `cannot be written (${errno(error) ?? (error as Error).message})`);
  }
}
