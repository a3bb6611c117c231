/**
 * Reject files in every format carry the input record and its ID, end to end in process
 * (runMain) against a real SQLite mapper: JSONL input (its default reject file is JSONL), a
 * mapper's own rejection, a CSV input with a JSONL reject path, and a JSONL reject file fed back.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
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
});

/** --fa-type … flags for a bank FA. */
function flags(fa: Record<string, string>): string[] {
  return Object.entries(fa).flatMap(([field, value]) => [`--${field.replace(/_/g, '-')}`, value]);
}
