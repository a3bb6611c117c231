/**
 * Look-alike IDs, end to end in process (runMain): an ID typed with a composed accent (NFC) and
 * one typed with a combining accent (NFD) are one beneficiary, wherever the ID comes in; an ID
 * holding an invisible character is refused, naming the code point; one holding a space that
 * only looks like the ordinary one is refused where a new link would be made, and reachable
 * everywhere else. Real SQLite files in temp folders.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { ROOT, cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const NFC = 'JOS\u00c9_1';
const NFD = 'JOSE\u0301_1';
const ZWSP = 'BENE\u200b_2';
const RLO = 'BENE\u202e_3';
const NBSP = 'BENE\u00a04';
const NBSP_REFUSED =
  'id contains U+00A0 (NO-BREAK SPACE), which only looks like an ordinary space (linked, it would be another beneficiary); retype the ID';
const BANK = ['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001'];

function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-ids-');
  const db = join(dir, 'mapper.db');
  const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
  return { dir, db, sparctl };
}

/** Renames a stored beneficiary, as another client of the mapper could have linked it. */
function renameStored(db: string, from: string, to: string): void {
  const handle = openDatabase(db);
  try {
    expect(prepare(handle, 'UPDATE id_fa_mappings SET id_value = ? WHERE id_value = ?').run(to, from).changes).toBe(1);
  } finally {
    handle.close();
  }
}

