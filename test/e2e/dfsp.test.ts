import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DfspStore } from '../../src/adapters/sqlite/dfsp-store.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import type { DfspData } from '../../src/core/mapping.js';
import { ROOT, cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const CSV = `type,code,name,bank_code
BANK,LBP,Land Bank of the Philippines,
BRANCH,0012,Quezon City - Kamuning,LBP
BRANCH,0045,Davao - Bajada,LBP
MOBILE_WALLET,GCASH,GCash,
EMAIL_WALLET,PAYPAL,PayPal,
`;

describe('sparctl dfsp', () => {
  it('imports a CSV, lists it, renames on a second import, and import-csv fills names from it', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    writeFileSync(join(dir, 'dfsp.csv'), CSV);
    const imported = await runMain(['--create', '--db', db, 'dfsp', 'import', 'dfsp.csv'], { env, cwd: dir });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(/5 entries \(1 bank, 2 branches, 2 wallet providers\): 5 added, 0 renamed, 0 unchanged/);

    const listed = await runMain(['--create', '--db', db, 'dfsp', 'list', '-o', 'jsonl'], { env, cwd: dir });
    expect(listed.code).toBe(0);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      { type: 'bank', code: 'LBP', name: 'Land Bank of the Philippines' },
      { type: 'branch', code: '0012', name: 'Quezon City - Kamuning', bank_code: 'LBP' },
      { type: 'branch', code: '0045', name: 'Davao - Bajada', bank_code: 'LBP' },
      { type: 'mobile wallet', code: 'GCASH', name: 'GCash' },
      { type: 'e-mail wallet', code: 'PAYPAL', name: 'PayPal' },
    ]);
    const search = await runMain(
      ['--create', '--db', db, 'dfsp', 'list', '--type', 'branches', '--bank', 'LBP', '--search', 'davao', '-o', 'table'],
      { env, cwd: dir },
    );
    expect(search.stdout).toMatch(/^type +code +name +bank_code\nbranch +0045 +Davao - Bajada +LBP\n$/);

    writeFileSync(join(dir, 'rename.csv'), 'type,code,name,bank_code\nBANK,LBP,LANDBANK,\nBANK,DBP,Development Bank of the Philippines,\n');
    const renamed = await runMain(['--create', '--db', db, 'dfsp', 'import', 'rename.csv'], { env, cwd: dir });
    expect(renamed.stderr).toMatch(/1 added, 1 renamed, 0 unchanged/);

    // import-csv without --dfsp: names come from the mapper's own DFSP data; unknown codes are rejected.
    const rows = [
      'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email',
      'H1,000400000001,Ana Santos,0917 555 0001,bank,LBP,0012,000123456789,,,',
      'H2,000400000002,Ben Cruz,0917 555 0002,bank,BDO,0310,000123456790,,,',
      'H3,000400000003,Cora Reyes,0917 555 0003,gcash,,,,GCASH,0917 555 0003,',
    ];
    writeFileSync(join(dir, 'enumeration.csv'), `${rows.join('\n')}\n`);
    const run = await runMain(
      [
        '--create',
        '--db',
        db,
        'import-csv',
        'enumeration.csv',
        '--mapping',
        join(ROOT, 'fixtures', 'enumeration.mapping.json'),
        '--results',
        'results.jsonl',
      ],
      { env, cwd: dir },
    );
    expect(run.code, run.stderr).toBe(5);
    const resolved = await runMain(['--create', '--db', db, 'resolve', '--id', 'token:000400000001@nationalId', '-o', 'json'], {
      env,
      cwd: dir,
    });
    expect(JSON.parse(resolved.stdout).results[0].fa).toMatchObject({ bank_name: 'LANDBANK', branch_name: 'Quezon City - Kamuning' });
    const rejects = await runMain(['--create', '--db', db, 'resolve', '--id', 'token:000400000002@nationalId', '-o', 'json'], {
      env,
      cwd: dir,
    });
    expect(JSON.parse(rejects.stdout).results[0].outcome).toBe('not_found');
  });

  it('remove: a branch, then a bank with its branches, leave the list; imports then refuse their codes; importing again brings them back; a dry run writes nothing', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    writeFileSync(join(dir, 'dfsp.csv'), CSV);
    const sparctl = (...args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
    expect((await sparctl('--create', 'dfsp', 'import', 'dfsp.csv')).code).toBe(0);
    const listed = async () =>
      (await sparctl('dfsp', 'list', '-o', 'jsonl')).stdout
        .trim()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => {
          const row = JSON.parse(line) as { type: string; code: string; bank_code?: string };
          return `${row.type} ${row.bank_code === undefined ? '' : `${row.bank_code}/`}${row.code}`;
        });
    const everything = ['bank LBP', 'branch LBP/0012', 'branch LBP/0045', 'mobile wallet GCASH', 'e-mail wallet PAYPAL'];
    expect(await listed()).toEqual(everything);

    // A dry run says what would go and leaves the file as it was, byte for byte.
    const before = readFileSync(db);
    const dry = await sparctl('dfsp', 'remove', 'BANK', 'LBP', '--with-branches', '--dry-run', '-o', 'json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      command: 'dfsp remove',
      dryRun: true,
      type: 'BANK',
      code: 'LBP',
      branches: ['0012', '0045'],
    });
    expect(dry.stderr).toContain('would be removed');
    expect(readFileSync(db).equals(before)).toBe(true);
    expect(await listed()).toEqual(everything);

    // A bank is not removed from under its branches unless they are named to go.
    const refused = await sparctl('dfsp', 'remove', 'BANK', 'LBP');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'sparctl: error [dfsp.has_branches]: bank LBP (Land Bank of the Philippines) has 2 branches listed (0012, 0045); nothing was removed',
    );
    expect(refused.stderr).toContain(`sparctl --db ${db} dfsp remove BRANCH CODE --bank LBP`);
    // A code not listed: named, with the near one.
    const typo = await sparctl('dfsp', 'remove', 'BANK', 'LPB');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('[dfsp.not_found]: bank LPB: not in the list of');
    expect(typo.stderr).toContain('did you mean "LBP"?');
    expect(await listed()).toEqual(everything);

    const branch = await sparctl('dfsp', 'remove', 'branch', '0045', '--bank', 'LBP');
    expect(branch.code, branch.stderr).toBe(0);
    expect(branch.stderr).toContain('branch 0045 of bank LBP (Davao - Bajada) removed from the list');
    const wallet = await sparctl('dfsp', 'remove', 'MOBILE_WALLET', 'GCASH');
    expect(wallet.code, wallet.stderr).toBe(0);
    expect(await listed()).toEqual(['bank LBP', 'branch LBP/0012', 'e-mail wallet PAYPAL']);
    // Removed already: not found, as a code never listed.
    expect((await sparctl('dfsp', 'remove', 'BRANCH', '0045', '--bank', 'LBP')).stderr).toContain('[dfsp.not_found]');

    // import-csv without --dfsp takes names from the list: the removed branch's code is refused.
    const rows = [
      'household_no,national_id,full_name,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email',
      'H1,000400000001,Ana Santos,0917 555 0001,bank,LBP,0012,000123456789,,,',
      'H2,000400000002,Ben Cruz,0917 555 0002,bank,LBP,0045,000123456790,,,',
    ];
    writeFileSync(join(dir, 'enumeration.csv'), `${rows.join('\n')}\n`);
    const mapping = join(ROOT, 'fixtures', 'enumeration.mapping.json');
    const run = await sparctl('import-csv', 'enumeration.csv', '--mapping', mapping, '--rejects', 'r.csv');
    expect(run.code, run.stderr).toBe(5);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/000400000002/);
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toContain(
      'mapping.unknown_branch,"branch_code: unknown branch code ""0045"" of bank ""LBP""',
    );
    expect(readFileSync(join(dir, 'r.csv'), 'utf8')).not.toContain('000400000001');

    // The bank with its last branch; then the file imported again brings every entry back.
    const bank = await sparctl('dfsp', 'remove', 'BANK', 'LBP', '--with-branches', '-o', 'json');
    expect(bank.code, bank.stderr).toBe(0);
    expect(JSON.parse(bank.stdout)).toMatchObject({ dryRun: false, branches: ['0012'] });
    // Said, so that no one believes a list with no banks still refuses bank codes in fa edit.
    expect(bank.stderr).toContain('no banks are listed now: fa edit asks for the bank code as free text');
    expect(await listed()).toEqual(['e-mail wallet PAYPAL']);
    const again = await sparctl('dfsp', 'import', 'dfsp.csv');
    expect(again.stderr).toMatch(/4 added, 0 renamed, 1 unchanged/);
    expect(await listed()).toEqual(everything);
  });

  it('remove: refused on a remote target, with a type it does not know, and with flags that do not fit the type; nothing is opened', async () => {
    const { env } = cliEnv();
    const dir = tempDir();
    const remote = await runMain(['--url', 'http://127.0.0.1:9', 'dfsp', 'remove', 'BANK', 'LBP'], { env, cwd: dir });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('[dfsp.remote_write]');
    const db = join(dir, 'none.db');
    for (const [args, code] of [
      [['BANKS', 'LBP'], 'usage.invalid_argument'],
      [['BRANCH', '0012'], 'usage.missing_mandatory_option_value'],
      [['BANK', 'LBP', '--bank', 'LBP'], 'usage.conflicting_option'],
      [['MOBILE_WALLET', 'GCASH', '--with-branches'], 'usage.conflicting_option'],
    ] as const) {
      const result = await runMain(['--db', db, 'dfsp', 'remove', ...args], { env, cwd: dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`[${code}]`);
    }
    // A mapper that is not there is not made to remove from: a named one is refused, the
    // default one (never made yet) holds an empty list.
    const missing = await runMain(['--db', db, 'dfsp', 'remove', 'BANK', 'LBP'], { env, cwd: dir });
    expect(missing.stderr).toContain('[local.no_mapper]');
    expect(existsSync(db)).toBe(false);
    const byDefault = await runMain(['dfsp', 'remove', 'BANK', 'LBP'], { env, cwd: dir });
    expect(byDefault.code).toBe(2);
    expect(byDefault.stderr).toContain('[local.no_mapper]: no mapper at');
    expect(existsSync(join(env['XDG_DATA_HOME']!, 'sparctl', 'mapper.db'))).toBe(false);
    // An SQLite file that is no mapper (no tables) is not made one, dry run or not.
    const bare = join(dir, 'bare.db');
    const made = openDatabase(bare);
    prepare(made, 'PRAGMA user_version = 0').run();
    made.exec('VACUUM');
    const bareBytes = readFileSync(bare);
    for (const more of [[], ['--dry-run']]) {
      const result = await runMain(['--db', bare, 'dfsp', 'remove', 'BANK', 'LBP', ...more], { env, cwd: dir });
      expect(result.stderr).toContain('[local.no_mapper]');
      expect(readFileSync(bare).equals(bareBytes)).toBe(true);
    }
    // Control characters never reach the terminal; invisible ones are named, as dfsp import names them.
    const escape = await runMain(['--db', db, 'dfsp', 'remove', 'BRANCH', '0012', '--bank', 'LBP\u001b]0;x\u0007'], { env, cwd: dir });
    expect(escape.code).toBe(2);
    expect(escape.stderr).not.toContain('\u001b');
    expect(escape.stderr).toContain('[usage.invalid_argument]: dfsp remove: --bank "LBP\\u001b]0;x\\u0007" contains a control character');
    const invisible = await runMain(['--db', db, 'dfsp', 'remove', 'BANK', 'BDO\u200b'], { env, cwd: dir });
    expect(invisible.stderr).toContain('U+200B');
  });

  it("remove, in the tables: an import re-checks a branch's bank under its write lock; a removed branch's SPAR name stays taken; a branch under a removed bank is not listed; a dry run writes nothing", async () => {
    const dir = tempDir();
    const db = join(dir, 'mapper.db');
    const store = DfspStore.open(db, { create: true });
    try {
      store.import({
        banks: [
          { code: 'LBP', name: 'Land Bank' },
          { code: 'A-B', name: 'AB' },
          { code: 'A', name: 'A' },
        ],
        branches: [
          { code: '0012', name: 'Kamuning', bank_code: 'LBP' },
          { code: 'C', name: 'C', bank_code: 'A-B' },
        ],
        wallet_providers: [],
      } as DfspData);
      const bytes = () => readFileSync(db);
      const before = bytes();
      expect(store.remove({ kind: 'branch', code: '0012', bankCode: 'LBP' }, { withBranches: false, dryRun: true })).toEqual({
        found: true,
        name: 'Kamuning',
        branches: [],
      });
      expect(bytes().equals(before)).toBe(true);
      expect(store.read().branches.map((b) => b.code)).toEqual(['C', '0012']);

      // The bank goes (as a remove between an import's check and its write would take it).
      store.remove({ kind: 'bank', code: 'LBP' }, { withBranches: true, dryRun: false });
      const late = { banks: [], branches: [{ code: '0099', name: 'New', bank_code: 'LBP' }], wallet_providers: [] } as DfspData;
      for (const dryRun of [true, false])
        expect(() => store.import(late, { dryRun })).toThrow(/branch "0099" of bank "LBP": the bank is not in the list/);
      expect(store.read().branches.map((b) => b.code)).toEqual(['C']);
      // The bank listed again, or a new one, with its branches: a dry run says what the import does.
      const back = {
        banks: [
          { code: 'LBP', name: 'Land Bank' },
          { code: 'NEW', name: 'New Bank' },
        ],
        branches: [
          { code: '0099', name: 'New', bank_code: 'LBP' },
          { code: '0001', name: 'Main', bank_code: 'NEW' },
        ],
        wallet_providers: [],
      } as DfspData;
      const unchanged = bytes();
      expect(store.import(back, { dryRun: true })).toEqual({ added: 4, renamed: 0, unchanged: 0 });
      expect(bytes().equals(unchanged)).toBe(true);

      // A-B's C removed, A's B-C would take SPAR's name A-B-C: refused, not an internal error.
      store.remove({ kind: 'branch', code: 'C', bankCode: 'A-B' }, { withBranches: false, dryRun: false });
      const clash = { banks: [], branches: [{ code: 'B-C', name: 'BC', bank_code: 'A' }], wallet_providers: [] } as DfspData;
      for (const dryRun of [true, false])
        expect(() => store.import(clash, { dryRun })).toThrow(/would be named A-B-C, as a removed branch "C" is; nothing was imported/);
    } finally {
      store.close();
    }
    // A bank taken out by hand in SPAR's tables takes its branches out of the list with it.
    const fresh = DfspStore.open(db);
    try {
      fresh.import({
        banks: [{ code: 'BDO', name: 'BDO' }],
        branches: [{ code: '0001', name: 'M', bank_code: 'BDO' }],
        wallet_providers: [],
      } as DfspData);
      const handle = openDatabase(db);
      prepare(handle, "UPDATE banks SET active = 0 WHERE bank_code = 'BDO'").run();
      expect(fresh.read().branches).toEqual([]);
      expect(fresh.remove({ kind: 'branch', code: '0001', bankCode: 'BDO' }, { withBranches: false, dryRun: false })).toEqual({
        found: false,
      });
    } finally {
      fresh.close();
    }
  });

  it('refuses a bad file whole, naming each line and field, and imports nothing', async () => {
    const dir = tempDir();
    const { env } = cliEnv();
    const db = join(dir, 'mapper.db');
    writeFileSync(
      join(dir, 'bad.csv'),
      'type,code,name,bank_code\nBANK,LBP,Land Bank,\nBRANCH,0012,Kamuning,\nWALLET,X,Y,\nBANK,LBP,Again,\nBRANCH,0099,Somewhere,NOPE\n',
    );
    const run = await runMain(['--create', '--db', db, 'dfsp', 'import', 'bad.csv'], { env, cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('bad.csv:3: bank_code: a branch needs the code of its bank');
    expect(run.stderr).toContain('bad.csv:4: type: must be one of BANK, BRANCH, MOBILE_WALLET, EMAIL_WALLET, got "WALLET"');
    expect(run.stderr).toContain('bad.csv:5: code: bank "LBP" is already on line 2');
    expect(run.stderr).toContain('bad.csv:6: bank_code: bank "NOPE" is neither in this file nor already known');
    expect(run.stderr).toMatch(/nothing was imported/);
    const listed = await runMain(['--create', '--db', db, 'dfsp', 'list', '-o', 'jsonl'], { env, cwd: dir });
    expect(listed.stdout).toBe('');

    // Codes a person reads as one: letter case, a fullwidth letter, an invisible character — in
    // the file and against codes already known. (The same code again, already known, is fine.)
    expect(
      (await runMain(['--create', '--db', db, 'dfsp', 'import', '-q', join(ROOT, 'fixtures/dfsp.json')], { env, cwd: dir })).code,
    ).toBe(0);
    writeFileSync(
      join(dir, 'alike.csv'),
      'type,code,name,bank_code\nBANK,abc,Lower,\nBANK,ABC,Upper,\nBANK,\uFF21BC,Wide,\nBANK,A\u200BX,Hidden,\nBANK,lbp,Land again,\nBANK,LBP,Land Bank of the Philippines,\n',
    );
    const alike = await runMain(['--create', '--db', db, 'dfsp', 'import', 'alike.csv'], { env, cwd: dir });
    expect(alike.code, alike.stderr).toBe(2);
    expect(alike.stderr).toContain('alike.csv:3: code: bank "ABC" and bank "abc" (line 2) differ only in letter case or character form');
    expect(alike.stderr).toContain('alike.csv:4: code: bank "\uFF21BC" and bank "abc" (line 2) differ only');
    expect(alike.stderr).toContain('alike.csv:5: code: "A\u200BX" contains U+200B (ZERO WIDTH SPACE), a character that cannot be seen');
    expect(alike.stderr).toContain('alike.csv:6: code: bank "lbp" and bank "LBP" (already known) differ only');
    expect(alike.stderr).not.toContain('alike.csv:7');

    // Look-alike codes an earlier sparctl let into the mapper: taken as they are, never blocking
    // an import that does not add one (nor the same file again, nor an import-csv).
    const handle = openDatabase(db);
    prepare(
      handle,
      "INSERT INTO banks (bank_mnemonic, bank_name, bank_code, created_at, updated_at) VALUES ('gcb', 'Lower G', 'gcb', 'x', 'x'), ('GCB', 'Upper G', 'GCB', 'x', 'x')",
    ).run();
    handle.close();
    writeFileSync(
      join(dir, 'again.csv'),
      'type,code,name,bank_code\nBANK,LBP,Land Bank of the Philippines,\nBANK,gcb,Lower G,\nBANK,NEW1,New Bank,\n',
    );
    const again = await runMain(['--db', db, 'dfsp', 'import', 'again.csv'], { env, cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    const json = join(dir, 'again.json');
    writeFileSync(
      json,
      JSON.stringify({
        banks: [
          { code: 'GCB', name: 'Upper G' },
          { code: 'NEW2', name: 'Newer' },
        ],
        branches: [],
        wallet_providers: [],
      }),
    );
    const fromJson = await runMain(['--db', db, 'dfsp', 'import', json], { env, cwd: dir });
    expect(fromJson.code, fromJson.stderr).toBe(0);
    writeFileSync(json, JSON.stringify({ banks: [{ code: 'new2', name: 'Newer' }], branches: [], wallet_providers: [] }));
    const alikeJson = await runMain(['--db', db, 'dfsp', 'import', json], { env, cwd: dir });
    expect(alikeJson.code).toBe(2);
    expect(alikeJson.stderr).toContain(
      'banks.0.code: bank "new2" and bank "NEW2" (already known) differ only in letter case or character form',
    );
    const linked = await runMain(
      ['--db', db, 'import-csv', join(ROOT, 'fixtures/enumeration.csv'), '--mapping', join(ROOT, 'fixtures/enumeration.mapping.json')],
      { env, cwd: dir },
    );
    expect(linked.stderr).not.toContain('dfsp.invalid');

    // Two branches SPAR would give one name (BANK-BRANCH): refused up front, in a dry run too,
    // within the file and against branches already known.
    writeFileSync(
      join(dir, 'hyphens.csv'),
      'type,code,name,bank_code\nBANK,A-B,Bank AB,\nBANK,A,Bank A,\nBRANCH,C,Branch C,A-B\nBRANCH,B-C,Branch BC,A\n',
    );
    for (const dry of [['--dry-run'], []]) {
      const clash = await runMain(['--create', '--db', db, 'dfsp', 'import', 'hyphens.csv', ...dry], { env, cwd: dir });
      expect(clash.code, clash.stderr).toBe(2);
      expect(clash.stderr).toContain(
        'hyphens.csv:5: code: branch "B-C" of bank "A" and branch "C" of bank "A-B" (line 4) would both be named A-B-C in SPAR, where branch names are unique; change one of the codes',
      );
    }
    writeFileSync(join(dir, 'first.csv'), 'type,code,name,bank_code\nBANK,A-B,Bank AB,\nBANK,A,Bank A,\nBRANCH,C,Branch C,A-B\n');
    expect((await runMain(['--create', '--db', db, 'dfsp', 'import', 'first.csv'], { env, cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'second.csv'), 'type,code,name,bank_code\nBRANCH,B-C,Branch BC,A\nBRANCH,C,Branch C renamed,A-B\n');
    const later = await runMain(['--db', db, 'dfsp', 'import', 'second.csv'], { env, cwd: dir });
    expect(later.code, later.stderr).toBe(2);
    expect(later.stderr).toContain(
      'second.csv:2: code: branch "B-C" of bank "A" and branch "C" of bank "A-B" (already known) would both be named A-B-C',
    );

    // What `dfsp list -o csv` writes is read back as written ("mobile wallet" for MOBILE_WALLET):
    // a list copied into another mapper is the same list.
    const listCsv = (database: string) => runMain(['--db', database, 'dfsp', 'list', '-o', 'csv'], { env, cwd: dir });
    const source = join(dir, 'source.db');
    expect(
      (await runMain(['--create', '--db', source, 'dfsp', 'import', '-q', join(ROOT, 'fixtures/dfsp.json')], { env, cwd: dir })).code,
    ).toBe(0);
    const copied = join(dir, 'copied.csv');
    writeFileSync(copied, (await listCsv(source)).stdout);
    expect(readFileSync(copied, 'utf8')).toMatch(/^mobile wallet,GCASH,GCash,$/m);
    const copy = await runMain(['--create', '--db', join(dir, 'copy.db'), 'dfsp', 'import', copied], { env, cwd: dir });
    expect(copy.code, copy.stderr).toBe(0);
    expect((await listCsv(join(dir, 'copy.db'))).stdout).toBe((await listCsv(source)).stdout);

    // Names a spreadsheet would run as formulas are quoted so that the copy reads them back as
    // they are (sparctl_quoted, as in a reject file), not with an apostrophe more per copy.
    const formulas = join(dir, 'formulas.db');
    writeFileSync(
      join(dir, 'formulas.csv'),
      "type,code,name,bank_code\nBANK,PL,+Plus Bank,\nBRANCH,0012,-Minus,PL\nMOBILE_WALLET,AT,@Wallet,\nBANK,QQ,'=Quoted,\n",
    );
    expect((await runMain(['--create', '--db', formulas, 'dfsp', 'import', '-q', 'formulas.csv'], { env, cwd: dir })).code).toBe(0);
    const quotedList = (await listCsv(formulas)).stdout;
    expect(quotedList).toContain("bank,PL,'+Plus Bank,,name");
    writeFileSync(join(dir, 'formulas-copy.csv'), quotedList);
    const copyOfQuoted = join(dir, 'formulas-copy.db');
    expect((await runMain(['--create', '--db', copyOfQuoted, 'dfsp', 'import', '-q', 'formulas-copy.csv'], { env, cwd: dir })).code).toBe(
      0,
    );
    const names = async (database: string) => (await runMain(['--db', database, 'dfsp', 'list', '-o', 'jsonl'], { env, cwd: dir })).stdout;
    expect(await names(copyOfQuoted)).toBe(await names(formulas));
    expect(await names(copyOfQuoted)).toContain('"name":"+Plus Bank"');
    expect(await names(copyOfQuoted)).toContain('"name":"\'=Quoted"');

    const remote = await runMain(['dfsp', 'list'], { env: { ...env, SPARCTL_BASE_URL: 'http://127.0.0.1:9' }, cwd: dir });
    expect(remote.code).toBe(3);
    expect(remote.stderr).toMatch(/no dfspUrl/);
  });
});

describe('sparctl dfsp list, remote', () => {
  it("reads SPAR's bene-portal /dfsp/fetch-* endpoints, turning branch bank ids into codes; a gateway key in the URL's query goes with each", async () => {
    const { createServer } = await import('node:http');
    const seen: string[] = [];
    const payloads: Record<string, unknown> = {
      '/api/bene-portal/dfsp/fetch-banks': { banks: [{ id: 7, bank_mnemonic: 'EXB', bank_name: 'Example Bank', bank_code: 'EXB' }] },
      '/api/bene-portal/dfsp/fetch-branches': {
        branches: [{ id: 1, branch_mnemonic: 'EXB_MAIN', branch_name: 'Main', branch_code: '0001', bank_id: 7 }],
      },
      '/api/bene-portal/dfsp/fetch-wallet-service-providers': {
        wallet_service_providers: [{ id: 3, sp_mnemonic: 'PINK', sp_name: 'Pink Wallet', sp_code: 'PINK', wallet_type: 'MOBILE_WALLET' }],
      },
    };
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen.push(
          `${request.method} ${request.url} ${(JSON.parse(body) as { request_header?: { sender_app_mnemonic?: string } }).request_header?.sender_app_mnemonic}`,
        );
        const payload = payloads[new URL(request.url ?? '', 'http://h').pathname];
        response.writeHead(payload ? 200 : 404, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify(
            payload
              ? { response_header: { response_status: 'SUCCESS' }, response_body: { pagination_response: null, response_payload: payload } }
              : { detail: 'Not Found' },
          ),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      const { env } = cliEnv({
        SPARCTL_BASE_URL: `http://127.0.0.1:${port}/api/mapper`,
        SPARCTL_DFSP_URL: `http://127.0.0.1:${port}/api/bene-portal?subscription-key=K1`,
      });
      const listed = await runMain(['dfsp', 'list', '-o', 'jsonl'], { env });
      expect(listed.code, listed.stderr).toBe(0);
      expect(
        listed.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as unknown),
      ).toEqual([
        { type: 'bank', code: 'EXB', name: 'Example Bank' },
        { type: 'branch', code: '0001', name: 'Main', bank_code: 'EXB' },
        { type: 'mobile wallet', code: 'PINK', name: 'Pink Wallet' },
      ]);
      expect(seen).toEqual([
        'POST /api/bene-portal/dfsp/fetch-banks?subscription-key=K1 sparctl',
        'POST /api/bene-portal/dfsp/fetch-branches?subscription-key=K1 sparctl',
        'POST /api/bene-portal/dfsp/fetch-wallet-service-providers?subscription-key=K1 sparctl',
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
