import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import type { BulkMode } from '../../src/core/bulk/types.js';
import { checkedFaOf } from '../../src/core/request-items.js';
import type { Strategy } from '../../src/core/strategy/strategy.js';
import { startFaultProxy, type ProxyFault } from './fault-proxy.js';
import { random } from './record-corpus.js';
import { BIN, ROOT, cliEnv, SPAWN_LIMIT } from './run-cli.js';
import { tempDir } from './tmp.js';
import { runModel, type ModelEntry, type ModelRow } from './write-model.js';

/**
 * The torture test of the write pipeline (issue "Writes you can trust"): a seeded random file —
 * repeated IDs, identical rows, link/update/unlink/upsert rows, invalid rows, rows with no ID —
 * run by the built binary against the local mapper, or against `serve`'s code behind a proxy
 * that injects faults at random (resets before and after the mapper applied, 5xx before and
 * after, 429 with Retry-After, answers past the timeout, a mapper that is away for a while),
 * while the test SIGKILLs (now and then SIGTERMs) the process at random instants and runs the
 * same command again, as an operator would, until it finishes. Then the mapper and every ID's
 * audit rows must be the reference model's, every row's reported fate one the model allows,
 * and running the file once more must write nothing.
 */

const COLUMNS = [
  'operation',
  'id',
  'fa_type',
  'bank_name',
  'bank_code',
  'branch_name',
  'branch_code',
  'account_number',
  'name',
  'phone_number',
];

interface Generated {
  readonly setup: string[];
  readonly job: string[];
  readonly rows: ModelRow[];
  readonly initial: Map<string, ModelEntry>;
}

function generate(seed: number, strategies: ReadonlyMap<number, Strategy>): Generated {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const ids = Array.from(
    { length: 10 + Math.floor(rand() * 60) },
    (_, i) => `T${String(seed).padStart(3, '0')}-${String(i).padStart(3, '0')}`,
  );
  const accounts = ['0111', '0222', '0333', '0444'];
  const bankOf = (account: string) => ({
    strategy_id: 2,
    fa_type: 'BANK' as const,
    bank_name: 'Example Bank',
    bank_code: 'EXB',
    branch_name: 'Main',
    branch_code: '0001',
    account_number: account,
  });
  const stored = (account: string) => {
    const built = checkedFaOf({ id: 'x', fa: bankOf(account) }, strategies);
    if (!built.ok) throw new Error('fixture');
    return built.value;
  };
  const cells = (operation: string, id: string, account: string | undefined, name: string, phone: string) =>
    [
      operation,
      id,
      ...(account === undefined ? ['', '', '', '', '', ''] : ['BANK', 'Example Bank', 'EXB', 'Main', '0001', account]),
      name,
      phone,
    ].join(',');
  const initial = new Map<string, ModelEntry>();
  const setup = [COLUMNS.join(',')];
  for (const id of ids) {
    if (rand() >= 0.35) continue;
    const account = pick(accounts);
    const name = pick(['Ana', 'Old']);
    const phone = pick(['+639170000001', '+639170000009']);
    initial.set(id, { fa: stored(account), name, phone });
    setup.push(cells('', id, account, name, phone));
  }
  const rows: ModelRow[] = [];
  const job = [COLUMNS.join(',')];
  const count = 40 + Math.floor(rand() * 260);
  for (let at = 0; at < count; at++) {
    const line = at + 2;
    const operation = pick(['', '', 'upsert', 'upsert', 'update', 'unlink', 'link'] as const);
    const mode: BulkMode = operation === '' ? 'link' : operation;
    const noId = rand() < 0.02;
    const id = noId ? '' : pick(ids);
    const invalid = !noId && mode !== 'unlink' && rand() < 0.05;
    const account = pick(accounts);
    const name = pick(['', 'Ana', 'Ben']);
    const phone = pick(['', '+639170000001', '+639170000002']);
    if (mode === 'unlink') job.push(cells(operation, id, undefined, '', ''));
    else job.push(cells(operation, id, invalid ? '' : account, name, phone));
    rows.push({
      line,
      id: noId ? undefined : id,
      valid: !noId && !invalid,
      mode,
      ...(mode === 'unlink' ? {} : { fa: stored(account), name, phone }),
    });
  }
  return { setup, job, rows, initial };
}

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

interface Kill {
  readonly signal: NodeJS.Signals;
  /** After this many ms, or once `when` says so (polled every few ms): mid-run, whatever the speed. */
  readonly afterMs?: number;
  readonly when?: () => boolean;
  readonly label: string;
}

