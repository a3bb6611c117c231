/**
 * A reject file fed back keeps pointing at the input first read (field note m13): round after
 * round, `sparctl_line` is the line of the original export, and the local mapper's audit row of a
 * row fixed in a later round names both lines. In process (runMain) against a real SQLite mapper.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const HEADER =
  'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';

/** An export row of household n; `bank` ZZZ is a bank the DFSP list does not know (rejected every round). */
const exportRow = (n: number, bank = 'LBP') => {
  const nn = String(n).padStart(4, '0');
  return `HH-${nn},00041234${nn},Persona ${nn},0917 555 0101,bank,${bank},0012,00123456${nn},,,`;
};

function setup(prefix: string) {
  const { env } = cliEnv();
  const dir = tempDir(prefix);
  const db = join(dir, 'mapper.db');
  const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
  return { dir, db, sparctl };
}

const csvRows = (path: string) => parse(readFileSync(path, 'utf8'), { columns: true, bom: true }) as Record<string, string>[];

function auditSources(db: string): { id_value: string; source: string }[] {
  const handle = openDatabase(db, { readonly: true });
  try {
    return prepare(handle, 'SELECT id_value, source FROM audit_log ORDER BY id').all() as { id_value: string; source: string }[];
  } finally {
    handle.close();
  }
}

describe('reject files fed back keep the line of the original export', () => {
  it('import-csv: round two and three write the export line; a row fixed in round two is audited with it', async () => {
    const { dir, db, sparctl } = setup('sparctl-reject-lines-');
    // Export lines 3, 5 and 7 are rejected (unknown bank); 2, 4 and 6 link.
    const rows = [1, 2, 3, 4, 5, 6].map((n) => exportRow(n, n % 2 === 0 ? 'ZZZ' : 'LBP'));
    writeFileSync(join(dir, 'x.csv'), `${HEADER}\n${rows.join('\n')}\n`);
    const args = ['--mapping', MAPPING, '--dfsp', DFSP];
    const first = await sparctl(['--create', 'import-csv', 'x.csv', ...args]);
    expect(first.code, first.stderr).toBe(5);
    const round1 = csvRows(join(dir, 'x.rejects.csv'));
    expect(round1.map((r) => [r['sparctl_line'], r['household_no']])).toEqual([
      ['3', 'HH-0002'],
      ['5', 'HH-0004'],
      ['7', 'HH-0006'],
    ]);

    // Round two: HH-0004 (rejects line 3, export line 5) fixed, the others fed back as they are.
    const fixed = readFileSync(join(dir, 'x.rejects.csv'), 'utf8').replace(/(HH-0004,[^\n]*?),ZZZ,/, '$1,LBP,');
    writeFileSync(join(dir, 'x.rejects.csv'), fixed);
    const second = await sparctl(['import-csv', 'x.rejects.csv', ...args, '--results', 'r2.csv']);
    expect(second.code, second.stderr).toBe(5);
    const round2 = csvRows(join(dir, 'x.rejects.rejects.csv'));
    expect(round2.map((r) => [r['sparctl_line'], r['household_no']])).toEqual([
      ['3', 'HH-0002'],
      ['7', 'HH-0006'],
    ]);
    // --results keeps the line read (its rows are the file's), with the export's in origin.
    expect(csvRows(join(dir, 'r2.csv')).map((r) => [r['line'], r['fate'], r['origin']])).toEqual([
      ['2', 'rejected', 'original line 3'],
      ['3', 'applied', 'original line 5'],
      ['4', 'rejected', 'original line 7'],
    ]);
    const audit = auditSources(db).filter((row) => row.id_value === 'token:000412340004@nationalId');
    expect(audit.map((row) => row.source)).toEqual(['sparctl import-csv x.rejects.csv line 3 (original line 5)']);
    // A row of the first round names its own line only.
    expect(auditSources(db).find((row) => row.id_value === 'token:000412340001@nationalId')?.source).toBe(
      'sparctl import-csv x.csv line 2',
    );

    // Round three, fed back unchanged: the export's lines still. A dry run's list of rejects names both.
    const dry = await sparctl(['import-csv', 'x.rejects.rejects.csv', ...args, '--dry-run']);
    expect(dry.stderr).toContain('line 2 (original line 3), ID token:000412340002@nationalId');
    const third = await sparctl(['import-csv', 'x.rejects.rejects.csv', ...args]);
    expect(third.code, third.stderr).toBe(5);
    expect(csvRows(join(dir, 'x.rejects.rejects.rejects.csv')).map((r) => [r['sparctl_line'], r['household_no']])).toEqual([
      ['3', 'HH-0002'],
      ['7', 'HH-0006'],
    ]);
  });

  it('link --file JSONL: the JSONL rejects keep the line; a sparctl_line that is no positive whole number gives the row its own', async () => {
    const { dir, sparctl } = setup('sparctl-reject-lines-jsonl-');
    const fa = { fa_type: 'BANK', bank_name: 'Example Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001' };
    const records = [
      { id: 'B1', fa: { ...fa, account_number: '1' } },
      { id: 'B2', ...fa, strategy_id: 77, account_number: '2' }, // no strategy 77: rejected every round
      { id: 'B3', fa: { ...fa, account_number: '3' } },
      { id: 'B4', ...fa, strategy_id: 77, account_number: '4' },
    ];
    writeFileSync(join(dir, 'j.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    expect((await sparctl(['--create', 'link', '--file', 'j.jsonl'])).code).toBe(5);
    const lines = (path: string) =>
      readFileSync(join(dir, path), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines('j.rejects.jsonl').map((r) => [r['sparctl_id'], r['sparctl_line']])).toEqual([
      ['B2', 2],
      ['B4', 4],
    ]);
    expect((await sparctl(['link', '--file', 'j.rejects.jsonl'])).code).toBe(5);
    expect(lines('j.rejects.rejects.jsonl').map((r) => [r['sparctl_id'], r['sparctl_line']])).toEqual([
      ['B2', 2],
      ['B4', 4],
    ]);
    // Edited by hand: digits as text count; 0, a fraction, a negative number or words do not.
    for (const [value, expected] of [
      ['"12"', 12],
      ['0', 9],
      ['2.5', 9],
      ['-4', 9],
      ['"line 4"', 9],
      ['null', 9],
    ] as const) {
      const edited = `${'\n'.repeat(8)}${JSON.stringify(records[1]).replace(/\}$/, `,"sparctl_line":${value}}`)}\n`;
      writeFileSync(join(dir, 'edited.jsonl'), edited);
      expect((await sparctl(['link', '--file', 'edited.jsonl', '--rejects', 'e.rejects.jsonl', '--overwrite'])).code).toBe(5);
      expect(lines('e.rejects.jsonl')[0]!['sparctl_line'], value).toBe(expected);
    }
  });
});
