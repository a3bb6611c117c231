#!/usr/bin/env node
// sparctl against a remote mapper of known capacity (bench/capacity-server.mjs), next to a raw
// client (bench/raw-client.mjs) run the same way — each a process of its own, timed from spawn
// to exit, on the same file — and `--concurrency auto` against a sweep of fixed levels. Nothing
// is asserted; figures are ratios within this run.
//   npm run bench:remote
//   BENCH_REMOTE_N=20000 BENCH_ITEM_COST_MS=0.2 BENCH_ROUNDS=3 npm run bench:remote
//   BENCH_REMOTE_SWEEP=off: the comparison with the raw client only (for large N).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'sparctl.js');
const n = Number(process.env.BENCH_REMOTE_N ?? 10_000);
const cost = Number(process.env.BENCH_ITEM_COST_MS ?? 0.2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'sparctl-bench-remote-'));
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'd'), XDG_STATE_HOME: join(dir, 's'), XDG_CONFIG_HOME: join(dir, 'c') };

let files = 0;
/** A CSV of `count` new bank-account links (IDs unique to this file), as `link --file` reads them. */
function newFile(count = n) {
  const tag = `F${files++}`;
  const rows = ['id,name,phone_number,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number'];
  for (let i = 0; i < count; i++)
    rows.push(`${tag}-${String(i).padStart(8, '0')},Person ${i},,BANK,2,Land Bank,LBP,Main,0012,${String(i).padStart(12, '0')}`);
  const path = join(dir, `${tag}.csv`);
  writeFileSync(path, `${rows.join('\n')}\n`);
  return path;
}
const mapping = join(dir, 'mapping.json');
writeFileSync(
  mapping,
  JSON.stringify({
    id: 'id',
    name: 'name',
    fa: {
      type: { const: 'BANK' },
      strategy: { BANK: 2 },
      bank_name: 'bank_name',
      bank_code: 'bank_code',
      branch_name: 'branch_name',
      branch_code: 'branch_code',
      account_number: 'account_number',
    },
  }),
);

// A server is never left behind, whatever ends this script.
const servers = new Set();
process.on('exit', () => {
  for (const child of servers) child.kill('SIGKILL');
});

async function startServer(workers) {
  const child = spawn(
    process.execPath,
    [join(root, 'bench', 'capacity-server.mjs'), String(workers), String(cost), join(dir, `w${workers}.db`)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line) => resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`capacity server exited ${code}`)));
  });
  servers.add(child);
  const stop = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
      servers.delete(child);
    });
  return { url, stop };
}