/** Runs the binary; kills it as `kill` says, when given. */
function runOnce(args: string[], env: Record<string, string>, cwd: string, kill?: Kill): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = kill?.afterMs !== undefined ? setTimeout(() => child.kill(kill.signal), kill.afterMs) : undefined;
    const poll =
      kill?.when !== undefined
        ? setInterval(() => {
            if (kill.when!()) child.kill(kill.signal);
          }, 3)
        : undefined;
    // No run may hang: a run that does is a failure of its own.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      clearTimeout(guard);
      resolve({ code, signal, stderr });
    });
  });
}

/** Whether a journal of some job is there (the job's state folder is the test's own). */
function journalExists(env: Record<string, string>): boolean {
  const dir = join(env['XDG_STATE_HOME']!, 'sparctl', 'journals');
  return existsSync(dir) && readdirSync(dir).some((entry) => entry.endsWith('.db'));
}

/**
 * Audit rows written so far (0 while the file cannot be read), through one connection per
 * history: the kill poll asks every 3 ms, and a connection opened per ask cost the test
 * process more CPU than the run it watched.
 */
function auditCounter(path: string): { count: () => number; close: () => void } {
  let db: ReturnType<typeof openDatabase> | undefined;
  let statement: ReturnType<typeof prepare> | undefined;
  return {
    count: () => {
      try {
        db ??= openDatabase(path, { readonly: true, fileMustExist: true });
        statement ??= prepare(db, 'SELECT count(*) FROM audit_log').pluck();
        return statement.get() as number;
      } catch {
        return 0;
      }
    },
    close: () => {
      if (db?.open) db.close();
    },
  };
}

interface StoredRow {
  readonly id_value: string;
  readonly fa_value: string;
  readonly name: string | null;
  readonly phone: string | null;
}

function readMapper(path: string): { rows: Map<string, StoredRow>; audit: { operation: string; id_value: string; source: string }[] } {
  const db = openDatabase(path, { readonly: true });
  try {
    const rows = prepare(db, 'SELECT id_value, fa_value, name, phone FROM id_fa_mappings').all() as StoredRow[];
    const audit = prepare(db, 'SELECT operation, id_value, source FROM audit_log ORDER BY id').all() as {
      operation: string;
      id_value: string;
      source: string;
    }[];
    return { rows: new Map(rows.map((row) => [row.id_value, row])), audit };
  } finally {
    db.close();
  }
}

