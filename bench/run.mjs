#!/usr/bin/env node
// sparctl benchmarks. Every figure is reported against a baseline measured in the same run, on
// the same file; nothing here is asserted. BENCH_N sets the row count (default 200,000; the
// issue's full size is 1,000,000); BENCH_ROUNDS how often the local measures are repeated
// (default 3: this kind of machine varies by ±15% from one run to the next).
//   npm run bench
//   BENCH_N=1000000 npm run bench
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'sparctl.js');
const n = Number(process.env.BENCH_N ?? 200_000);
const remoteN = Math.max(1, Math.round(n / 5));
const dir = mkdtempSync(join(tmpdir(), 'sparctl-bench-'));
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const env = {
  ...process.env,
  HOME: dir,
  XDG_DATA_HOME: join(dir, 'data'),
  XDG_STATE_HOME: join(dir, 'state'),
  XDG_CONFIG_HOME: join(dir, 'config'),
};

// Realistic enumeration rows: leading-zero IDs and accounts, names, local phone formats, banks and wallets.
function writeRows(path, count) {
  const out = [
    'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email',
  ];
  for (let i = 0; i < count; i++) {
    const id = String(4e11 + i).padStart(12, '0');
    // A phone of its own per row (households rarely share one); a wallet row pays to that phone.
    const digits = String(i % 1e7).padStart(7, '0');
    const phone = `0917 ${digits.slice(0, 3)} ${digits.slice(3)}`;
    const kind = i % 10;
    if (kind < 7) out.push(`HH-${i},${id},Person ${i} Dela Cruz,${phone},bank,LBP,0012,${String(i).padStart(12, '0')},,,`);
    else if (kind < 9) out.push(`HH-${i},${id},Person ${i} Santos,${phone},gcash,,,,GCASH,${phone},`);
    else out.push(`HH-${i},${id},Person ${i} Reyes,${phone},email,,,,PAYPAL,,Person.${i}@Example.org`);
  }
  writeFileSync(path, `${out.join('\n')}\n`);
}
const csv = join(dir, 'enumeration.csv');
writeRows(csv, n);
const remoteCsv = join(dir, 'remote.csv');
writeRows(remoteCsv, remoteN);
const mapping = join(root, 'fixtures', 'enumeration.mapping.json');
const dfsp = join(root, 'fixtures', 'dfsp.json');

/** Runs a command and returns wall seconds and peak RSS (MB, when /usr/bin/time exists). */
function measure(command, args, extraEnv = {}) {
  const started = process.hrtime.bigint();
  const options = { env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 30 };
  const run = timeBin ? spawnSync(timeBin, ['-f', '%M', command, ...args], options) : spawnSync(command, args, options);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0 && run.status !== 5)
    throw new Error(`${command} ${args.join(' ')} exited ${run.status}: ${run.stderr.slice(-2000)}`);
  const rss = timeBin ? Number(run.stderr.trim().split('\n').at(-1)) / 1024 : NaN;
  return { seconds, rss };
}

// Baseline: a bare csv-parse → zod → SQLite loop over the same file, in a child process.
const baselineScript = join(dir, 'baseline.mjs');
writeFileSync(
  baselineScript,
  `import { createReadStream } from 'node:fs';
import { parse } from ${JSON.stringify(import.meta.resolve('csv-parse'))};
import Database from ${JSON.stringify(import.meta.resolve('better-sqlite3'))};
import { z } from ${JSON.stringify(import.meta.resolve('zod'))};
const Row = z.object({ national_id: z.string().min(1), full_name: z.string(), contact_phone: z.string(), payment_method: z.string(), account_no: z.string() });
const db = new Database(process.argv[3]);
db.exec('PRAGMA journal_mode = WAL'); db.exec('PRAGMA synchronous = NORMAL');
db.exec('CREATE TABLE id_fa_mappings (id INTEGER PRIMARY KEY, id_value TEXT NOT NULL UNIQUE, fa_value TEXT NOT NULL, name TEXT, phone TEXT, additional_info TEXT, created_at TEXT, updated_at TEXT)');
const insert = db.prepare('INSERT INTO id_fa_mappings (id_value, fa_value, name, phone, additional_info, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
const now = new Date().toISOString();
let batch = [];
const flush = db.transaction((rows) => { for (const r of rows) insert.run('token:' + r.national_id + '@nationalId', 'account_number:' + r.account_no + '.fa_type:BANK', r.full_name, r.contact_phone, '[{"strategy_id":2}]', now, now); });
for await (const record of createReadStream(process.argv[2]).pipe(parse({ columns: true }))) {
  const row = Row.parse(record);
  batch.push(row);
  if (batch.length === 10000) { flush(batch); batch = []; }
}
flush(batch);
db.close();
`,
);

