/**
 * Row filters end to end, on a CSV shaped like an ODK Central export as a European-locale
 * spreadsheet saves it (`;`, BOM, CRLF) made by the test: the mapping's `where`, and the
 * ReviewState=rejected rows import-csv skips by default as import-odk does (--skip-review).
 * Skipped rows are counted apart (`skipped (filter)`), never mapped (a broken bank code in one is
 * no reject), never a row of their ID (a later skipped row does not supersede the ID's row), and
 * a run killed mid-way resumes with the counts adding up.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, cliEnv, runCli, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const HEADER = [
  'SubmissionDate',
  'beneficiary-national_id',
  'beneficiary-full_name',
  'payment-bank_code',
  'payment-branch_code',
  'payment-account_number',
  'payment-payment_consent',
  'KEY',
  'ReviewState',
];

const MAPPING = {
  id: 'beneficiary-national_id',
  name: 'beneficiary-full_name',
  fa: {
    type: { const: 'BANK' },
    bank_code: 'payment-bank_code',
    branch_code: 'payment-branch_code',
    account_number: 'payment-account_number',
  },
  where: [{ column: 'payment-payment_consent', equals: 'yes' }],
};

const DFSP = {
  banks: [{ code: 'EXB', name: 'Example Bank' }],
  branches: [{ bank_code: 'EXB', code: '0001', name: 'Main' }],
  wallet_providers: [],
};

/** An ODK Central CSV export as Excel saves it in a `;` locale: BOM, CRLF. */
function odkCsv(rows: readonly (readonly string[])[]): string {
  return `\uFEFF${[HEADER, ...rows].map((cells) => cells.join(';')).join('\r\n')}\r\n`;
}

const row = (id: string, account: string, consent: string, review: string, bank = 'EXB') =>
  ['2026-03-14T06:40:13.051Z', id, `Person ${id}`, bank, '0001', account, consent, `uuid:${id}-${account}`, review] as const;

function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-filters-');
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING));
  writeFileSync(join(dir, 'dfsp.json'), JSON.stringify(DFSP));
  const db = join(dir, 'mapper.db');
  const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
  const importArgs = ['import-csv', 'export.csv', '--mapping', 'mapping.json', '--dfsp', 'dfsp.json', '--delimiter', ';'];
  return { dir, db, env, sparctl, importArgs };
}

const accountOf = (stdout: string) =>
  (JSON.parse(stdout) as { results: { fa?: { account_number?: string } }[] }).results[0]?.fa?.account_number;

