/**
 * Lost leading zeros told from the whole column, end to end (`import-csv` of a CSV): a
 * 12-digit national_id column where three values lost their zeros to a spreadsheet, and an
 * account number that did: those rows are rejected with the reason (the rest linked), the
 * printed re-feed links them once fixed, and a dry run that takes the index kept by the first
 * run (no rows read before it) decides the same.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { ROOT, cliEnv } from '../helpers/run-cli.js';
import { refeedArgs, runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const MAPPING = join(ROOT, 'fixtures', 'enumeration.mapping.json');
const DFSP = join(ROOT, 'fixtures', 'dfsp.json');
const HEADER =
  'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';

const id = (n: number) => `00041234${String(n).padStart(4, '0')}`;
const account = (n: number) => `00123456${String(n).padStart(4, '0')}`;
const line = (n: number, nid = id(n), acct = account(n)) => `HH-${n},${nid},Persona ${n},0917 555 0101,bank,LBP,0012,${acct},,,`;

function storedIds(db: string): string[] {
  if (!existsSync(db)) return [];
  const handle = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    return (prepare(handle, 'SELECT id_value FROM id_fa_mappings ORDER BY id_value').all() as { id_value: string }[]).map(
      (r) => r.id_value,
    );
  } finally {
    handle.close();
  }
}

describe('import-csv: a column whose values lost their leading zeros against the rest', () => {
  it('rejects the short IDs and account number with the reason, links the rest; the fixed rows feed back', async () => {
    const dir = tempDir('sparctl-zeros-');
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    // Rows 1..60 (lines 2..61): IDs 7, 30 and 55 lost their zeros; row 42's account did.
    const damaged = new Map([
      [7, line(7, '412340007')],
      [30, line(30, '412340030')],
      [55, line(55, '412340055')],
      [42, line(42, id(42), '1234560042')],
    ]);
    const rows = Array.from({ length: 60 }, (_, i) => damaged.get(i + 1) ?? line(i + 1));
    writeFileSync(join(dir, 'households.csv'), `${[HEADER, ...rows].join('\n')}\n`);
    const args = ['--db', db, 'import-csv', 'households.csv', '--mapping', MAPPING, '--dfsp', DFSP];
    const first = await runMain(['--create', '-o', 'json', ...args], { env, cwd: dir });
    expect(first.code, first.stderr).toBe(5);
    expect((JSON.parse(first.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({
      applied: 56,
      rejected: 4,
      rejectedBy: { 'mapping.leading_zeros_lost': 4 },
    });
    expect(storedIds(db)).toHaveLength(56);
    const rejects = readFileSync(join(dir, 'households.rejects.csv'), 'utf8');
    expect(rejects).toContain(
      'national_id ""412340007"" has 9 digits where 57 of this column\'s 60 all-digit values have 12, 57 of them starting with 0: a spreadsheet dropped its leading zeros (was it ""000412340007""?)',
    );
    expect(rejects).toContain('account_no ""1234560042"" has 10 digits where 59 of this column\'s 60 all-digit values have 12');
    expect(
      rejects
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(',')[0]),
    ).toEqual(['sparctl_line', '8', '31', '43', '56']);

    // The index kept by that run holds the column tally; a dry run takes it without reading the
    // rows first, and decides the same.
    const cache = join(env['XDG_CACHE_HOME']!, 'sparctl', 'index');
    const kept = readdirSync(cache).filter((f) => f.endsWith('.index.json'));
    expect(kept).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(cache, kept[0]!), 'utf8')).tally).toEqual([
      [
        'national_id',
        [
          [12, 57, 57],
          [9, 3, 0],
        ],
      ],
      [
        'account_no',
        [
          [12, 59, 59],
          [10, 1, 0],
        ],
      ],
    ]);
    const dry = await runMain(['-o', 'json', ...args, '--dry-run'], { env, cwd: dir });
    expect((JSON.parse(dry.stdout) as { summary: Record<string, unknown> }).summary).toMatchObject({
      wouldBeRejectedBy: { 'mapping.leading_zeros_lost': 4 },
    });

    const refeed = /re-feed the fixed rows: sparctl (.*)/.exec(first.stderr)?.[1];
    expect(refeed).toContain("import-csv 'households.rejects.csv'");
    const words = refeedArgs(refeed!);
    // Fed back unfixed: the reject file alone (4 rows) is no evidence of lost zeros, so the rows are
    // refused for what their reason says, not linked without their zeros.
    const unfixed = await runMain([...words, '-o', 'json', '--rejects', 'unfixed.csv'], { env, cwd: dir });
    expect(unfixed.code, unfixed.stderr).toBe(5);
    expect(JSON.parse(unfixed.stdout).summary.rejectedBy).toEqual({ 'mapping.damage_not_fixed': 4 });
    expect(readFileSync(join(dir, 'unfixed.csv'), 'utf8')).toContain(
      'is the value rejected before (mapping.leading_zeros_lost) and is fed back unchanged',
    );
    expect(storedIds(db)).toHaveLength(56);

    // Fixed in the reject file (the zeros typed back), fed back by the printed command: linked.
    writeFileSync(
      join(dir, 'households.rejects.csv'),
      rejects.replace(/,(41234\d{4}),/g, ',000$1,').replace(',1234560042,', ',001234560042,'),
    );
    const again = await runMain(words, { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    const ids = storedIds(db);
    expect(ids).toHaveLength(60);
    for (const n of [7, 30, 55]) expect(ids.some((stored) => stored.includes(id(n)))).toBe(true);
    expect(ids.some((stored) => /(?<!0)412340007/.test(stored))).toBe(false);
  });
});