const results = [];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
/**
 * One table row from the rounds of a measure: the median time, the median of the per-round
 * speeds against that round's baseline (a slow spell of the machine slows both alike), and the
 * highest peak RSS of any round.
 */
const row = (label, rounds, count, baselines) => {
  const seconds = median(rounds.map((m) => m.seconds));
  const speed = baselines ? median(rounds.map((m, i) => (baselines[i].seconds / m.seconds) * (count / n))) : 1;
  const rss = Math.max(...rounds.map((m) => m.rss));
  results.push([
    label,
    `${seconds.toFixed(2)} s`,
    `${Math.round(count / seconds).toLocaleString('en')} rows/s`,
    speed.toFixed(2),
    Number.isNaN(rss) ? '' : `${Math.round(rss)} MB`,
  ]);
};

// The local measures run in rounds, each in the same order, so that every sparctl figure has a
// baseline measured next to it. BENCH_ROUNDS sets how many (default 3); figures are medians.
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const measures = { baseline: [], first: [], rerun: [], small: [], oneThread: [] };
for (let round = 0; round < rounds; round++) {
  for (const file of ['baseline.db', 'mapper.db', 'small.db', 'one-thread.db'])
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, file + suffix), { force: true });
  measures.baseline.push(measure(process.execPath, [baselineScript, csv, join(dir, 'baseline.db')]));
  const importArgs = [
    bin,
    '--create',
    '--db',
    join(dir, 'mapper.db'),
    'import-csv',
    csv,
    '--mapping',
    mapping,
    '--dfsp',
    dfsp,
    '-q',
    '--rejects',
    join(dir, 'rejects.csv'),
    '--overwrite',
  ];
  measures.first.push(measure(process.execPath, importArgs));
  measures.rerun.push(measure(process.execPath, importArgs));
  // Memory should not grow with the file: the same import of a file a fifth the size.
  measures.small.push(
    measure(process.execPath, [
      bin,
      '--create',
      '--db',
      join(dir, 'small.db'),
      'import-csv',
      remoteCsv,
      '--mapping',
      mapping,
      '--dfsp',
      dfsp,
      '-q',
      '--rejects',
      join(dir, 'small-rejects.csv'),
    ]),
  );
  // What the writer thread is worth: the same new import with everything on one thread.
  const oneThreadArgs = [
    bin,
    '--create',
    '--db',
    join(dir, 'one-thread.db'),
    'import-csv',
    csv,
    '--mapping',
    mapping,
    '--dfsp',
    dfsp,
    '-q',
    '--rejects',
    join(dir, 'rejects.csv'),
    '--overwrite',
  ];
  measures.oneThread.push(measure(process.execPath, oneThreadArgs, { SPARCTL_WRITER_THREAD: 'off' }));
}
row(`baseline: csv-parse → zod → SQLite (${n.toLocaleString('en')} rows)`, measures.baseline, n);
row('sparctl import-csv, local, all new', measures.first, n, measures.baseline);
row('sparctl import-csv, local, re-run (all unchanged)', measures.rerun, n, measures.baseline);
row(
  `sparctl import-csv, local, all new, ${remoteN.toLocaleString('en')} rows (memory vs size)`,
  measures.small,
  remoteN,
  measures.baseline,
);
row('sparctl import-csv, local, all new, one thread (SPARCTL_WRITER_THREAD=off)', measures.oneThread, n, measures.baseline);

