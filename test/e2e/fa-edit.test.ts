/**
 * `sparctl fa edit`: the built binary in a real pseudo-terminal (test/helpers/pty-run.py), its
 * @inquirer prompts answered with the keys a person would press.
 */
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createSparServer } from '../../src/adapters/server/spar-v2-server.js';
import { DfspStore } from '../../src/adapters/sqlite/dfsp-store.js';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';
import { faChanges, faFromAnswers } from '../../src/core/fa-edit.js';
import { cliEnv, runCli } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { inTerminal } from '../helpers/in-terminal.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const mappers: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of mappers.splice(0)) await mapper.close();
});

const DOWN = '\x1B[B';
const ENTER = '\r';
const BACKSPACE = '\x7f';

/** A non-terminal Io for main(), to check the refusal without a terminal. */
function pipes(home: string) {
  let err = '';
  const io: Io = {
    stdin: new PassThrough(),
    stdout: new Writable({ write: (_chunk: Buffer, _encoding, done) => done() }),
    stderr: new Writable({ write: (chunk: Buffer, _encoding, done) => ((err += chunk.toString()), done()) }),
    stdinIsTTY: true,
    stderrIsTTY: true,
    stdoutIsTTY: false,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
      XDG_STATE_HOME: join(home, 'state'),
      XDG_CACHE_HOME: join(home, 'cache'),
      NO_COLOR: '1',
    },
    cwd: home,
    home,
    columns: 100,
    stderrColumns: 100,
  };
  return { io, stderr: () => err };
}

function seeded() {
  const home = tempDir();
  const db = join(home, 'mapper.db');
  const store = DfspStore.open(db);
  store.import({
    banks: [
      { code: 'EXB', name: 'Example Bank' },
      { code: 'DBP', name: 'Development Bank of the Philippines' },
    ],
    branches: [
      { bank_code: 'EXB', code: '0001', name: 'Main' },
      { bank_code: 'DBP', code: '0105', name: 'Davao - CM Recto' },
    ],
    wallet_providers: [{ code: 'GCASH', name: 'GCash', wallet_type: 'MOBILE_WALLET' }],
  });
  store.close();
  const mapper = LocalMapper.open(db);
  mappers.push(mapper);
  return { home, db, mapper };
}