/** One seeded history; undefined when everything matched the model, else what did not, with a replay line. */
export async function tortureHistory(seed: number, target: 'local' | 'remote'): Promise<string | undefined> {
  const rand = random(seed * 104729 + (target === 'remote' ? 1 : 0));
  const dir = tempDir('sparctl-torture-');
  const { env } = cliEnv();
  const mapperDb = join(dir, target === 'local' ? 'mapper.db' : 'server.db');
  const store = LocalMapper.open(mapperDb);
  const strategies = new Map((await store.strategies()).map((s) => [s.id, s]));
  const { setup, job, rows, initial } = generate(seed, strategies);
  writeFileSync(join(dir, 'job.csv'), `${job.join('\n')}\n`);
  for (const line of setup.slice(1)) {
    const [, id, , , , , , account, name, phone] = line.split(',');
    await store.link(
      [
        {
          reference_id: 's',
          id: id!,
          fa: {
            strategy_id: 2,
            fa_type: 'BANK',
            bank_name: 'Example Bank',
            bank_code: 'EXB',
            branch_name: 'Main',
            branch_code: '0001',
            account_number: account!,
          },
          name: name!,
          phone_number: phone!,
        },
      ],
      { source: 'setup' },
    );
  }
  const story = [`seed ${seed} (${target}): ${rows.length} rows, ${initial.size} IDs linked before`];
  const cleanup: (() => Promise<void>)[] = [];
  const audits = auditCounter(mapperDb);
  const auditCount = () => audits.count();
  cleanup.push(async () => audits.close());
  let runEnv: Record<string, string> = { ...env };
  let dbArgs: string[] = [];
  let chaos: ((on: boolean) => void) | undefined;
  let requests: () => number = () => 0;
  try {
    if (target === 'local') {
      await store.close();
      dbArgs = ['--create', '--db', mapperDb];
    } else {
      const server = createSparServer({ mapper: store, partners: new Map() });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      cleanup.push(() => store.close());
      const proxy = await startFaultProxy(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      requests = () => proxy.log.filter((entry) => !entry.path.endsWith('/resolve')).length;
      cleanup.unshift(() => proxy.close());
      const rate = 0.05 + rand() * 0.15;
      let outageUntil = 0;
      chaos = (on) =>
        proxy.chaos(
          on
            ? (path) => {
                const now = Date.now();
                if (now < outageUntil) return 'reset-before';
                if (rand() < 0.005) {
                  // The mapper is away for a while: the run may stop with exit 4 and be run again.
                  outageUntil = now + 200 + rand() * 800;
                  return 'reset-before';
                }
                if (path.endsWith('/resolve') ? rand() > rate / 3 : rand() > rate) return undefined;
                const faults: ProxyFault[] = [
                  'reset-before',
                  'reset-after',
                  'reset-after',
                  { status: 503 },
                  { statusAfter: 503 },
                  { statusAfter: 502 },
                  { statusAfter: 504 },
                  { status: 429, retryAfter: '0' },
                  { slowMs: 500 },
                ];
                return faults[Math.floor(rand() * faults.length)];
              }
            : undefined,
        );
      chaos(true);
      runEnv = { ...env, SPARCTL_BASE_URL: proxy.url, SPARCTL_TIMEOUT_MS: '300' };
    }
    const batch = 1 + Math.floor(rand() * 20);
    const args = [
      ...dbArgs,
      '--yes',
      'link',
      '--file',
      'job.csv',
      '--batch-size',
      String(batch),
      '--concurrency',
      String(1 + Math.floor(rand() * 4)),
      '--retries',
      '3',
      '--results',
      'results.jsonl',
    ];
    let finished: Ended | undefined;
    let rerunOfDone = false;
    // Whether some run after the first began with no journal: a killed run may have finished the
    // job (journal removed) just before it died, and every later run is then a re-run of a done
    // job, the finishing one too even when a run between began a journal of that re-run (a stop
    // signal sent again and again: the first stops the run, a later one, once it no longer
    // listens, kills it as it exits).
    let begunWithoutJournal = false;
    // Remote upserts may go out as links before any read (upsert-order.ts): a lost answer to one
    // whose ID already held the row is then `confirmed`.
    const modelOptions = { comparesNamePhone: target === 'local', linksFirst: target === 'remote' };
    const model = runModel(initial, rows, modelOptions);
    const setupRows = auditCount();
    for (let attempt = 0; attempt < 25 && finished === undefined; attempt++) {
      const signal: NodeJS.Signals = rand() < 0.8 ? 'SIGKILL' : 'SIGTERM';
      const r = attempt < 6 ? rand() : 1;
      let kill: Kill | undefined;
      if (r < 0.25) {
        // Any instant, starting up included.
        const afterMs = 20 + Math.floor(rand() * 500);
        kill = { signal, afterMs, label: `${signal} after ${afterMs} ms` };
      } else if (r < 0.75) {
        // While writing: after a random number of writes (local) or requests (remote) from now.
        const writes = auditCount();
        const seen = requests();
        const more = 1 + Math.floor(rand() * Math.max(1, model.writes.size - (writes - setupRows) - 1));
        kill =
          target === 'local'
            ? { signal, when: () => auditCount() - writes >= more, label: `${signal} after ${more} more writes` }
            : {
                signal,
                when: () => requests() - seen >= Math.ceil(more / batch),
                label: `${signal} after ${Math.ceil(more / batch)} more write requests`,
              };
      }
      // A run killed after it finished its job (journal removed) but before it exited leaves the
      // next run a re-run of a finished job, which reports what a re-run reports.
      const journalled = journalExists(env);
      if (attempt > 0 && !journalled) begunWithoutJournal = true;
      const ended = await runOnce(args, runEnv, dir, kill);
      story.push(
        `run ${attempt}: ${kill ? `${kill.label} → ` : ''}exit ${ended.code ?? ended.signal}, ${auditCount() - setupRows} writes so far`,
      );
      if (ended.code === 0 || ended.code === 5) {
        finished = ended;
        rerunOfDone = begunWithoutJournal;
      } else if (!(ended.code === 4 || ended.code === 130 || ended.code === 143 || ended.signal !== null)) {
        return `${story.join('\n')}\nunexpected exit ${ended.code}: ${ended.stderr.slice(-1500)}`;
      }
    }
    if (finished === undefined) return `${story.join('\n')}\nnever finished`;

    const problems: string[] = [];
    const { rows: held, audit } = readMapper(mapperDb);
    const ids = new Set([...initial.keys(), ...rows.flatMap((row) => (row.id ? [row.id] : []))]);
    const jobAudit = audit.filter((row) => row.source !== 'setup');
    for (const id of ids) {
      const want = model.state.get(id);
      const got = held.get(id);
      const shown = got === undefined ? undefined : { fa: got.fa_value, name: got.name, phone: got.phone };
      if (JSON.stringify(shown) !== JSON.stringify(want))
        problems.push(`${id}: mapper holds ${JSON.stringify(shown)}, model ${JSON.stringify(want)}`);
      const written = model.writes.get(id);
      const writes = jobAudit.filter((row) => row.id_value === id);
      // Locally every audit row names its line; serve's do not (lines do not travel over HTTP).
      const seen = writes.map((row) =>
        target === 'local' ? `${row.operation} ${/line (\d+)$/.exec(row.source)?.[1] ?? '?'}` : row.operation,
      );
      const expected = written ? [target === 'local' ? `${written.operation} ${written.line}` : written.operation] : [];
      const row = written && rows.find((r) => r.line === written.line);
      // The one exception to "once" (plan.ts effectShown): a strict update with a name or phone, its
      // answer lost, against a mapper that does not tell them, is sent again — with the same values.
      const mayRepeat = target === 'remote' && written?.operation === 'update' && row?.mode === 'update' && !!(row.name || row.phone);
      const same = mayRepeat
        ? seen.length >= 1 && seen.every((w) => w === expected[0])
        : JSON.stringify(seen) === JSON.stringify(expected) || (written?.mayBeMissing === true && seen.length === 0);
      if (!same) problems.push(`${id}: writes ${JSON.stringify(seen)}, model ${JSON.stringify(expected)}`);
    }
    // The last run's results file lists every row once, with a fate the model allows.
    const results = existsSync(join(dir, 'results.jsonl'))
      ? readFileSync(join(dir, 'results.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { line: number; fate: string; superseded_by: number | null })
      : [];
    if (results.length !== rows.length) problems.push(`results list ${results.length} rows, the file has ${rows.length}`);
    // The fates of a re-run, when the finishing run was one (see journalled above).
    const again = rerunOfDone ? runModel(model.state, rows, modelOptions) : undefined;
    if (rerunOfDone) story.push("the finishing run found the job done by a killed run: its reports are a re-run's");
    for (const result of results) {
      const first = model.reports.get(result.line);
      const allowed = first && again ? { ...first, fates: [...first.fates, ...again.reports.get(result.line)!.fates] } : first;
      if (!allowed) problems.push(`results: line ${result.line} is not a row`);
      else if (!allowed.fates.includes(result.fate as never))
        problems.push(`line ${result.line}: ${result.fate}, model allows ${allowed.fates.join('/')}`);
      else if (result.fate === 'superseded' && result.superseded_by !== allowed.supersededBy)
        problems.push(`line ${result.line}: superseded by ${result.superseded_by}, model ${allowed.supersededBy}`);
    }
    const wantExit = [...model.reports.values()].some((report) => report.fates.every((fate) => fate === 'rejected')) ? 5 : undefined;
    if (wantExit === 5 && finished.code !== 5 && !rerunOfDone) problems.push(`exit ${finished.code}, rows were rejected: 5`);

    // The same file again, faults off: nothing is written (bar the strict updates above).
    chaos?.(false);
    const before = jobAudit.length;
    const second = await runOnce(args, runEnv, dir);
    const after = readMapper(mapperDb).audit.filter((row) => row.source !== 'setup').length;
    const resent =
      target === 'remote'
        ? [...model.writes.values()].filter((w) => w.operation === 'update' && rows.find((r) => r.line === w.line)!.mode === 'update')
            .length
        : 0;
    if (second.code !== 0 && second.code !== 5) problems.push(`the second run exited ${second.code}: ${second.stderr.slice(-500)}`);
    if (after - before !== resent) problems.push(`the second run wrote ${after - before} audit rows, expected ${resent}`);
    if (process.env['TORTURE_DEBUG']) console.log(story.join('\n'));
    if (problems.length === 0) return undefined;
    return `${story.join('\n')}\n${problems.slice(0, 15).join('\n')}\nreplay: npm run torture -- --target ${target} --first ${seed} --seeds 1`;
  } finally {
    for (const step of cleanup) await step();
  }
}

export { ROOT };