// Remote: the same import into `sparctl serve` on loopback.
const served = spawn(process.execPath, [bin, '--create', '--db', join(dir, 'served.db'), 'serve', '--port', '0', '-q'], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
const url = await new Promise((resolve, reject) => {
  let text = '';
  served.stderr.setEncoding('utf8').on('data', (chunk) => {
    text += chunk;
    const match = /listening on (\S+) /.exec(text);
    if (match) resolve(match[1]);
  });
  served.on('exit', () => reject(new Error(text)));
});
const remoteEnv = { ...env, SPARCTL_BASE_URL: url };
const remoteStarted = process.hrtime.bigint();
const remoteRun = spawnSync(
  process.execPath,
  [bin, 'import-csv', remoteCsv, '--mapping', mapping, '--dfsp', dfsp, '-q', '--rejects', join(dir, 'remote-rejects.csv')],
  { env: remoteEnv, encoding: 'utf8' },
);
const remote = { seconds: Number(process.hrtime.bigint() - remoteStarted) / 1e9, rss: NaN };
// serve's own link throughput: pre-built SPAR v2 link requests (500 items, 4 in flight), no CSV.
const { Pool } = await import(import.meta.resolve('undici'));
const pool = new Pool(url, { connections: 4 });
const bodies = [];
for (let start = 0; start < remoteN; start += 500) {
  const items = [];
  for (let i = start; i < Math.min(remoteN, start + 500); i++) {
    items.push({
      reference_id: `r${i}`,
      timestamp: new Date().toISOString(),
      id: `SERVE-${i}`,
      fa: {
        strategy_id: 2,
        fa_type: 'BANK',
        bank_name: 'Land Bank',
        bank_code: 'LBP',
        branch_name: 'Main',
        branch_code: '0012',
        account_number: String(i).padStart(12, '0'),
      },
      name: `Person ${i}`,
      locale: 'en',
    });
  }
  bodies.push(
    JSON.stringify({
      request_header: {
        sender_app_mnemonic: 'bench',
        sender_app_url: '',
        request_id: `b${start}`,
        request_timestamp: new Date().toISOString(),
        instance_id: null,
      },
      request_body: { request_payload: { transaction_id: `t${start}`, link_request: items } },
    }),
  );
}
const serveStarted = process.hrtime.bigint();
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const response = await pool.request({ method: 'POST', path: '/mapper/link', headers: { 'content-type': 'application/json' }, body });
      const answer = await response.body.json();
      if (answer.response_header?.response_status !== 'SUCCESS') throw new Error(`serve answered ${JSON.stringify(answer).slice(0, 300)}`);
    }
  }),
);
const serveLink = { seconds: Number(process.hrtime.bigint() - serveStarted) / 1e9, rss: NaN };
await pool.close();
served.kill('SIGTERM');
if (remoteRun.status !== 0) throw new Error(`remote import exited ${remoteRun.status}: ${remoteRun.stderr}`);
// Measured once, against the last round's baseline.
const lastBaseline = [measures.baseline.at(-1)];
row(`sparctl import-csv → serve on loopback (${remoteN.toLocaleString('en')} rows)`, [remote], remoteN, lastBaseline);
row(
  `sparctl serve: link throughput (${remoteN.toLocaleString('en')} records, 500 per request, 4 in flight)`,
  [serveLink],
  remoteN,
  lastBaseline,
);

const nodeStart = Math.min(...[1, 2, 3, 4, 5].map(() => measure(process.execPath, ['-e', '0']).seconds));
const help = Math.min(...[1, 2, 3, 4, 5].map(() => measure(process.execPath, [bin, '--help']).seconds));
results.push(['baseline: node -e 0 (best of 5)', `${(nodeStart * 1000).toFixed(0)} ms`, '', '1.00', '']);
results.push(['sparctl --help (best of 5)', `${(help * 1000).toFixed(0)} ms`, '', `${(help / nodeStart).toFixed(2)}× node start`, '']);

const table = [['measure', 'time', 'rate', 'speed vs baseline', 'peak RSS'], ...results];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
for (const r of table) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
console.log(
  `\nnode ${process.version}; ${n.toLocaleString('en')} rows (${remoteN.toLocaleString('en')} remote); local measures: median of ${rounds} round${rounds === 1 ? '' : 's'}, peak RSS the highest; speed = baseline time per row ÷ sparctl time per row, each against the baseline of its round`,
);
rmSync(dir, { recursive: true, force: true });