function stored(db: string): { id_value: string; fa_value: string }[] {
  if (!existsSync(db)) return [];
  const handle = openDatabase(db, { readonly: true });
  try {
    return prepare(handle, 'SELECT id_value, fa_value FROM id_fa_mappings ORDER BY id').all() as { id_value: string; fa_value: string }[];
  } finally {
    handle.close();
  }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const csvRow = (id: string, account: string) => `${id},BANK,Example Bank,EXB,Main,0001,${account}`;
const CSV_HEADER = 'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number';

describe('look-alike IDs', () => {
  it('--id: NFC and NFD are one beneficiary (the second link is already linked; resolve of NFD finds it)', async () => {
    const { db, sparctl } = setup();
    expect((await sparctl(['--create', 'link', '--id', NFC, ...BANK, '--account-number', '111'])).code).toBe(0);
    const again = await sparctl(['link', '--id', NFD, ...BANK, '--account-number', '222']);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('already linked');
    expect(stored(db).map((m) => m.id_value)).toEqual([NFC]);
    const found = await sparctl(['resolve', NFD]);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ id: NFC, outcome: 'found' });
  });

  it('--id with an invisible or control character: exit 2 naming the code point, nothing written', async () => {
    const { db, sparctl } = setup();
    const cases: [string, string][] = [
      [ZWSP, 'U+200B (ZERO WIDTH SPACE), an invisible character'],
      [RLO, 'U+202E (RIGHT-TO-LEFT OVERRIDE), an invisible character'],
      ['A\u3164B', 'U+3164 (HANGUL FILLER), an invisible character'],
      ['A\ufe0fB', 'U+FE0F (VARIATION SELECTOR-16), an invisible character'],
      ['A\tB', 'U+0009 (CHARACTER TABULATION), a control character'],
    ];
    for (const [id, what] of cases) {
      const r = await sparctl(['--create', 'link', '--id', id, ...BANK, '--account-number', '111']);
      expect(r.code, id).toBe(2);
      expect(r.stderr).toContain(`[input.invalid_record]: invalid record: id contains ${what}; retype the ID; nothing was written`);
    }
    expect(stored(db)).toEqual([]);
    const resolve = await sparctl(['resolve', ZWSP]);
    expect(resolve.code).toBe(2);
    expect(resolve.stderr).toContain('U+200B (ZERO WIDTH SPACE)');
  });

  it('link --file CSV: the NFD row supersedes the NFC row of the same person (row index), an invisible ID is a reject with its line', async () => {
    const { dir, db, sparctl } = setup();
    writeFileSync(join(dir, 'in.csv'), [CSV_HEADER, csvRow(NFC, '111'), csvRow(ZWSP, '222'), csvRow(NFD, '333'), ''].join('\n'));
    const r = await sparctl(['--create', '-o', 'jsonl', 'link', '--file', 'in.csv']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(jsonLines(r.stdout).map((x) => [x['line'], x['id'], x['fate'], x['code'], x['superseded_by']])).toEqual([
      [2, NFC, 'superseded', null, 4],
      [3, ZWSP, 'rejected', 'input.invalid', null],
      [4, NFC, 'applied', null, null],
    ]);
    expect(stored(db)).toEqual([{ id_value: NFC, fa_value: expect.stringContaining('account_number:333.') }]);
    const rejects = readFileSync(join(dir, 'in.rejects.csv'), 'utf8');
    expect(rejects).toContain(
      `3,id,input.invalid,"id contains U+200B (ZERO WIDTH SPACE), an invisible character; retype the ID",${csvRow(ZWSP, '222')}`,
    );
  });

  it('link --file JSONL: the same, through the index built from the records themselves', async () => {
    const { dir, db, sparctl } = setup();
    const fa = { fa_type: 'BANK', bank_name: 'Example Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001' };
    const lines = [
      { id: NFD, fa: { ...fa, account_number: '111' } },
      { id: RLO, fa: { ...fa, account_number: '222' } },
      { id: NFC, fa: { ...fa, account_number: '333' } },
    ];
    writeFileSync(join(dir, 'in.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const r = await sparctl(['--create', '-o', 'jsonl', 'link', '--file', 'in.jsonl']);
    expect(r.code, r.stderr).toBe(5);
    expect(jsonLines(r.stdout).map((x) => [x['line'], x['id'], x['fate'], x['superseded_by']])).toEqual([
      [1, NFC, 'superseded', 3],
      [2, RLO, 'rejected', null],
      [3, NFC, 'applied', null],
    ]);
    expect(stored(db)).toEqual([{ id_value: NFC, fa_value: expect.stringContaining('account_number:333.') }]);
    // unlink --file of the NFD spelling removes the NFC-stored beneficiary.
    writeFileSync(join(dir, 'gone.csv'), `id\n${NFD}\n`);
    const unlink = await sparctl(['unlink', '--file', 'gone.csv', '--yes']);
    expect(unlink.code, unlink.stderr).toBe(0);
    expect(stored(db)).toEqual([]);
  });

  it('import-csv: IDs read through a mapping are NFC too, and an invisible one is rejected', async () => {
    const { dir, db, sparctl } = setup();
    expect((await sparctl(['--create', 'dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json')])).code).toBe(0);
    writeFileSync(
      join(dir, 'map.json'),
      JSON.stringify({
        id: 'pid',
        name: 'full_name',
        fa: { type: { const: 'BANK' }, bank_code: 'bank', branch_code: 'branch', account_number: 'account' },
      }),
    );
    writeFileSync(
      join(dir, 'enum.csv'),
      ['pid,full_name,bank,branch,account', `${NFD},A,LBP,0012,111`, `${ZWSP},B,LBP,0012,222`, ''].join('\n'),
    );
    const r = await sparctl(['-o', 'jsonl', 'import-csv', 'enum.csv', '--mapping', 'map.json']);
    expect(r.code, r.stderr).toBe(5);
    expect(jsonLines(r.stdout).map((x) => [x['line'], x['id'], x['fate'], x['code']])).toEqual([
      [2, NFC, 'applied', null],
      [3, ZWSP, 'rejected', 'input.invalid'],
    ]);
    expect(stored(db).map((m) => m.id_value)).toEqual([NFC]);
  });

  it('a space that only looks like the ordinary one: link --id refused (exit 2), a link --file row rejected, resolve/update/unlink reach it', async () => {
    const { dir, db, sparctl } = setup();
    const refused = await sparctl(['--create', 'link', '--id', NBSP, ...BANK, '--account-number', '111']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`[input.invalid_record]: invalid record: ${NBSP_REFUSED}; nothing was written`);
    expect(stored(db)).toEqual([]);

    writeFileSync(join(dir, 'in.csv'), [CSV_HEADER, csvRow('BENE_1', '111'), csvRow(NBSP, '222'), csvRow('BENE_3', '333'), ''].join('\n'));
    const file = await sparctl(['--create', '-o', 'jsonl', 'link', '--file', 'in.csv']);
    expect(file.code, file.stderr).toBe(5);
    expect(jsonLines(file.stdout).map((x) => [x['line'], x['id'], x['fate'], x['code']])).toEqual([
      [2, 'BENE_1', 'applied', null],
      [3, NBSP, 'rejected', 'input.invalid'],
      [4, 'BENE_3', 'applied', null],
    ]);
    expect(readFileSync(join(dir, 'in.rejects.csv'), 'utf8')).toContain(`3,id,input.invalid,"${NBSP_REFUSED}",${csvRow(NBSP, '222')}`);
    expect(stored(db).map((m) => m.id_value)).toEqual(['BENE_1', 'BENE_3']);

    // Linked so by another client (SPAR takes the ID): still reached by resolve, update and unlink.
    renameStored(db, 'BENE_3', NBSP);
    const found = await sparctl(['resolve', NBSP]);
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ id: NBSP, outcome: 'found' });
    const updated = await sparctl(['update', '--id', NBSP, ...BANK, '--account-number', '444']);
    expect(updated.code, updated.stderr).toBe(0);
    expect(stored(db)).toEqual([
      { id_value: 'BENE_1', fa_value: expect.stringContaining('account_number:111.') },
      { id_value: NBSP, fa_value: expect.stringContaining('account_number:444.') },
    ]);
    const unlinked = await sparctl(['unlink', '--id', NBSP, '--yes']);
    expect(unlinked.code, unlinked.stderr).toBe(0);
    expect(stored(db).map((m) => m.id_value)).toEqual(['BENE_1']);
  });

  it('full-width digits (an East Asian input method): a new link refused naming the character, its file row rejected, resolve reaches one another client linked', async () => {
    const { dir, db, sparctl } = setup();
    const wide = '\uff10\uff10\uff17\uff10\uff10\uff11';
    const refused = await sparctl(['--create', 'link', '--id', wide, ...BANK, '--account-number', '111']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      'id contains U+FF10 (FULL-WIDTH "0"), which only looks like "0" (linked, it would be another beneficiary)',
    );
    writeFileSync(join(dir, 'in.csv'), [CSV_HEADER, csvRow('007001', '111'), csvRow(wide, '222'), ''].join('\n'));
    const file = await sparctl(['--create', '-o', 'jsonl', 'link', '--file', 'in.csv']);
    expect(file.code, file.stderr).toBe(5);
    expect(jsonLines(file.stdout).map((x) => [x['line'], x['id'], x['fate'], x['code']])).toEqual([
      [2, '007001', 'applied', null],
      [3, wide, 'rejected', 'input.invalid'],
    ]);
    renameStored(db, '007001', wide);
    expect(JSON.parse((await sparctl(['resolve', wide])).stdout)).toMatchObject({ id: wide, outcome: 'found' });
  });

  it('import-csv: a look-alike space is a reject in upsert mode, and taken by --mode update', async () => {
    const { dir, db, sparctl } = setup();
    expect((await sparctl(['--create', 'dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json')])).code).toBe(0);
    writeFileSync(
      join(dir, 'map.json'),
      JSON.stringify({ id: 'pid', fa: { type: { const: 'BANK' }, bank_code: 'bank', branch_code: 'branch', account_number: 'account' } }),
    );
    writeFileSync(join(dir, 'enum.csv'), ['pid,bank,branch,account', 'A_1,LBP,0012,111', 'A\u3000B,LBP,0012,222', ''].join('\n'));
    const upsert = await sparctl(['-o', 'jsonl', 'import-csv', 'enum.csv', '--mapping', 'map.json']);
    expect(upsert.code, upsert.stderr).toBe(5);
    expect(jsonLines(upsert.stdout).map((x) => [x['line'], x['id'], x['fate'], x['code']])).toEqual([
      [2, 'A_1', 'applied', null],
      [3, 'A\u3000B', 'rejected', 'input.invalid'],
    ]);
    expect(upsert.stdout).toContain('U+3000 (IDEOGRAPHIC SPACE)');
    expect(stored(db).map((m) => m.id_value)).toEqual(['A_1']);
    // Linked so by another client: an update run reaches it.
    renameStored(db, 'A_1', 'A\u3000B');
    const update = await sparctl(['-o', 'jsonl', 'import-csv', 'enum.csv', '--mapping', 'map.json', '--mode', 'update']);
    expect(jsonLines(update.stdout).map((x) => [x['line'], x['id'], x['fate']])).toEqual([
      [2, 'A_1', 'rejected'],
      [3, 'A\u3000B', 'applied'],
    ]);
    expect(stored(db)).toEqual([{ id_value: 'A\u3000B', fa_value: expect.stringContaining('account_number:222.') }]);
  });
});