describe('row filters (mapping where/skip, --skip-review)', () => {
  it('skips rejected submissions and rows without consent: counted apart, never mapped, never an ID’s row', async () => {
    const { dir, sparctl, importArgs } = setup();
    writeFileSync(
      join(dir, 'export.csv'),
      odkCsv([
        row('A1', '111', 'yes', 'approved'), // line 2: linked
        row('A2', '222', 'yes', 'rejected', 'NOPE'), // line 3: skipped (review), its unknown bank never looked at
        row('A3', '333', 'no', '', 'NOPE'), // line 4: skipped (no consent)
        row('A1', '999', 'yes', 'rejected'), // line 5: skipped: A1's row is still line 2
        row('A4', '444', ' YES ', 'hasIssues'), // line 6: linked (case and spaces ignored)
        row('A5', '555', 'yes', ''), // line 7: linked, though a later row of A5 says no
        row('A5', '556', 'no', 'approved'), // line 8: skipped
      ]),
    );
    const first = await sparctl(['--create', '-o', 'json', ...importArgs, '--results', 'results.jsonl']);
    expect(first.code, first.stderr).toBe(0);
    const summary = (JSON.parse(first.stdout) as { summary: Record<string, unknown> }).summary;
    expect(summary).toMatchObject({
      total: 7,
      applied: 3,
      superseded: 0,
      skipped: 4,
      rejected: 0,
      notSent: 0,
      skippedBy: {
        'ReviewState is rejected (--skip-review)': 2,
        'payment-payment_consent is not yes (where.0)': 2,
      },
    });
    expect(first.stderr).toMatch(/skipped \(filter\)/);
    expect(first.stderr).toContain(
      'skipped (filter): 4 (left out by a filter, never mapped or sent: ReviewState is rejected (--skip-review): 2; payment-payment_consent is not yes (where.0): 2)',
    );
    // Not rejects: no reject file.
    expect(existsSync(join(dir, 'export.rejects.csv'))).toBe(false);
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(results.map((r) => [r['line'], r['id'], r['fate'], r['code']])).toEqual([
      [2, 'A1', 'applied', null],
      [3, 'A2', 'skipped', 'filter.review_state'],
      [4, 'A3', 'skipped', 'filter.where'],
      [5, 'A1', 'skipped', 'filter.review_state'],
      [6, 'A4', 'applied', null],
      [7, 'A5', 'applied', null],
      [8, 'A5', 'skipped', 'filter.where'],
    ]);
    expect(results[2]!['message']).toBe('skipped: payment-payment_consent is "no" (payment-payment_consent is not yes (where.0))');
    expect(accountOf((await sparctl(['-o', 'json', 'resolve', 'A1'])).stdout)).toBe('111');
    expect(accountOf((await sparctl(['-o', 'json', 'resolve', 'A5'])).stdout)).toBe('555');
    const never = JSON.parse((await sparctl(['-o', 'json', 'resolve', 'A2', 'A3'])).stdout) as { results: { outcome: string }[] };
    expect(never.results.map((r) => r.outcome)).toEqual(['not_found', 'not_found']);

    // --skip-review "" imports the rejected submissions too (a new job): A1's last row is now line 5,
    // and A2's unknown bank is a reject like any other.
    const all = await sparctl(['-o', 'json', ...importArgs, '--skip-review', '']);
    expect(all.code, all.stderr).toBe(5);
    expect((JSON.parse(all.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({
      applied: 1,
      superseded: 1,
      skipped: 2,
      rejected: 1,
      rejectedBy: { 'mapping.unknown_bank': 1 },
    });
    expect(accountOf((await sparctl(['-o', 'json', 'resolve', 'A1'])).stdout)).toBe('999');
  });

  it("an ODK export lists the newest submission first: an ID's newest decides, not its last row; a rejected newest leaves the next", async () => {
    const { dir, env, sparctl, importArgs } = setup();
    const at = (stamp: string, id: string, account: string, review: string) =>
      [stamp, ...row(id, account, 'yes', review).slice(1)] as readonly string[];
    writeFileSync(
      join(dir, 'export.csv'),
      odkCsv([
        at('2026-12-05T09:12:44.120Z', 'N1', '555', 'approved'), // line 2: N1's newest, decides
        at('2026-12-03T10:00:00.000Z', 'N2', '777', 'rejected'), // line 3: N2's newest, rejected: left out
        at('2026-12-01T08:15:30.123Z', 'N1', '111', ''), // line 4: older than line 2: left out
        at('2026-12-02T08:00:00.000Z', 'N2', '666', 'approved'), // line 5: N2's newest kept, decides
        at('2026-12-06T07:00:00.000Z', 'N3', '300', ''), // line 6: superseded by line 7 (newer, below it)
        at('2026-12-07T07:00:00.000Z', 'N3', '301', ''), // line 7: decides
        at('05/12/2026 09:12', 'N4', '400', ''), // line 8: not Central's stamp: which is newer cannot be told
        at('2026-12-01T08:00:00.000Z', 'N4', '401', ''), // line 9: N4's last row, rejected: nothing written for N4
      ]),
    );
    const run = await sparctl(['--create', '-o', 'json', ...importArgs, '--results', 'results.jsonl']);
    expect(run.code, run.stderr).toBe(5);
    expect((JSON.parse(run.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({
      total: 8,
      applied: 3,
      superseded: 2,
      skipped: 2,
      rejected: 1,
      rejectedBy: { 'input.submission_order': 1 },
      skippedBy: {
        'ReviewState is rejected (--skip-review)': 1,
        'an older submission of an ID than a row above it (ODK Central exports the newest first)': 1,
      },
    });
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(results.map((r) => [r['line'], r['id'], r['fate'], r['code'] ?? null])).toEqual([
      [2, 'N1', 'applied', null],
      [3, 'N2', 'skipped', 'filter.review_state'],
      [4, 'N1', 'skipped', 'filter.older_submission'],
      [5, 'N2', 'applied', null],
      [6, 'N3', 'superseded', null],
      [7, 'N3', 'applied', null],
      [8, 'N4', 'superseded', null],
      [9, 'N4', 'rejected', 'input.submission_order'],
    ]);
    expect(results[7]!['message']).toContain('which submission is the newest cannot be told; nothing was sent for this ID');
    expect(results[2]!['message']).toContain('SubmissionDate 2026-12-01T08:15:30.123Z is older than a row above it of the same ID');
    const accounts = async (id: string) => accountOf((await sparctl(['-o', 'json', 'resolve', id])).stdout);
    expect([await accounts('N1'), await accounts('N2'), await accounts('N3'), await accounts('N4')]).toEqual([
      '555',
      '666',
      '301',
      undefined,
    ]);
    // Run again: nothing changes.
    const again = await sparctl(['-o', 'json', ...importArgs]);
    expect((JSON.parse(again.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({
      applied: 0,
      unchanged: 3,
      rejected: 1,
    });

    // The same export saved as a workbook (text cells, as Excel keeps Central's stamps): the same rule.
    const book = new ExcelJS.Workbook();
    const sheet = book.addWorksheet('export');
    const csv = readFileSync(join(dir, 'export.csv'), 'utf8')
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    for (const line of csv) sheet.addRow(line.split(';'));
    await book.xlsx.writeFile(join(dir, 'export.xlsx'));
    const workbookRun = await runMain(
      [
        '--db',
        join(dir, 'book.db'),
        '--create',
        '-o',
        'json',
        'import-csv',
        'export.xlsx',
        '--mapping',
        'mapping.json',
        '--dfsp',
        'dfsp.json',
      ],
      { env, cwd: dir },
    );
    expect(workbookRun.code, workbookRun.stderr).toBe(5);
    const fromBook = async (id: string) =>
      accountOf((await runMain(['--db', join(dir, 'book.db'), '-o', 'json', 'resolve', id], { env, cwd: dir })).stdout);
    expect([await fromBook('N1'), await fromBook('N2'), await fromBook('N3'), await fromBook('N4')]).toEqual([
      '555',
      '666',
      '301',
      undefined,
    ]);
  });

  it('refuses a filter on a column the file lacks before reading a row, with the column it may mean', async () => {
    const { dir, db, sparctl, importArgs } = setup();
    writeFileSync(join(dir, 'export.csv'), odkCsv([row('A1', '111', 'yes', '')]));
    writeFileSync(join(dir, 'mapping.json'), JSON.stringify({ ...MAPPING, skip: { column: 'reviewstate', in: ['rejected'] } }));
    const r = await sparctl(['--create', ...importArgs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the mapping reads column "reviewstate" (did you mean "ReviewState"?), which the file does not have');
    expect(dbCountsSync(db).rowsIn).toBe(0);
    // A mistake in the filter itself is a mapping error, also exit 2.
    writeFileSync(join(dir, 'mapping.json'), JSON.stringify({ ...MAPPING, where: [{ column: 'payment-payment_consent' }] }));
    const bad = await sparctl(importArgs);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('mapping.json: where.0: needs exactly one of "equals", "in"');
  });

  it('killed mid-run, the same command resumes: skipped rows counted in every run, every other row linked once', async () => {
    const { dir, db, env, importArgs } = setup();
    const ROWS = 6000;
    const rows: string[][] = [];
    // Every third row is skipped (a rejected review or no consent); every fifth ID comes twice,
    // its second row skipped, so that a skipped row must not supersede the ID's row.
    for (let i = 0; i < ROWS; i++) {
      const id = `P${String(i % 5 === 4 ? i - 1 : i).padStart(5, '0')}`;
      const skipped = i % 3 === 2 || i % 5 === 4;
      rows.push([...row(id, String(7e9 + i), skipped && i % 2 === 0 ? 'no' : 'yes', skipped && i % 2 === 1 ? 'rejected' : '')]);
    }
    writeFileSync(join(dir, 'export.csv'), odkCsv(rows));
    const expectedSkipped = rows.filter((_, i) => i % 3 === 2 || i % 5 === 4).length;
    const kept = ROWS - expectedSkipped;
    const args = ['--db', db, '--create', '-o', 'json', ...importArgs, '--batch-size', '20', '--concurrency', '1'];
    const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env, cwd: dir, stdio: 'ignore' });
      const poll = setInterval(() => {
        if (dbCountsSync(db).rowsIn > 0) child.kill('SIGKILL');
      }, 5);
      child.on('exit', (_code, signal) => {
        clearInterval(poll);
        resolve(signal);
      });
    });
    expect(killed).toBe('SIGKILL');
    expect(dbCountsSync(db).rowsIn).toBeLessThan(kept);
    const again = await runCli(args, { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    const summary = (JSON.parse(again.stdout) as { summary: Record<string, number> }).summary;
    expect(summary['total']).toBe(ROWS);
    expect(summary['skipped']).toBe(expectedSkipped);
    expect(summary['superseded']).toBe(0);
    expect(summary['rejected']).toBe(0);
    expect(summary['notSent']).toBe(0);
    // What the killed run linked is found unchanged (or settled) now; nothing is linked twice.
    expect(summary['applied']! + summary['confirmed']! + summary['unchanged']!).toBe(kept);
    expect(dbCountsSync(db)).toEqual({ rowsIn: kept, links: kept, linkedIds: kept });
  }, 60_000);
});

/** Mapper rows, link audit rows and distinct linked IDs (zeros when the database does not exist yet). */
function dbCountsSync(path: string): { rowsIn: number; links: number; linkedIds: number } {
  try {
    const db = openDatabase(path, { readonly: true, fileMustExist: true });
    const { n } = prepare(db, 'SELECT count(*) AS n FROM id_fa_mappings').get() as { n: number };
    const links = prepare(db, "SELECT count(*) AS n, count(DISTINCT id_value) AS ids FROM audit_log WHERE operation = 'link'").get() as {
      n: number;
      ids: number;
    };
    db.close();
    return { rowsIn: n, links: links.n, linkedIds: links.ids };
  } catch {
    return { rowsIn: 0, links: 0, linkedIds: 0 };
  }
}
