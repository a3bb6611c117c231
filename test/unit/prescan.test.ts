import { createHash } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { prescanCsv } from '../../src/adapters/input/prescan.js';
import { openInputFile } from '../../src/adapters/input/record-file.js';
import { indexOf } from '../../src/core/bulk/row-index.js';
import { recordKey } from '../../src/core/request-items.js';
import { random } from '../helpers/record-corpus.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The pass before a run reads each row's ID the quick way (the ID column only; rows without
 * quotes are not split past it) and may reuse an index kept from an earlier run. Both are
 * optimisations of "the index the run itself would build": these tests build that index the
 * slow way — every row read by the run's own reader — over random files, and compare.
 */

function randomCsv(seed: number): string {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const eol = pick(['\n', '\r\n', '\r']);
  const quote = (text: string) => `"${text.replaceAll('"', '""')}"`;
  const lines: string[] = [];
  const header = pick([
    ['id', 'name', 'account_number'],
    ['name', 'id', 'account_number'],
    ['account_number', 'name', 'id'],
  ]);
  lines.push(header.map((column) => (rand() < 0.2 ? quote(column) : column)).join(','));
  const ids = Array.from({ length: 12 }, (_, i) => pick([`B${i}`, ` B${i}`, `B${i} `, `0${i}`]));
  const count = 20 + Math.floor(rand() * 150);
  for (let i = 0; i < count; i++) {
    if (rand() < 0.05) lines.push(pick(['', '   ', '\t']));
    // Now and then a row of empty cells, as a spreadsheet writes below its data: skipped by both.
    if (rand() < 0.04) lines.push(pick([',,', ' , ,', '"","",""', ',']));
    const cells = header.map((column) => {
      const value =
        column === 'id'
          ? rand() < 0.05
            ? ''
            : pick(ids)
          : column === 'name'
            ? pick(['Ana', 'Santos, Ana', 'Line\nbreak', 'He said "hi"', ''])
            : String(Math.floor(rand() * 1000));
      return /[",\n]/.test(value) || rand() < 0.1 ? quote(value) : value;
    });
    // Now and then a row with a cell too many or too few.
    if (rand() < 0.05) cells.push('extra');
    if (rand() < 0.05) cells.splice(Math.floor(rand() * cells.length), 1);
    // Now and then a row the tokenizer rejects: a stray quote, text after a closing quote.
    if (rand() < 0.05) cells[Math.floor(rand() * cells.length)] = pick(['a"b', '"a"b', '"a\nb"c']);
    lines.push(cells.join(','));
  }
  return `${rand() < 0.3 ? '\uFEFF' : ''}${lines.join(eol)}${rand() < 0.5 ? eol : ''}`;
}

/** The index the run's own reader gives: every record read whole, its key by recordKey. */
async function slowIndex(path: string) {
  const input = await openInputFile(path, { format: 'csv', stdin: new PassThrough() });
  const keys: (string | undefined)[] = [];
  const lines: (number | undefined)[] = [];
  for await (const batch of input.batches) {
    for (const record of batch) {
      keys.push(recordKey(record.record));
      lines.push(record.line);
    }
  }
  return indexOf(keys, lines);
}

const KEYS = {
  delimiter: ',',
  keyColumns: () => ['id'],
  keyOf: (cell: (column: string) => string | undefined) => recordKey({ id: cell('id') }),
};

describe('the pass before the run', () => {
  it('builds, over 300 random files, the index the run would build reading every row whole', async () => {
    const dir = tempDir();
    for (let seed = 1; seed <= 300; seed++) {
      const path = join(dir, `f${seed}.csv`);
      writeFileSync(path, randomCsv(seed));
      const quick = await prescanCsv(path, path, 'def', KEYS);
      const slow = await slowIndex(path);
      expect(quick.index.rows, `seed ${seed}`).toBe(slow.rows);
      expect(
        quick.index.entries().sort((a, b) => a[0] - b[0]),
        `seed ${seed}`,
      ).toEqual(slow.entries().sort((a, b) => a[0] - b[0]));
    }
  });

  it("keys a fed-back reject file's quoted cells as the run reads them: a row and its corrected copy are one ID", async () => {
    const dir = tempDir();
    const path = join(dir, 'x.rejects.csv');
    // sparctl quoted "-5" as "'-5" against formulas; the coordinator added a corrected copy without it.
    writeFileSync(
      path,
      "sparctl_line,sparctl_field,sparctl_code,sparctl_message,sparctl_quoted,id,name,account_number\n2,bank_code,x,y,id,'-5,Ana,1\n3,,,,,-5,Ana,2\n",
    );
    const quick = await prescanCsv(path, path, 'def', { ...KEYS, knownColumns: undefined });
    const slow = await slowIndex(path);
    expect(quick.index.entries().sort((a, b) => a[0] - b[0])).toEqual(slow.entries().sort((a, b) => a[0] - b[0]));
    expect(slow.lastOf(0)).toMatchObject({ seq: 1 });
  });

  it("reads a file of many chunks as one: characters, CRLF and quoted line breaks cut at chunk edges, its fingerprint the bytes' own", async () => {
    const dir = tempDir();
    for (const eol of ['\n', '\r\n']) {
      const rows = ['id,name,account_number'];
      // Rows of varying width with 2-, 3- and 4-byte characters, so that chunk edges fall inside them.
      for (let i = 0; i < 12_000; i++) {
        const name = ['é', '東京', '😀', 'x'][i % 4]!.repeat(1 + (i % 7));
        rows.push(`ID${i % 2_500},${i % 11 === 0 ? `"${name}${eol}${name}"` : name},${i}`);
      }
      const text = rows.join(eol);
      const path = join(dir, `big${eol.length}.csv`);
      writeFileSync(path, text);
      expect(Buffer.byteLength(text)).toBeGreaterThan(4 * 65_536);
      const quick = await prescanCsv(path, path, 'def', KEYS);
      const slow = await slowIndex(path);
      expect(quick.index.rows).toBe(12_000);
      expect(quick.index.entries().sort((a, b) => a[0] - b[0])).toEqual(slow.entries().sort((a, b) => a[0] - b[0]));
      expect(quick.fingerprint).toBe(createHash('sha256').update(text).update('\0').update('def').digest('hex'));
      expect(quick.lines).toBe(text.split(eol).length - 1);
    }
    // A bad byte three chunks in is named by its line.
    const bytes = Buffer.from(`id\n${'a\n'.repeat(100_000)}`);
    const at = 3 * 65_536 + 11;
    bytes[at] = 0xff;
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, bytes);
    const line = bytes.subarray(0, at).toString('latin1').split('\n').length;
    await expect(prescanCsv(bad, 'bad.csv', 'def', KEYS)).rejects.toMatchObject({
      code: 'input.not_utf8',
      message: `bad.csv:${line}: not valid UTF-8; nothing was sent`,
    });
  });

  it('UTF-16 (Excel\'s "Unicode Text"), with or without its mark, is named as such; a NUL byte in a cell is left to its row\'s checks', async () => {
    const dir = tempDir();
    const text = 'id,account_number\nB1,1\nB2,2\n';
    const cases: [string, Buffer, string][] = [
      [
        'le-bom.csv',
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]),
        ":1: UTF-16 text (it starts with UTF-16's byte-order mark), not UTF-8; nothing was sent",
      ],
      [
        'be-bom.csv',
        Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]),
        ":1: UTF-16 text (it starts with UTF-16's byte-order mark), not UTF-8; nothing was sent",
      ],
      ['le.csv', Buffer.from(text, 'utf16le'), ':1: UTF-16 text (NUL bytes between its letters), not UTF-8; nothing was sent'],
      ['be.csv', Buffer.from(text, 'utf16le').swap16(), ':1: UTF-16 text (NUL bytes between its letters), not UTF-8; nothing was sent'],
      // A header that starts in another script: its first bytes are not NUL, a third of them are.
      [
        'cyrillic.csv',
        Buffer.from(`номер,счёт\n${text}`, 'utf16le'),
        ':1: UTF-16 text (NUL bytes between its letters), not UTF-8; nothing was sent',
      ],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const error = await prescanCsv(path, name, 'def', KEYS).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'input.not_utf8', message: `${name}${message}` });
      expect((error as { hint?: string }).hint).toMatch(/CSV UTF-8 \(Comma delimited\)/);
    }
    const nul = join(dir, 'nul.csv');
    writeFileSync(nul, 'id,account_number\nB1,1\nB2,2\0\n');
    expect((await prescanCsv(nul, 'nul.csv', 'def', KEYS)).lines).toBe(3);
  });

  it("a file with rows of empty cells has another fingerprint than its bytes' own: no journal an earlier sparctl (which read them as rows) left for it fits it", async () => {
    const dir = tempDir();
    const own = (text: string) => createHash('sha256').update(text).update('\0').update('def').digest('hex');
    const plain = 'id,name,account_number\nB1,Ana,1\n\n  \nB2,Ben,2\n';
    const path = join(dir, 'plain.csv');
    writeFileSync(path, plain);
    // Blank lines were always skipped: the fingerprint an earlier sparctl gave the file.
    expect((await prescanCsv(path, path, 'def', KEYS)).fingerprint).toBe(own(plain));
    for (const empty of [',,', ' , ,\t', '"","",""']) {
      const text = `id,name,account_number\nB1,Ana,1\n${empty}\nB2,Ben,2\n`;
      const withEmpty = join(dir, 'empty.csv');
      writeFileSync(withEmpty, text);
      const scanned = await prescanCsv(withEmpty, withEmpty, 'def', KEYS);
      expect(scanned.index.rows, empty).toBe(2);
      expect(scanned.emptyRowsSkipped, empty).toBe(true);
      expect(scanned.fingerprint, empty).not.toBe(own(text));
      // A kept index says so too: the same fingerprint again, from the cache.
      const cache = { dir: join(dir, 'cache'), version: 't' };
      let read = 0;
      const counted = { ...KEYS, keyOf: (cell: (column: string) => string | undefined) => (read++, KEYS.keyOf(cell)) };
      const first = await prescanCsv(withEmpty, withEmpty, 'def', counted, cache);
      read = 0;
      const kept = await prescanCsv(withEmpty, withEmpty, 'def', counted, cache);
      expect(read, 'the kept index was used, not the file read again').toBe(0);
      expect([first.fingerprint, kept.fingerprint, kept.emptyRowsSkipped]).toEqual([scanned.fingerprint, scanned.fingerprint, true]);
    }
  });

  it('refuses a file whose quote is never closed, naming the line it opens on, before anything is sent', async () => {
    const path = join(tempDir(), 'f.csv');
    writeFileSync(path, 'id,name\rA,1\rB,"2\r\nC,3\n');
    await expect(prescanCsv(path, 'f.csv', 'def', KEYS)).rejects.toMatchObject({
      code: 'input.csv_malformed',
      message: expect.stringMatching(/^f\.csv:3: a quoted cell is never closed .*; nothing was sent$/),
    });
  });

  it('counts lines as the tokenizer does: LF, CRLF and a lone CR once each', async () => {
    const path = join(tempDir(), 'f.csv');
    writeFileSync(path, 'id,name\rA,1\r\nB,2\nC,"3\r4"\r');
    expect((await prescanCsv(path, path, 'def', KEYS)).lines).toBe(5);
  });

  it('keeps the index of a file and reuses it only while the bytes are the same', async () => {
    const dir = tempDir();
    const path = join(dir, 'f.csv');
    writeFileSync(path, 'id,name\nA,1\nB,2\nA,3\n');
    const cache = { dir: join(dir, 'cache'), version: 't' };
    let reads = 0;
    const counting = { ...KEYS, keyOf: (cell: (column: string) => string | undefined) => (reads++, KEYS.keyOf(cell)) };
    const first = await prescanCsv(path, path, 'def', counting, cache);
    expect(reads).toBe(3);
    expect(first.index.lastOf(0)).toEqual({ seq: 2, line: 4 });
    const again = await prescanCsv(path, path, 'def', counting, cache);
    expect(reads).toBe(3); // the rows were not read again
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.index.lastOf(0)).toEqual({ seq: 2, line: 4 });
    // Other bytes under the same name, size and modification time: read again, not trusted.
    const { mtime } = await import('node:fs').then((fs) => fs.statSync(path));
    writeFileSync(path, 'id,name\nA,1\nB,2\nC,3\n');
    utimesSync(path, mtime, mtime);
    const changed = await prescanCsv(path, path, 'def', counting, cache);
    expect(reads).toBe(6);
    expect(changed.index.lastOf(0)).toBeUndefined();
    // Another definition (mapping, target, mode) is another job.
    await prescanCsv(path, path, 'other', counting, cache);
    expect(reads).toBe(9);
    // A dry run uses a kept index but keeps none.
    writeFileSync(path, 'id,name\nD,1\n');
    await prescanCsv(path, path, 'def', counting, { ...cache, keep: false });
    await prescanCsv(path, path, 'def', counting, { ...cache, keep: false });
    expect(reads).toBe(11);
  });
});
