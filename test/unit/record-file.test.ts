import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openInputFile, type FileRecord } from '../../src/adapters/input/record-file.js';
import { UsageError } from '../../src/core/errors.js';
import { rejectedWith } from '../helpers/errors.js';
import { RECORD_FIELDS } from '../../src/core/request-items.js';
import { tempDir } from '../helpers/tmp.js';

async function read(name: string, content: string | Buffer, format?: 'csv' | 'jsonl'): Promise<FileRecord[]> {
  const path = join(tempDir(), name);
  writeFileSync(path, content);
  const file = await openInputFile(path, { ...(format ? { format } : {}), stdin: Readable.from([]), knownColumns: RECORD_FIELDS });
  const out: FileRecord[] = [];
  for await (const record of file.records) out.push(record);
  return out;
}

describe('CSV input', () => {
  it('gives each record the line it starts on, through a BOM, CRLF, blank lines and quoted line breaks', async () => {
    // A lone CR ends a row, and counts as a line break inside a quoted cell too (Ana's), as editors show it.
    const csv = '\uFEFFid,name\r\n0001,"Santos,\r\nMaria"\r\n\r\n0002,"Ana\rB"\n0003,Ñoño\n\n0004,"x\ny\nz"\r\n0005,last\r0006,mac\r';
    const records = await read('in.csv', Buffer.from(csv, 'utf8'));
    expect(records.map((r) => [r.line, r.record['id']])).toEqual([
      [2, '0001'],
      [5, '0002'],
      [7, '0003'],
      [9, '0004'],
      [12, '0005'],
      [13, '0006'],
    ]);
    expect(records[1]!.record['name']).toBe('Ana\rB');
    expect(records[0]!.record['name']).toBe('Santos,\r\nMaria');
  });

  it('refuses an unknown column before reading any row, naming it and the known ones', async () => {
    const error = await rejectedWith(UsageError, () => read('in.csv', 'id,acount_number\n1,2\n'));
    expect(error.code).toBe('input.unknown_column');
    expect(error.message).toMatch(/in\.csv:1: unknown column "acount_number"$/);
    expect(error.hint).toContain('account_number');
  });

  it('hands over a row with the wrong number of cells as unreadable, with its line and the cells it has, and reads on', async () => {
    const records = await read('in.csv', 'id,name\n1,a\n2,b,c\n3\n4,d\n');
    expect(records.map((r) => [r.line, r.record, r.unreadable ?? null])).toEqual([
      [2, { id: '1', name: 'a' }, null],
      [3, { id: '2', name: 'b' }, expect.stringMatching(/^the row has 3 cells where the header has 2/)],
      [4, { id: '3' }, expect.stringMatching(/^the row has 1 cell where the header has 2/)],
      [5, { id: '4', name: 'd' }, null],
    ]);
  });

  it('refuses a file with a quote never closed, naming the line it opens on', async () => {
    const error = await rejectedWith(UsageError, () => read('in.csv', 'id,name\n1,a\n2,"b\n3,c\n'));
    expect(error.code).toBe('input.csv_malformed');
    expect(error.message).toMatch(/in\.csv:3: a quoted cell is never closed/);
    expect(error.hint).toMatch(/close the quoted cell/);
  });

  it('hands over a row with a stray quote as unreadable, with its line and no cells, and reads on', async () => {
    const records = await read('in.csv', 'id,name\n1,a"b\n2,"c"d\n3,"e\nf"\n');
    expect(records.map((r) => [r.line, r.record, r.unreadable ?? null])).toEqual([
      [2, {}, expect.stringMatching(/^a quote inside an unquoted cell/)],
      [3, {}, expect.stringMatching(/^after a quoted cell comes "d" where "," or the end of the line belongs/)],
      [4, { id: '3', name: 'e\nf' }, null],
    ]);
  });

  it('reports a missing file and a directory as unreadable', async () => {
    const missing = await rejectedWith(UsageError, () =>
      openInputFile('/nonexistent/x.csv', { stdin: Readable.from([]), knownColumns: RECORD_FIELDS }),
    );
    expect(missing.code).toBe('input.unreadable');
    expect(missing.message).toBe('cannot read /nonexistent/x.csv: no such file');
    const dir = await rejectedWith(UsageError, () => openInputFile(tempDir(), { stdin: Readable.from([]), knownColumns: RECORD_FIELDS }));
    expect(dir.message).toMatch(/it is a directory$/);
  });
});

describe('JSONL input', () => {
  it('reads one object per line, skips blank lines and flags lines that are not objects', async () => {
    const records = await read('in.jsonl', '{"id":"A"}\n\n[1]\n{"id":"B",\n{"id":"0007"}\n');
    expect(records.map((r) => [r.line, r.record['id'] ?? null, r.unreadable ?? null])).toEqual([
      [1, 'A', null],
      // The line as written rides along: a reject has nothing else to carry it.
      [3, null, 'each line must be a JSON object; the row as written: [1]'],
      [4, null, expect.stringMatching(/^not valid JSON .*; the row as written: \{"id":"B",$/)],
      [5, '0007', null],
    ]);
  });

  it('detects JSONL on stdin from its first character', async () => {
    const file = await openInputFile('-', {
      stdin: Readable.from([Buffer.from(' {"id":"S1"}\n{"id":"S2"}\n')]),
      knownColumns: RECORD_FIELDS,
    });
    expect(file.format).toBe('jsonl');
    const ids: unknown[] = [];
    for await (const r of file.records) ids.push(r.record['id']);
    expect(ids).toEqual(['S1', 'S2']);
  });
});

describe('an input never read', () => {
  it('is not opened: a run refused before its first record leaves no open pending (it failed, unhandled, once the file went)', async () => {
    const path = join(tempDir(), 'in.csv');
    writeFileSync(path, 'id\nA1\n');
    const file = await openInputFile(path, { stdin: Readable.from([]), knownColumns: RECORD_FIELDS });
    rmSync(path);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Read now, it says the file is gone: the open happens here, not before.
    await expect(
      (async () => {
        for await (const _ of file.records) return;
      })(),
    ).rejects.toThrow(/in\.csv.*(ENOENT|no such file)/);
  });
});