describe('sparctl fa edit', () => {
  it('changes bank, branch and account after showing before → after and a confirmation; the audit log says who', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B1', fa: bank('000111') }], { source: 'test' });
    const before = mapper.storedFa('B1');
    const { env } = cliEnv();
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', 'B1'],
      [
        { expect: 'FA type', send: [ENTER] },
        // Once the list shows, down to DBP: typing a term would reload the list, and the search
        // prompt ignores Enter while it loads (a loaded machine lost it).
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ EXB', send: [DOWN, ENTER] },
        { expect: 'Branch \\(type to search\\)', send: [ENTER] },
        { expect: 'Account number', send: ['000999888777', ENTER] },
        { expect: 'Update the financial address of B1', send: ['y', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain('* bank_code       EXB → DBP');
    expect(run.transcript).toContain('* account_number  000111 → 000999888777');
    expect(run.transcript).toContain('updated B1');
    const after = mapper.storedFa('B1');
    expect(after).not.toBe(before);
    expect(after).toBe(
      'account_number:000999888777.branch_name:Davao - CM Recto.branch_code:0105.bank_name:Development Bank of the Philippines.bank_code:DBP.fa_type:BANK',
    );
    expect(mapper.auditRows('B1').map((row) => [row.operation, row.source])).toEqual([
      ['link', 'test'],
      ['update', expect.stringMatching(/^sparctl fa edit \(user .+\)$/)],
    ]);
  }, 30_000);

  it('--dry-run asks and shows before → after, then writes nothing: the database is byte-identical', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B9', fa: bank('000111') }], { source: 'test' });
    await mapper.close();
    const { createHash } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const sum = () => createHash('sha256').update(readFileSync(db)).digest('hex');
    const before = sum();
    const { env } = cliEnv();
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', 'B9', '--dry-run'],
      [
        { expect: 'FA type', send: [ENTER] },
        // Once the list shows, down to DBP: typing a term would reload the list, and the search
        // prompt ignores Enter while it loads (a loaded machine lost it).
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ EXB', send: [DOWN, ENTER] },
        { expect: 'Branch \\(type to search\\)', send: [ENTER] },
        { expect: 'Account number', send: ['000999888777', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain('* account_number  000111 → 000999888777');
    expect(run.transcript).toContain('Dry run: nothing was changed');
    expect(run.transcript).not.toContain('updated B9');
    expect(sum()).toBe(before);
  }, 30_000);

  it('re-asks a payment mobile number until it is one, and changes nothing when not confirmed', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B2', fa: bank('000222') }], { source: 'test' });
    const before = mapper.storedFa('B2');
    const { env } = cliEnv();
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', 'B2', '--country', 'PH'],
      [
        { expect: 'FA type', send: [DOWN, ENTER] },
        { expect: 'Wallet provider \\(type to search\\)', send: [ENTER] },
        { expect: 'Payment mobile number', send: ['call me', ENTER] },
        { expect: '"call me" contains letters', send: [...Array<string>(7).fill(BACKSPACE), '0917 555 0101', ENTER] },
        { expect: 'Update the financial address of B2', send: ['n', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain('* mobile_number         — → +639175550101');
    expect(run.transcript).toContain('Cancelled: nothing was changed.');
    expect(mapper.storedFa('B2')).toBe(before);
    expect(mapper.auditRows('B2').map((row) => row.operation)).toEqual(['link']);
  }, 30_000);

  it('works against a remote mapper too (sparctl serve): free-text bank fields when the profile has no DFSP source', async () => {
    const dir = tempDir();
    const backing = LocalMapper.open(join(dir, 'served.db'));
    mappers.push(backing);
    await backing.link([{ reference_id: 'r', id: 'R1', fa: bank('000333') }], { source: 'test' });
    const server = createSparServer({ mapper: backing, partners: new Map() });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { env } = cliEnv({ SPARCTL_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const run = await inTerminal(
        ['fa', 'edit', 'R1'],
        [
          { expect: 'FA type', send: [ENTER] },
          { expect: 'Bank code', send: [ENTER] },
          { expect: 'Bank name', send: [ENTER] },
          { expect: 'Branch code', send: ['0002', ENTER] },
          { expect: 'Branch name', send: ['North', ENTER] },
          { expect: 'Account number', send: [ENTER] },
          { expect: 'Update the financial address of R1', send: ['y', ENTER] },
        ],
        env,
      );
      expect(run.stuck, run.transcript).toBeNull();
      expect(run.code, run.transcript).toBe(0);
      expect(run.transcript).toContain('* branch_code     0001 → 0002');
      expect(backing.storedFa('R1')).toBe(
        'account_number:000333.branch_name:North.branch_code:0002.bank_name:Example Bank.bank_code:EXB.fa_type:BANK',
      );
      expect(backing.auditRows('R1').map((row) => row.operation)).toEqual(['link', 'update']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 30_000);

  it('finds a beneficiary stored in token form from the plain national ID, and edits that one', async () => {
    const { db, mapper } = seeded();
    const token = 'token:000412345004@nationalId';
    await mapper.link([{ reference_id: 'r', id: token, fa: bank('000444') }], { source: 'test' });
    const { env } = cliEnv();
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', '000412345004'],
      [
        { expect: 'is stored as token:000412345004@nationalId \\(ID strategy 1\\); editing that beneficiary', send: [] },
        { expect: 'FA type', send: [ENTER] },
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ EXB', send: [ENTER] },
        { expect: 'Branch \\(type to search\\)\\s*\\n❯ 0001', send: [ENTER] },
        { expect: 'Account number', send: [...Array<string>(6).fill(BACKSPACE), '000555', ENTER] },
        { expect: `Update the financial address of ${token.replace(/[.]/g, '\\.')}`, send: ['y', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain(`updated ${token}`);
    expect(mapper.storedFa(token)).toBe(
      'account_number:000555.branch_name:Main.branch_code:0001.bank_name:Example Bank.bank_code:EXB.fa_type:BANK',
    );
    // No beneficiary was made under the plain ID.
    expect(mapper.storedFa('000412345004')).toBeUndefined();
    expect(mapper.auditRows('000412345004')).toEqual([]);
  }, 30_000);

  it('keeps a current bank and branch the DFSP list does not hold: offered first, marked, and stored as they were', async () => {
    const { db, mapper } = seeded();
    const old = bank('000666', { bank_code: 'OLDB', bank_name: 'Old Savings Bank', branch_code: '0009', branch_name: 'Plaza' });
    await mapper.link([{ reference_id: 'r', id: 'B6', fa: old }], { source: 'test' });
    const { env } = cliEnv();
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', 'B6'],
      [
        { expect: 'FA type', send: [ENTER] },
        { expect: '❯ OLDB\\s+Old Savings Bank\\s+\\(current; not in the DFSP list\\)', send: [ENTER] },
        { expect: '❯ 0009\\s+Plaza\\s+\\(current; not in the DFSP list\\)', send: [ENTER] },
        { expect: 'Account number', send: [...Array<string>(6).fill(BACKSPACE), '000777', ENTER] },
        { expect: 'Update the financial address of B6', send: ['y', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain('* account_number  000666 → 000777');
    expect(mapper.storedFa('B6')).toBe(
      'account_number:000777.branch_name:Plaza.branch_code:0009.bank_name:Old Savings Bank.bank_code:OLDB.fa_type:BANK',
    );
  }, 30_000);

  it('Esc goes back one question, offering the answer given before; at the confirmation, back to the last question', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B7', fa: bank('000111') }], { source: 'test' });
    const { env } = cliEnv();
    const ESC = '\x1B';
    const run = await inTerminal(
      ['--create', '--db', db, 'fa', 'edit', 'B7'],
      [
        { expect: 'FA type', send: [ENTER] },
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ EXB', send: [DOWN, ENTER] },
        // Esc at the branch: the bank question again, DBP (the answer given) first.
        { expect: 'Branch \\(type to search\\)\\s*\\n❯ 0105', send: [ESC] },
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ DBP', send: [ENTER] },
        { expect: 'Branch \\(type to search\\)\\s*\\n❯ 0105', send: [ENTER] },
        { expect: 'Account number', send: [...Array<string>(6).fill(BACKSPACE), '000222', ENTER] },
        // Esc at the confirmation: the account question again, 000222 its default; Enter keeps it.
        { expect: 'Update the financial address of B7', send: [ESC] },
        { expect: 'Account number \\(000222\\)', send: [ENTER] },
        { expect: 'Update the financial address of B7', send: ['y', ENTER] },
      ],
      env,
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(mapper.storedFa('B7')).toBe(
      'account_number:000222.branch_name:Davao - CM Recto.branch_code:0105.bank_name:Development Bank of the Philippines.bank_code:DBP.fa_type:BANK',
    );
    expect(mapper.auditRows('B7').map((row) => row.operation)).toEqual(['link', 'update']);
  }, 30_000);

  it('Ctrl-D at a question ends the edit as Ctrl-C does: exit 130, nothing written', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B3', fa: bank('000333') }], { source: 'test' });
    const { env } = cliEnv();
    for (const steps of [
      [{ expect: 'FA type', send: ['\x04'] }],
      [
        { expect: 'FA type', send: [ENTER] },
        { expect: 'Bank \\(type to search\\)', send: [ENTER] },
        { expect: 'Branch \\(type to search\\)', send: [ENTER] },
        { expect: 'Account number', send: ['9', ENTER] },
        { expect: 'Update the financial address of B3', send: ['\x04'] },
      ],
    ]) {
      const run = await inTerminal(['--db', db, 'fa', 'edit', 'B3'], steps, env);
      expect(run.stuck, run.transcript).toBeNull();
      expect(run.code, run.transcript).toBe(130);
      expect(run.transcript).toContain('error [interrupted]');
    }
    expect(mapper.auditRows('B3').map((row) => row.operation)).toEqual(['link']);
  }, 30_000);

  it('a stop signal at a question (kill, the terminal closing) ends the edit with its own line and exit code, nothing written', async () => {
    const { db, mapper } = seeded();
    await mapper.link([{ reference_id: 'r', id: 'B4', fa: bank('000444') }], { source: 'test' });
    const { env } = cliEnv();
    for (const [signal, code, said] of [
      ['SIGTERM', 143, 'error [terminated]: terminated (SIGTERM); nothing was written'],
      ['SIGHUP', 129, 'error [hangup]: the terminal hung up (SIGHUP); nothing was written'],
      ['SIGINT', 130, 'error [interrupted]: interrupted; nothing was written'],
    ] as const) {
      const run = await inTerminal(['--db', db, 'fa', 'edit', 'B4'], [{ expect: 'FA type', signal }], env);
      expect(run.stuck, run.transcript).toBeNull();
      expect(run.code, run.transcript).toBe(code);
      expect(run.transcript).toContain(said);
    }
    expect(mapper.auditRows('B4').map((row) => row.operation)).toEqual(['link']);
  }, 30_000);

  it('refuses without a terminal or with --no-input, pointing at the flag-based update of the ID as stored', async () => {
    const { env } = cliEnv();
    const { home, db, mapper } = seeded();
    const odd = "B1; echo $(pwned) 'x'";
    await mapper.link(
      ['B1', odd, 'token:000412345004@nationalId'].map((id) => ({ reference_id: id, id, fa: bank('000111') })),
      { source: 'test' },
    );
    // Without a terminal: once as a real process (stdin a pipe), and below in process (runMain: the
    // same main() with a stdin that is no terminal) for the hints of other IDs.
    const piped = await runCli(['--db', db, 'fa', 'edit', 'B1'], { env });
    expect(piped.code).toBe(2);
    // The update names the mapper this run used: pasted without --db, it updated the default mapper.
    expect(piped.stderr).toContain(
      `fa edit asks questions and needs a terminal; nothing was changed (change the FA with flags instead: sparctl --db ${db} update --id B1 --fa-type BANK --bank-code … --branch-code … --account-number …`,
    );
    const term = pipes(home);
    expect(await main(['--create', '--db', db, '--no-input', 'fa', 'edit', 'B1'], term.io)).toBe(2);
    expect(term.stderr()).toMatch(/needs a terminal/);
    // A plain national ID stored in its token form: the update named is of the stored ID (the plain one is not_found).
    const token = pipes(home);
    expect(await main(['--db', db, '--no-input', 'fa', 'edit', '000412345004'], token.io)).toBe(2);
    expect(token.stderr()).toContain(
      `(000412345004 is stored as token:000412345004@nationalId (ID strategy 1); change the FA with flags instead: sparctl --db ${db} update --id token:000412345004@nationalId --fa-type BANK`,
    );
    // Linked in no form: said as such, not pointed at an update that finds nothing.
    const none = pipes(home);
    expect(await main(['--db', db, '--no-input', 'fa', 'edit', 'NOPE'], none.io)).toBe(2);
    expect(none.stderr()).toMatch(/error \[fa\.not_linked\]: NOPE is not linked/);
    expect(none.stderr()).toContain(`: sparctl --db ${db} link --id token:NOPE@nationalId … (or --id NOPE …)`);
    // A wallet's FA: the flags of its own type.
    await mapper.link(
      [
        {
          reference_id: 'W1',
          id: 'W1',
          fa: {
            fa_type: 'MOBILE_WALLET',
            strategy_id: 4,
            wallet_provider_code: 'GCASH',
            wallet_provider_name: 'GCash',
            mobile_number: '+639170000001',
          },
        },
      ],
      { source: 'test' },
    );
    const wallet = await runMain(['--db', db, 'fa', 'edit', 'W1'], { env });
    expect(wallet.stderr).toContain(`sparctl --db ${db} update --id W1 --fa-type MOBILE_WALLET --wallet-provider-code … --mobile-number …`);
    // The ID in the hint is one shell word to copy; a control character in an ID is refused, never echoed raw.
    const quoted = await runMain(['--db', db, 'fa', 'edit', odd], { env });
    expect(quoted.code).toBe(2);
    expect(quoted.stderr).toContain(`sparctl --db ${db} update --id 'B1; echo $(pwned) '\\''x'\\''' --fa-type BANK`);
    const escape = await runMain(['fa', 'edit', 'B1\u001b]0;T\u0007'], { env });
    expect(escape.code).toBe(2);
    expect(escape.stderr).toMatch(/error \[input\.invalid_record\]: invalid record: id contains U\+001B/);
    expect(escape.stderr).not.toMatch(/[\u0007\u001b]/);
    // An ID no input takes is refused as such, before the terminal is asked for.
    const invisible = await runMain(['fa', 'edit', 'B\u200b1'], { env });
    expect(invisible.code).toBe(2);
    expect(invisible.stderr).toMatch(/error \[input\.invalid_record\]/);
  });

  it('says so when the ID is not linked', async () => {
    const { home, db } = seeded();
    const term = pipes(home);
    expect(await main(['--create', '--db', db, 'fa', 'edit', 'NOPE'], term.io)).toBe(2);
    expect(term.stderr()).toMatch(/NOPE is not linked in local .*; there is no FA to edit \(link it first/);
  });
});

describe('fa edit, the pure part', () => {
  it('validates the answers like any record and lists changes field by field', () => {
    expect(
      faFromAnswers({
        fa_type: 'EMAIL_WALLET',
        strategy_id: 3,
        wallet_provider_code: 'P',
        wallet_provider_name: 'Pay',
        email_address: 'not-mail',
      }),
    ).toEqual({
      ok: false,
      problems: ['email_address is not an e-mail address'],
    });
    const built = faFromAnswers({
      fa_type: 'EMAIL_WALLET',
      strategy_id: 3,
      wallet_provider_code: 'P',
      wallet_provider_name: 'Pay',
      email_address: 'a@b.org',
    });
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(
      faChanges(
        { fa_type: 'EMAIL_WALLET', wallet_provider_code: 'P', wallet_provider_name: 'Pay', email_address: 'old@b.org', strategy_id: 3 },
        built.fa,
      ).filter((c) => c.changed),
    ).toEqual([{ field: 'email_address', before: 'old@b.org', after: 'a@b.org', changed: true }]);
  });
});
