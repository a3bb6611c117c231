import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { cliEnv, ROOT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Every table fits the terminal: at 80 and at 120 columns no line of any command's table (stdout,
 * or stderr for a bulk run's summary) is wider than the terminal, colour codes not counted, and
 * tables say SPAR's reasons in words while -o json keeps the codes.
 */

const ANSI = /\u001b\[[0-9;]*m/g;
/** A SPAR reason code, e.g. succ.fa.not_linked_to_id or rjct.reference_id.duplicate. */
const SPAR_CODE = /\b(?:succ|rjct)\.[a-z_]+\.[a-z_.]+/;
const BANK = ['--fa-type', 'BANK', '--bank-name', 'Example Bank', '--bank-code', 'EXB', '--branch-name', 'Main', '--branch-code', '0001'];

function widest(text: string): number {
  return Math.max(
    0,
    ...text
      .replace(ANSI, '')
      .split('\n')
      .map((line) => [...line].length),
  );
}

/** No line of `text` (a table) is wider than `width` once colour codes are taken out. */
function expectFits(what: string, text: string, width: number): void {
  const longest = widest(text);
  expect({ what, longest: longest <= width ? 'fits' : `${longest} columns` }).toEqual({ what, longest: 'fits' });
}

/** The summary table a bulk run prints on stderr: the lines before "N records in …". */
function summaryTable(stderr: string): string {
  const lines = stderr.split('\n');
  return lines
    .slice(
      0,
      lines.findIndex((line) => /^\d+ records? in /.test(line)),
    )
    .join('\n');
}

describe.each([80, 120])('tables at %i columns', (width) => {
  it('link, update, resolve and a bulk summary fit, with reasons in words (codes only in -o json)', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const run = async (what: string, args: string[], extraEnv: Record<string, string> = {}) => {
      const result = await runMain(['--create', '--db', db, ...args], { env: { ...env, ...extraEnv }, columns: width, cwd: dir });
      expectFits(what, result.stdout, width);
      return result;
    };

    const linked = await run('link', ['link', '--id', 'BENE_0005', ...BANK, '--account-number', '0012345678', '-o', 'table']);
    expect(linked.code).toBe(0);
    expect(linked.stdout).toMatch(/^id +outcome +reason\nBENE_0005 +linked\n$/);

    const again = await run('link again', ['link', '--id', 'BENE_0005', ...BANK, '--account-number', '0012345678', '-o', 'table']);
    expect(again.code).toBe(5);
    expect(again.stdout).toMatch(/^BENE_0005 +already linked$/m);
    expect(again.stdout).not.toMatch(SPAR_CODE);

    const wouldBe = await run('link --dry-run', [
      'link',
      '--id',
      'BENE_0005',
      ...BANK,
      '--account-number',
      '0012345678',
      '--dry-run',
      '-o',
      'table',
    ]);
    // The reason would repeat the outcome: left out.
    expect(wouldBe.stdout).toMatch(/^BENE_0005 +would be already linked$/m);
    expect(wouldBe.stdout).not.toMatch(SPAR_CODE);

    const updated = await run('update', ['update', '--id', 'BENE_0005', ...BANK, '--account-number', '0098765432', '-o', 'table']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/^BENE_0005 +updated$/m);

    const missing = await run('update missing', ['update', '--id', 'NOPE', ...BANK, '--account-number', '0098765432', '-o', 'table']);
    expect(missing.stdout).toMatch(/^NOPE +not found +not linked$/m);
    expect(missing.stdout).not.toMatch(SPAR_CODE);

    // Colour on: the escape codes take no room.
    const resolved = await run('resolve', ['resolve', 'BENE_0005', 'NOPE', '-o', 'table'], { FORCE_COLOR: '1' });
    expect(resolved.code).toBe(0);
    const plain = resolved.stdout.replace(ANSI, '');
    expect(resolved.stdout).toMatch(ANSI);
    expect(plain).toMatch(/^BENE_0005 +found +account_number: 0098765432$/m);
    expect(plain).toMatch(/^NOPE +not found +not linked$/m);
    expect(plain).not.toMatch(SPAR_CODE);
    expect(plain).not.toContain("doesn't exist");
    // JSON keeps SPAR's code and message.
    const json = await run('resolve -o json', ['resolve', 'BENE_0005', 'NOPE', '-o', 'json']);
    expect(json.stdout).toContain('"status_reason_code": "succ.fa.not_linked_to_id"');
    expect(json.stdout).toContain(`"status_reason_message": "ID doesn't exist, please link first"`);

    const bulk = await run('link --file', [
      'link',
      '--file',
      join(ROOT, 'fixtures', 'beneficiaries.csv'),
      '--rejects',
      join(dir, 'rejects.csv'),
      '-o',
      'table',
    ]);
    expect(bulk.code).toBe(5); // BENE_0005 is linked already
    expectFits('link --file summary', summaryTable(bulk.stderr), width);
    expect(bulk.stderr).toMatch(/^ +applied +unchanged +rejected +total$/m);
    expect(bulk.stderr).toMatch(/^link +9 +0 +1 +10$/m);

    const all = await run('resolve --file', ['resolve', '--file', join(ROOT, 'fixtures', 'beneficiaries.csv'), '-o', 'table']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^line +id +outcome +financial address +reason$/m);
    expect(all.stdout).toMatch(/^ +11 +BENE_0010 +found +email_address: grace\.mendoza@example\.org$/m);
  });

  it('strategy list, dfsp list, config show and profiles, ping fit', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const run = async (what: string, args: string[]) => {
      const result = await runMain(args, { env, columns: width, cwd: dir });
      // The layout is under test, not the length of the temp folder's name in a path shown whole.
      expectFits(what, result.stdout.replaceAll(tmpdir(), '/tmp'), width);
      return result;
    };

    expect((await runMain(['--db', db, 'init'], { env, cwd: dir })).code).toBe(0);
    // Before: 174 columns, the construct strategies on one line each.
    const strategies = await run('strategy list', ['--create', '--db', db, 'strategy', 'list', '-o', 'table']);
    expect(strategies.code).toBe(0);
    expect(strategies.stdout).toMatch(/^id +type +construct +description$/m);
    // Strategy 2's construct template, wrapped in its column but whole.
    const [header = '', ...lines] = strategies.stdout.split('\n');
    const column = (line: string) => line.slice(header.indexOf('construct'), header.indexOf('description')).trim();
    const second = lines.slice(lines.findIndex((line) => line.startsWith('2 ')));
    const construct = second.slice(0, second.indexOf('')).map(column).join('');
    expect(construct).toBe(
      'account_number:{account_number}.branch_name:{branch_name}.branch_code:{branch_code}.bank_name:{bank_name}.bank_code:{bank_code}.fa_type:{fa_type}',
    );

    expect(
      (await run('dfsp import', ['--create', '--db', db, 'dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json'), '-o', 'table'])).code,
    ).toBe(0);
    const dfsp = await run('dfsp list', ['--create', '--db', db, 'dfsp', 'list', '-o', 'table']);
    expect(dfsp.stdout).toMatch(/^type +code +name +bank_code$/m);
    expect(dfsp.stdout).toMatch(/^bank +DBP +Development Bank of the Philippines$/m);

    expect((await run('config init', ['config', 'init', '-o', 'table'])).code).toBe(0);
    const show = await run('config show', ['config', 'show', '-o', 'table']);
    expect(show.stdout).toMatch(
      /^config file: .*config\.json\ntarget: local .*mapper\.db \(profile local\)\n {2}named by the first of: .*\nsetting +value +from$/m,
    );
    expect(show.stdout).toMatch(/^mode +local +profile local$/m);
    const profiles = await run('config profiles', ['config', 'profiles', '-o', 'table']);
    expect(profiles.stdout).toMatch(/^profile +mode +default\nlocal +local +yes\nstaging +remote\n$/);

    const ping = await run('ping', ['--create', '--db', db, 'ping', '-o', 'table']);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toMatch(/^ok {4}resolve: local mapper answered/);
  });

  it('smoke fits, passing or failing, and says a wrong answer in words', async () => {
    const { env } = cliEnv();
    const db = join(tempDir(), 'mapper.db');
    const smoke = async (what: string, args: string[]) => {
      const result = await runMain(args, { env, columns: width });
      expectFits(what, result.stdout, width);
      return result;
    };
    expect((await runMain(['init', '--db', db], { env })).code).toBe(0); // smoke tests a mapper, never makes one
    const passed = await smoke('smoke', ['--db', db, 'smoke', '-o', 'table']);
    expect(passed.code).toBe(0);
    expect(passed.stdout).toMatch(/^# {2}step +result +ms +detail$/m);
    expect(passed.stdout).toMatch(/^6 +resolve \(after unlink\) +pass +\d+ +not found$/m);

    // A strategy 2 that asks for a field no BANK FA has: the local mapper rejects the link.
    const handle = openDatabase(db);
    prepare(handle, "UPDATE strategy SET construct_strategy = '{nonexistent}' WHERE id = 2").run();
    handle.close();
    const failed = await smoke('smoke, failing', ['--db', db, 'smoke', '-o', 'table']);
    expect(failed.code).toBe(5);
    expect(failed.stdout.replace(/\s+/g, ' ')).toContain(
      'expected outcome linked; got outcome rejected (invalid FA: strategy 2 needs nonexistent, which a BANK FA does not have)',
    );
    expect(failed.stdout).not.toMatch(SPAR_CODE);
    const json = await runMain(['--db', db, 'smoke', '-o', 'json'], { env });
    expect(json.stdout).toContain(
      '"got": "outcome rejected (rjct.fa.invalid: strategy 2 needs nonexistent, which a BANK FA does not have)"',
    );

    // A mapper that is not there: the longest detail of all (150 columns before).
    const refused = await smoke('smoke, refused', ['smoke', '--url', 'http://127.0.0.1:1', '-o', 'table']);
    expect(refused.code).toBe(4);
    expect(refused.stdout.replace(/\s+/g, ' ')).toContain(
      'expected outcome linked; got error: POST http://127.0.0.1:1/mapper/link: connection refused',
    );
  });
});
