#!/usr/bin/env node
// Benchmarks sparctl against baselines measured in the same run; prints ratios, never asserts.
//   npm run bench            (N=50000 records by default; BENCH_N to change)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'sparctl.js');
const n = Number(process.env.BENCH_N ?? 50_000);
const dir = mkdtempSync(join(tmpdir(), 'sparctl-bench-'));

const header = 'id,name,phone_number,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number';
const rows = [header];
for (let i = 0; i < n; i++) {
  rows.push(`BENE_${String(i).padStart(8, '0')},Person ${i},+63 917 ${String(i % 10_000_000).padStart(7, '0')},BANK,2,Example Bank,EXB,Main,${String(i % 100).padStart(4, '0')},${String(1e9 + i)}`);
}
const csv = join(dir, 'bench.csv');
writeFileSync(csv, `${rows.join('\n')}\n`);

function time(fn) {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function sparctl(args) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } });
  if (run.status !== 0 && run.status !== 5) throw new Error(`sparctl ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run;
}

// Baseline: the same rows inserted straight into the same table shape with better-sqlite3.
const baseDb = new Database(join(dir, 'baseline.db'));
baseDb.pragma('journal_mode = WAL');
baseDb.pragma('synchronous = NORMAL');
baseDb.exec('CREATE TABLE id_fa_mappings (id INTEGER PRIMARY KEY, id_value TEXT NOT NULL UNIQUE, fa_value TEXT NOT NULL, name TEXT, phone TEXT, additional_info TEXT, created_at TEXT, updated_at TEXT)');
const insert = baseDb.prepare('INSERT INTO id_fa_mappings (id_value, fa_value, name, phone, additional_info, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
const baseline = time(() => {
  const now = new Date().toISOString();
  for (let start = 1; start <= n; start += 500) {
    baseDb.transaction(() => {
      for (let i = start; i < Math.min(start + 500, n + 1); i++) {
        const c = rows[i].split(',');
        insert.run(c[0], `account_number:${c[9]}.branch_name:${c[7]}.branch_code:${c[8]}.bank_name:${c[5]}.bank_code:${c[6]}.fa_type:BANK`, c[1], c[2], '[{"strategy_id":2}]', now, now);
      }
    })();
  }
});
baseDb.close();

const db = join(dir, 'mapper.db');
const link = time(() => sparctl(['--db', db, 'link', '--file', csv, '-q', '-o', 'jsonl']));
const relink = time(() => sparctl(['--db', db, 'link', '--file', csv, '-q', '-o', 'jsonl']));
const resolve = time(() => sparctl(['--db', db, 'resolve', '--file', csv, '-q', '-o', 'jsonl']));
const nodeStart = Math.min(...[1, 2, 3, 4, 5].map(() => time(() => spawnSync(process.execPath, ['-e', '0']))));
const helpStart = Math.min(...[1, 2, 3, 4, 5].map(() => time(() => sparctl(['--help']))));

const rate = (seconds) => `${Math.round(n / seconds).toLocaleString('en')} rec/s`;
const table = [
  ['measure', 'time', 'rate', 'ratio to baseline'],
  ['baseline: raw better-sqlite3 insert, 500/txn', `${baseline.toFixed(2)} s`, rate(baseline), '1.00'],
  [`sparctl link --file (${n} new)`, `${link.toFixed(2)} s`, rate(link), (baseline / link).toFixed(2)],
  [`sparctl link --file again (${n} already linked)`, `${relink.toFixed(2)} s`, rate(relink), (baseline / relink).toFixed(2)],
  [`sparctl resolve --file (${n}, details)`, `${resolve.toFixed(2)} s`, rate(resolve), (baseline / resolve).toFixed(2)],
  ['baseline: node -e 0 (best of 5)', `${(nodeStart * 1000).toFixed(0)} ms`, '', '1.00'],
  ['sparctl --help (best of 5)', `${(helpStart * 1000).toFixed(0)} ms`, '', (helpStart / nodeStart).toFixed(2) + '× node start'],
];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
console.log(`\nnode ${process.version}, ${n} records; record rates: higher ratio = closer to the raw insert baseline`);
rmSync(dir, { recursive: true, force: true });