/** Wall seconds and CPU seconds (user + system, from /usr/bin/time) of one process. */
function timed(args, extraEnv = {}) {
  const started = process.hrtime.bigint();
  const command = timeBin ? [timeBin, ['-f', '%U %S', process.execPath, ...args]] : [process.execPath, args];
  const run = spawnSync(command[0], command[1], { env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0) throw new Error(`${args.join(' ')} exited ${run.status}: ${run.stderr.slice(-1500)}`);
  const [user, system] = timeBin ? run.stderr.trim().split('\n').at(-1).split(' ').map(Number) : [NaN, NaN];
  return { seconds, cpu: user + system, stderr: run.stderr };
}

const sparctl = (url, args) => timed([bin, ...args, ...(args.includes('-v') ? [] : ['-q'])], { SPARCTL_BASE_URL: url });
// The raw client runs with the V8 flag sparctl's launcher sets (bin/sparctl.js): without it, its
// process waits 0.15-0.2 s at exit for V8 to finish optimising undici's WebAssembly parser, time
// (and CPU) that is no part of its work and flattered sparctl's ratios.
const raw = (url, operation, file, level) =>
  timed(['--liftoff-only', join(root, 'bench', 'raw-client.mjs'), url, operation, file, String(level)]);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
/** "0.91 (0.85–0.96)": the median and the range, for how far one round may stray on this machine. */
const spread = (values) => `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
/** The two runs of a pair, raw first in even rounds and sparctl first in odd ones: neither always meets the server's leftovers. */
const paired = (round, runRaw, runOurs) => {
  if (round % 2 === 0) {
    const a = runRaw();
    return [a, runOurs()];
  }
  const b = runOurs();
  return [runRaw(), b];
};
const rows = [];
/** A row, printed at once (a long run shows its progress) and kept for the table at the end. */
const show = (row) => {
  rows.push(row);
  console.error(row.join('  '));
};
const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

// 1. sparctl and the raw client, alternating, at 4 in flight against 8 workers: per-round ratios.
{
  const server = await startServer(8);
  const ratios = { upsert: [], link: [], resolve: [] };
  const cpu = { upsert: [], link: [], resolve: [] };
  // CPU per record past start-up: each client's CPU on `n` records less its CPU on `small`, per
  // extra record — what the per-record work costs once both processes have started.
  const small = Math.min(1000, Math.floor(n / 10));
  const marginal = { ours: [], raw: [] };
  for (let round = 0; round < rounds; round++) {
    const a = newFile();
    const b = newFile();
    const c = newFile();
    const d = newFile();
    const [rawUpsert, ours] = paired(
      round,
      () => raw(server.url, 'link', a, 4),
      () => sparctl(server.url, ['import-csv', b, '--mapping', mapping, '--concurrency', '4', '--rejects', join(dir, `r${round}a.csv`)]),
    );
    ratios.upsert.push(rawUpsert.seconds / ours.seconds);
    cpu.upsert.push(ours.cpu / rawUpsert.cpu);
    const [rawLink, ourLink] = paired(
      round,
      () => raw(server.url, 'link', c, 4),
      () => sparctl(server.url, ['link', '--file', d, '--concurrency', '4', '--rejects', join(dir, `r${round}b.csv`)]),
    );
    ratios.link.push(rawLink.seconds / ourLink.seconds);
    cpu.link.push(ourLink.cpu / rawLink.cpu);
    const [rawSmall, ourSmall] = paired(
      round,
      () => raw(server.url, 'link', newFile(small), 4),
      () => sparctl(server.url, ['link', '--file', newFile(small), '--concurrency', '4', '--rejects', join(dir, `r${round}s.csv`)]),
    );
    marginal.raw.push(((rawLink.cpu - rawSmall.cpu) / (n - small)) * 1e6);
    marginal.ours.push(((ourLink.cpu - ourSmall.cpu) / (n - small)) * 1e6);
    const [rawResolve, ourResolve] = paired(
      round,
      () => raw(server.url, 'resolve', a, 4),
      () => sparctl(server.url, ['resolve', '--file', b, '--concurrency', '4', '-o', 'jsonl']),
    );
    ratios.resolve.push(rawResolve.seconds / ourResolve.seconds);
    cpu.resolve.push(ourResolve.cpu / rawResolve.cpu);
  }
  for (const operation of ['upsert', 'link', 'resolve'])
    show([
      `${operation === 'upsert' ? 'import-csv (upsert), all new' : operation === 'link' ? 'link --file, all new' : 'resolve --file'} vs raw client, 8 workers, 4 in flight`,
      spread(ratios[operation]),
      spread(cpu[operation]),
    ]);
  show([
    `link --file, CPU per record past start-up (${n.toLocaleString('en')} less ${small.toLocaleString('en')} records): sparctl / raw client`,
    spread(marginal.ours.map((ours, round) => ours / marginal.raw[round])),
    `${fmt(median(marginal.ours), 1)} / ${fmt(median(marginal.raw), 1)} µs`,
  ]);
  await server.stop();
}

// 2. --concurrency auto against fixed levels, at 1 and 8 workers (link --file of new IDs).
for (const workers of process.env.BENCH_REMOTE_SWEEP === 'off' ? [] : [1, 8]) {
  const server = await startServer(workers);
  const rates = new Map();
  const settled = [];
  for (let round = 0; round < rounds; round++) {
    for (const level of ['1', '2', '4', '8', '16', 'auto']) {
      const run = sparctl(server.url, [
        'link',
        '--file',
        newFile(),
        '--concurrency',
        level,
        '--rejects',
        join(dir, `c${workers}-${level}.csv`),
        ...(level === 'auto' ? ['-v'] : []),
      ]);
      if (!rates.has(level)) rates.set(level, []);
      rates.get(level).push(n / run.seconds);
      if (level === 'auto') settled.push(/auto: (\d+) request/.exec(run.stderr)?.[1] ?? '?');
    }
  }
  const best = Math.max(...['1', '2', '4', '8', '16'].map((level) => median(rates.get(level))));
  for (const level of ['1', '2', '4', '8', '16', 'auto'])
    show([
      `link --file, ${workers} worker${workers === 1 ? '' : 's'}, --concurrency ${level}${level === 'auto' ? ` (ended at ${settled.join('/')})` : ''}`,
      fmt(median(rates.get(level)) / best),
      `${Math.round(median(rates.get(level)))} rec/s`,
    ]);
  await server.stop();
}

const table = [['measure', 'throughput ratio', 'CPU ratio / rate'], ...rows];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)));
for (const r of table) console.log(r.map((cell, c) => String(cell).padEnd(widths[c])).join('  '));
console.log(
  `\nnode ${process.version}; ${n.toLocaleString('en')} records per run, ${cost} ms per item per worker, median of ${rounds} round(s).\n` +
    'vs raw client: throughput ratio = raw time / sparctl time (1.00 = as fast), CPU ratio = sparctl CPU / raw CPU, paired per round\n' +
    '(who goes first alternates by round); median (lowest–highest round).\n' +
    'sweep: throughput as a ratio to the best fixed level at that many workers.',
);
rmSync(dir, { recursive: true, force: true });
