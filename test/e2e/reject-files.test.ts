/**
 * Reject files in every format carry the input record and its ID, end to end in process
 * (runMain) against a real SQLite mapper: JSONL input (its default reject file is JSONL), a
 * mapper's own rejection, a CSV input with a JSONL reject path, and a JSONL reject file fed back.
 */
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { refeedArgs, runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const FA = { fa_type: 'BANK', bank_name: 'Example Bank', bank_code: 'EXB', branch_name: 'Main', branch_code: '0001' };

function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-rejects-');
  const db = join(dir, 'mapper.db');
  const sparctl = (args: string[]) => runMain(['--db', db, '-q', ...args], { env, cwd: dir });
  return { dir, sparctl };
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('reject files', () => {
  it('link --file JSONL: a mapper rejection and an input rejection each carry the input object and the ID; fed back, they link', async () => {
    const { dir, sparctl } = setup();
    expect((await sparctl(['--create', 'link', '--id', 'B1', ...flags({ ...FA, account_number: '111' })])).code).toBe(0);
    const records = [
      { id: 'B1', fa: { ...FA, account_number: '222' }, name: 'Ana' }, // line 1: already linked (the mapper says)
      { id: 'B2', ...FA, strategy_id: 77, account_number: '333' }, // line 2: no strategy 77 (sparctl says)
      { id: 'B3', fa: { ...FA, account_number: '444' } }, // line 3: linked
    ];
    writeFileSync(join(dir, 'j.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const r = await sparctl(['link', '--file', 'j.jsonl', '--rejects', 'r.jsonl']);
    expect(r.code, r.stderr).toBe(5);
    const rejects = jsonLines(readFileSync(join(dir, 'r.jsonl'), 'utf8'));
    expect(rejects).toEqual([
      {
        ...records[0],
        sparctl_id: 'B1',
        sparctl_line: 1,
        sparctl_field: null,
        sparctl_code: 'rjct.reference_id.duplicate',
        sparctl_message: expect.any(String),
      },
      {
        ...records[1],
        sparctl_id: 'B2',
        sparctl_line: 2,
        sparctl_field: 'strategy_id',
        sparctl_code: 'input.strategy',
        sparctl_message: expect.stringContaining('strategy 77 does not exist'),
      },
    ]);
    // Without --rejects, a JSONL input's reject file is JSONL beside it, named after it.
    const again = await sparctl(['link', '--file', 'j.jsonl']);
    expect(again.code).toBe(5);
    expect(jsonLines(readFileSync(join(dir, 'j.rejects.jsonl'), 'utf8')).map((x) => [x['sparctl_id'], x['sparctl_code']])).toEqual([
      ['B1', 'rjct.reference_id.duplicate'],
      ['B2', 'input.strategy'],
      ['B3', 'rjct.reference_id.duplicate'],
    ]);
    // The fixed file feeds back as it is: sparctl_* keys are ignored on input.
    const fixed = readFileSync(join(dir, 'r.jsonl'), 'utf8').replace('"strategy_id":77,', '');
    writeFileSync(join(dir, 'fixed.jsonl'), fixed);
    const back = await sparctl(['-o', 'jsonl', 'link', '--file', 'fixed.jsonl']);
    expect(back.code, back.stderr).toBe(5);
    expect(jsonLines(back.stdout).map((x) => [x['id'], x['outcome']])).toEqual([
      ['B1', 'already_linked'],
      ['B2', 'linked'],
    ]);
  });

  it('link --file CSV with a .jsonl reject path: the row as an object of its cells; a .csv path for JSONL input keeps sparctl_record', async () => {
    const { dir, sparctl } = setup();
    expect((await sparctl(['--create', 'link', '--id', '0007', ...flags({ ...FA, account_number: '111' })])).code).toBe(0);
    writeFileSync(
      join(dir, 'in.csv'),
      'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n0007,BANK,Example Bank,EXB,Main,0001,222\n',
    );
    const r = await sparctl(['link', '--file', 'in.csv', '--rejects', 'out.jsonl']);
    expect(r.code, r.stderr).toBe(5);
    expect(jsonLines(readFileSync(join(dir, 'out.jsonl'), 'utf8'))).toEqual([
      {
        id: '0007',
        ...FA,
        account_number: '222',
        sparctl_id: '0007',
        sparctl_line: 2,
        sparctl_field: null,
        sparctl_code: 'rjct.reference_id.duplicate',
        sparctl_message: expect.any(String),
      },
    ]);
    const record = { id: '0007', fa: { ...FA, account_number: '333' } };
    writeFileSync(join(dir, 'j.jsonl'), `${JSON.stringify(record)}\n`);
    expect((await sparctl(['link', '--file', 'j.jsonl', '--rejects', 'out.csv'])).code).toBe(5);
    const rows = parse(readFileSync(join(dir, 'out.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!['sparctl_record']!)).toEqual(record);
    expect(rows[0]!['sparctl_code']).toBe('rjct.reference_id.duplicate');
  });

  it('a row the reader cannot split (a stray quote) and a line that is not JSON: the reject carries the row as written', async () => {
    const { dir, sparctl } = setup();
    const header = 'id,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number,name';
    const stray = 'B8,BANK,2,Example Bank,EXB,Main,0001,888,Maria "Mia" Santos';
    writeFileSync(join(dir, 'q.csv'), `${header}\nB7,BANK,2,Example Bank,EXB,Main,0001,777,Ana\n${stray}\n`);
    const csv = await sparctl(['--create', 'link', '--file', 'q.csv', '--rejects', 'q.rejects.csv']);
    expect(csv.code, csv.stderr).toBe(5);
    const [row] = parse(readFileSync(join(dir, 'q.rejects.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(row).toMatchObject({ sparctl_line: '3', sparctl_code: 'input.unreadable', id: '' });
    // The ID is in the text: no cell of the row is guessed, so nothing of it reaches the mapper.
    expect(row!['sparctl_message']).toMatch(
      /^a quote inside an unquoted cell .*; the row as written: B8,BANK,2,Example Bank,EXB,Main,0001,888,Maria "Mia" Santos$/,
    );
    const bad = '{"id": "B9", "fa": {"account_number": "999"';
    writeFileSync(join(dir, 'j.jsonl'), `${bad}\n`);
    const jsonl = await sparctl(['link', '--file', 'j.jsonl', '--rejects', 'j.rejects.jsonl']);
    expect(jsonl.code, jsonl.stderr).toBe(5);
    expect(jsonLines(readFileSync(join(dir, 'j.rejects.jsonl'), 'utf8'))).toEqual([
      expect.objectContaining({
        sparctl_line: 1,
        sparctl_code: 'input.unreadable',
        sparctl_message: expect.stringMatching(/^not valid JSON .*; the row as written: \{"id": "B9", "fa": \{"account_number": "999"$/),
      }),
    ]);
    const linked = await sparctl(['resolve', 'B7', 'B8', '-o', 'jsonl']);
    expect(
      linked.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { outcome: string }).outcome),
    ).toEqual(['found', 'not_found']);
  });

  it("a first row the reader cannot split: the reject file still has the header's columns, and every later reject keeps its cells to fix and feed back", async () => {
    const { dir, sparctl } = setup();
    const header = 'id,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number,name';
    writeFileSync(
      join(dir, 'first.csv'),
      `${header}\nB8,BANK,2,Example Bank,EXB,Main,0001,888,Maria "Mia" Santos\nB9,BANK,2,Example Bank,EXB,Main,0001,1.2E+11,Zo\n`,
    );
    const run = await sparctl(['--create', 'link', '--file', 'first.csv']);
    expect(run.code, run.stderr).toBe(5);
    const text = readFileSync(join(dir, 'first.rejects.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe(`sparctl_line,sparctl_field,sparctl_code,sparctl_message,${header}`);
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => [row['sparctl_code'], row['id'], row['account_number']])).toEqual([
      ['input.unreadable', '', ''],
      ['mapping.spreadsheet_exponent', 'B9', '1.2E+11'],
    ]);
    // Fixed and fed back, the second row links.
    writeFileSync(join(dir, 'first.rejects.csv'), text.replace(',1.2E+11,Zo', ',000000000999,Zo'));
    const fed = await sparctl(['link', '--file', 'first.rejects.csv']);
    // (the unreadable row, not fixed, is rejected again: exit 5)
    expect(fed.code, fed.stderr).toBe(5);
    const resolved = await sparctl(['resolve', 'B9', '-o', 'jsonl']);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ outcome: 'found', fa: { account_number: '000000000999' } });
  });
});

describe('reject files that round-trip (an Excel export: ";", BOM, CRLF)', () => {
  /** The enumeration fixture as Excel in a European locale saves it; row 3 (line 3) has an unknown bank code. */
  function excelExport(dir: string): string {
    const rows = readFileSync(join(ROOT, 'fixtures', 'enumeration.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 6);
    const text = rows.map((row) => row.replace(/,/g, ';')).join('\r\n');
    writeFileSync(join(dir, 'x.csv'), `\uFEFF${text.replace('LBP;0012', 'ZZZ;0012')}\r\n`);
    return join(dir, 'x.csv');
  }

  it('writes ";" rejects with the BOM and CRLF, reasons first; a re-run keeps them; the printed command re-feeds them', async () => {
    const { env } = cliEnv();
    const dir = tempDir('sparctl-roundtrip-');
    excelExport(dir);
    const db = join(dir, 'mapper.db');
    const mapping = join(ROOT, 'fixtures', 'enumeration.mapping.json');
    const dfsp = join(ROOT, 'fixtures', 'dfsp.json');
    const args = ['import-csv', 'x.csv', '--mapping', mapping, '--dfsp', dfsp, '--delimiter', ';'];
    const first = await runMain(['--db', db, '--create', ...args], { env, cwd: dir });
    expect(first.code, first.stderr).toBe(5);
    const text = readFileSync(join(dir, 'x.rejects.csv'), 'utf8');
    expect(text.startsWith('\uFEFFsparctl_line;sparctl_field;sparctl_code;sparctl_message;household_no;national_id;')).toBe(true);
    expect(text.split('\r\n')[1]).toMatch(/^2;bank_code;mapping\.unknown_bank;"[^"]*""ZZZ""[^"]*";HH-0001;000412345001;/);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const refeed = /^re-feed the fixed rows: (.*)$/m.exec(first.stderr)?.[1];
    expect(refeed).toBe(`sparctl --db ${db} --create import-csv 'x.rejects.csv' --mapping ${mapping} --dfsp ${dfsp} --delimiter ';'`);

    // The original import again: the coordinator's edits stay, the new rejects get a new name.
    appendFileSync(join(dir, 'x.rejects.csv'), 'MY EDITS\r\n');
    const again = await runMain(['--db', db, ...args], { env, cwd: dir });
    expect(again.code).toBe(5);
    expect(readFileSync(join(dir, 'x.rejects.csv'), 'utf8')).toContain('MY EDITS');
    expect(again.stderr).toContain(
      `rejects: ${join(dir, 'x.rejects-2.csv')} (1 row; ${join(dir, 'x.rejects.csv')} was there already and is kept)`,
    );
    expect(existsSync(join(dir, 'x.rejects-2.csv'))).toBe(true);

    // Named explicitly, an existing reject file is refused before anything is sent; --overwrite allows it.
    const named = await runMain(['--db', db, ...args, '--rejects', 'x.rejects.csv'], { env, cwd: dir });
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/\[usage\.rejects_exists\].*x\.rejects\.csv exists.*nothing was sent.*--overwrite/);
    expect(readFileSync(join(dir, 'x.rejects.csv'), 'utf8')).toContain('MY EDITS');
    // Nor is a journal left for the job: it recorded nothing (one was left in the state folder for good).
    const journals = join(env['XDG_STATE_HOME']!, 'sparctl', 'journals');
    expect(existsSync(journals) ? readdirSync(journals) : []).toEqual([]);

    // Fixed in place (as Excel saves it again), fed back with the printed command as it is.
    writeFileSync(join(dir, 'x.rejects.csv'), text.replace(';ZZZ;', ';LBP;'));
    const words = refeedArgs(refeed!);
    const back = await runMain(words, { env, cwd: dir });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/^link +1 +0 +0 +1$/m);
  });

  it('link --file x.csv --delimiter ";": the rejects are ";" too, and the printed command re-feeds them as they are', async () => {
    const { env } = cliEnv();
    const dir = tempDir('sparctl-delim-');
    const db = join(dir, 'mapper.db');
    const header = 'id;fa_type;bank_name;bank_code;branch_name;branch_code;account_number;name';
    // As a European-locale spreadsheet saves it: BOM, CRLF, a ";" delimiter, a name holding a comma.
    writeFileSync(
      join(dir, 'x.csv'),
      `\uFEFF${header}\r\n0101;BANK;Example Bank;EXB;Main;0001;111;"Santos, Ana"\r\n0102;BNK;Example Bank;EXB;Main;0001;222;Ben\r\n`,
    );
    const args = ['--db', db, '--create', 'link', '--file', 'x.csv', '--delimiter', ';'];
    const first = await runMain(args, { env, cwd: dir });
    expect(first.code, first.stderr).toBe(5);
    const text = readFileSync(join(dir, 'x.rejects.csv'), 'utf8');
    expect(text.startsWith(`\uFEFFsparctl_line;sparctl_field;sparctl_code;sparctl_message;${header}\r\n`)).toBe(true);
    expect(text.split('\r\n')[1]).toMatch(/^3;fa_type;input\.invalid;.*;0102;BNK;Example Bank;EXB;Main;0001;222;Ben$/);
    const refeed = /^re-feed the fixed rows: (.*)$/m.exec(first.stderr)?.[1];
    expect(refeed).toBe(`sparctl --db ${db} --create link --file 'x.rejects.csv' --delimiter ';'`);
    // Fixed in place, fed back with the printed command as it is.
    writeFileSync(join(dir, 'x.rejects.csv'), text.replace(';BNK;', ';BANK;'));
    const words = refeedArgs(refeed!);
    const back = await runMain(words, { env, cwd: dir });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).toMatch(/^link +1 +0 +0 +1$/m);
    const found = JSON.parse((await runMain(['--db', db, '-o', 'json', 'resolve', '0101'], { env, cwd: dir })).stdout) as {
      results: { fa: { account_number: string } }[];
    };
    expect(found.results[0]!.fa.account_number).toBe('111');
  });

  it('link --file reads a fed-back CSV reject file, its sparctl_* columns first, as it is', async () => {
    const { dir, sparctl } = setup();
    expect((await sparctl(['--create', 'link', '--id', '0007', ...flags({ ...FA, account_number: '111' })])).code).toBe(0);
    writeFileSync(
      join(dir, 'in.csv'),
      'id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\r\n0007,BANK,Example Bank,EXB,Main,0001,222\r\n0008,BANK,Example Bank,EXB,Main,0001,333\r\n',
    );
    expect((await sparctl(['link', '--file', 'in.csv'])).code).toBe(5);
    const text = readFileSync(join(dir, 'in.rejects.csv'), 'utf8');
    expect(text.split('\r\n')[0]).toBe(
      'sparctl_line,sparctl_field,sparctl_code,sparctl_message,id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number',
    );
    writeFileSync(join(dir, 'in.rejects.csv'), text.replace(',0007,', ',0009,'));
    const back = await sparctl(['-o', 'jsonl', 'link', '--file', 'in.rejects.csv']);
    expect(back.code, back.stderr).toBe(0);
    expect(jsonLines(back.stdout).map((x) => [x['id'], x['outcome']])).toEqual([['0009', 'linked']]);
  });
});

/** --fa-type … flags for a bank FA. */
function flags(fa: Record<string, string>): string[] {
  return Object.entries(fa).flatMap(([field, value]) => [`--${field.replace(/_/g, '-')}`, value]);
}
