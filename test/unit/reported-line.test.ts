/**
 * The line a fed-back reject file names (sparctl_line): read from CSV and JSONL rows, written
 * back by the reject writers in place of the line read, and named in --results' origin.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openRejectFile, resultLine } from '../../src/adapters/files/report-writers.js';
import { openInputFile, type FileRecord } from '../../src/adapters/input/record-file.js';
import type { RecordEvent } from '../../src/core/bulk/events.js';
import { reportedLine } from '../../src/core/bulk/reported-line.js';
import { DEFAULT_CSV_LAYOUT } from '../../src/core/csv-delimiter.js';
import { tempDir } from '../helpers/tmp.js';

async function read(name: string, content: string): Promise<FileRecord[]> {
  const path = join(tempDir(), name);
  writeFileSync(path, content);
  const file = await openInputFile(path, { stdin: Readable.from([]) });
  const out: FileRecord[] = [];
  for await (const record of file.records) out.push(record);
  return out;
}

describe('reportedLine', () => {
  it('takes a positive whole number, as a JSON number or as digits; nothing else', () => {
    expect([812, '812', ' 7 ', '0012'].map(reportedLine)).toEqual([812, 812, 7, 12]);
    for (const value of [
      0,
      -3,
      2.5,
      '2.5',
      '812.0',
      '',
      ' ',
      'line 3',
      '-3',
      '1e3',
      null,
      undefined,
      true,
      {},
      2 ** 60,
      '99999999999999999999',
    ])
      expect(reportedLine(value), String(value)).toBeUndefined();
  });
});

describe('a fed-back reject file as input', () => {
  it('CSV: a row carries the line its sparctl_line names, and not the column itself', async () => {
    const csv =
      'sparctl_line,sparctl_code,sparctl_message,id,name\r\n812,input.invalid,bad,0001,Ana\r\n,input.invalid,bad,0002,Ben\r\nabc,,,0003,"Cy, D"\r\n44,,,0004,"Di\r\nE"\r\n';
    const records = await read('x.rejects.csv', csv);
    expect(records.map((r) => [r.line, r.originalLine, r.record])).toEqual([
      [2, 812, { id: '0001', name: 'Ana' }],
      [3, undefined, { id: '0002', name: 'Ben' }],
      [4, undefined, { id: '0003', name: 'Cy, D' }],
      [5, 44, { id: '0004', name: 'Di\r\nE' }],
    ]);
  });

  it('CSV without a sparctl_line column, or JSONL without the key: no original line', async () => {
    expect((await read('in.csv', 'id,name\n0001,Ana\n'))[0]!.originalLine).toBeUndefined();
    expect((await read('in.jsonl', '{"id":"1"}\n'))[0]!.originalLine).toBeUndefined();
  });

  it('JSONL: the key is read, then dropped from the record', async () => {
    const records = await read('x.rejects.jsonl', '{"id":"1","sparctl_line":9}\n{"id":"2","sparctl_line":"x"}\n');
    expect(records.map((r) => [r.line, r.originalLine, r.record])).toEqual([
      [1, 9, { id: '1' }],
      [2, undefined, { id: '2' }],
    ]);
  });
});

describe('the writers', () => {
  const event = (originalLine?: number): RecordEvent => ({
    type: 'record',
    seq: 0,
    line: 3,
    ...(originalLine === undefined ? {} : { originalLine }),
    id: '0001',
    fate: 'rejected',
    code: 'input.invalid',
    message: 'bad',
    field: 'name',
    raw: { id: '0001' },
  });

  it('a reject file writes the original line as sparctl_line, in CSV and JSONL; else the line read', async () => {
    const dir = tempDir();
    const csv = await openRejectFile(join(dir, 'r.csv'), ['id'], 'csv', DEFAULT_CSV_LAYOUT);
    csv.write(event(812));
    csv.write(event());
    await csv.close();
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe(
      'sparctl_line,sparctl_field,sparctl_code,sparctl_message,id\r\n812,name,input.invalid,bad,0001\r\n3,name,input.invalid,bad,0001\r\n',
    );
    const jsonl = await openRejectFile(join(dir, 'r.jsonl'), []);
    jsonl.write(event(812));
    jsonl.write(event());
    await jsonl.close();
    expect(
      readFileSync(join(dir, 'r.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { sparctl_line: number }).sparctl_line),
    ).toEqual([812, 3]);
  });

  it('a results line keeps the line read and names the original in origin', () => {
    expect(JSON.parse(resultLine(event(812), 'jsonl'))).toMatchObject({ line: 3, origin: 'original line 812' });
    expect(JSON.parse(resultLine(event(), 'jsonl'))).toMatchObject({ line: 3, origin: null });
    expect(JSON.parse(resultLine({ ...event(812), origin: 'odk' }, 'jsonl'))).toMatchObject({ origin: 'odk' });
  });
});
