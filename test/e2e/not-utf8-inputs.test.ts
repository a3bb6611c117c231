/**
 * The small files a command reads besides a bulk input — a strategy file, a DFSP list, a mapping
 * — in another encoding than UTF-8. Read leniently, a byte became U+FFFD in a stored strategy
 * template (append-only: never mended under its id) or a bank's name, which FAs are then built
 * with. Each is refused in one line naming the file and line, exit 2, and the mapper is left as it was.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('files that are not UTF-8', () => {
  it('strategy add --file, dfsp import (CSV, JSON, UTF-16) and a mapping are refused with the line; the mapper is unchanged', async () => {
    const { env, home } = cliEnv();
    const db = join(home, 'm.db');
    const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: home });
    expect((await sparctl(['init', '-q'])).code).toBe(0);
    const before = sha(db);
    const latin1 = (text: string) => Buffer.from(text, 'latin1');
    writeFileSync(
      join(home, 's8.json'),
      latin1(
        '[{"id":8,"strategy_type":"FA",\n"construct_strategy":"k\xe98:{account_number}","deconstruct_strategy":"^k\xe98:(?P<account_number>.*)$"}]',
      ),
    );
    writeFileSync(join(home, 'banks.csv'), latin1('type,code,name,bank_code\nBANK,ZX,Ze\xffd,\n'));
    writeFileSync(join(home, 'banks.json'), latin1('{"banks":[{"code":"ZX","name":"Ze\xffd"}]}'));
    writeFileSync(
      join(home, 'banks16.csv'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('type,code,name,bank_code\nBANK,ZX,Zed,\n', 'utf16le')]),
    );
    writeFileSync(
      join(home, 'mapping.json'),
      latin1(
        '{"id":"id","name":{"const":"Jos\xe9"},"fa":{"type":{"const":"BANK"},"bank_code":"b","branch_code":"c","account_number":"a"}}',
      ),
    );
    writeFileSync(join(home, 'in.csv'), 'id,b,c,a\nX1,EXB,0001,5\n');
    const runs = {
      strategy: await sparctl(['strategy', 'add', '--file', 's8.json']),
      csv: await sparctl(['dfsp', 'import', 'banks.csv']),
      json: await sparctl(['dfsp', 'import', 'banks.json']),
      utf16: await sparctl(['dfsp', 'import', 'banks16.csv']),
      mapping: await sparctl(['import-csv', 'in.csv', '--mapping', 'mapping.json']),
    };
    for (const [what, run] of Object.entries(runs)) {
      expect({ what, code: run.code }).toEqual({ what, code: 2 });
      expect(run.stderr, what).toMatch(/error \[input\.not_utf8\]/);
      expect(run.stderr, what).not.toContain('\uFFFD');
    }
    expect(runs.strategy.stderr).toContain('s8.json:2: not valid UTF-8');
    expect(runs.csv.stderr).toContain('banks.csv:2: not valid UTF-8');
    expect(runs.json.stderr).toContain('banks.json:1: not valid UTF-8');
    expect(runs.utf16.stderr).toContain('banks16.csv:1: UTF-16 text');
    expect(runs.mapping.stderr).toContain('mapping.json:1: not valid UTF-8');
    expect(sha(db)).toBe(before);
  });

  it('a workbook given as a CSV (renamed, an .xls, an .ods) is named as one, not as bad UTF-8 or UTF-16 to convert with iconv', async () => {
    const { env, home } = cliEnv();
    const db = join(home, 'm.db');
    const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: home });
    expect((await sparctl(['init', '-q'])).code).toBe(0);
    writeFileSync(join(home, 'renamed.csv'), Buffer.from('504b0304140000000800', 'hex'));
    writeFileSync(join(home, 'old.xls'), Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504)]));
    const zip = await sparctl(['link', '--file', 'renamed.csv']);
    expect(zip.code).toBe(2);
    expect(zip.stderr).toContain('renamed.csv:1: a zip archive (an .xlsx or .ods workbook?), not text; nothing was sent');
    const xls = await sparctl(['link', '--file', 'old.xls']);
    expect(xls.code).toBe(2);
    expect(xls.stderr).toContain('old.xls:1: an old Excel workbook (.xls) or an encrypted one, not text');
    expect(xls.stderr).not.toContain('iconv');
    // A strategy or mapping file is told the same way.
    writeFileSync(join(home, 's16.json'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('[]', 'utf16le')]));
    const utf16 = await sparctl(['strategy', 'add', '--file', 's16.json']);
    expect(utf16.code).toBe(2);
    expect(utf16.stderr).toContain("s16.json:1: UTF-16 text (it starts with UTF-16's byte-order mark), not UTF-8");
  });
});
