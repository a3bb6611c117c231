/**
 * `sparctl fa edit` with a plain national ID after the README's enumeration import, which stores
 * IDs as `token:ID@nationalId` (ID strategy 1): every command it suggests names the ID as stored,
 * and copied into a shell (the built binary as `sparctl` on PATH) it runs as printed.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { BIN, ROOT, SPAWN_LIMIT, cliEnv, outputOf } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';
import { inTerminal, type TerminalStep } from '../helpers/in-terminal.js';

const mappers: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of mappers.splice(0)) await mapper.close();
});

/** A fresh HOME with `sparctl` on PATH, the fixtures in its working folder, and a shell to run commands as a person pastes them. */
function workspace() {
  const { env, dataDb } = cliEnv();
  const dir = tempDir('sparctl-fa-forms-');
  const bin = join(dir, 'bin');
  const cwd = join(dir, 'work');
  for (const folder of [bin, cwd]) mkdirSync(folder);
  symlinkSync(join(ROOT, 'fixtures'), join(cwd, 'fixtures'));
  writeFileSync(join(bin, 'sparctl'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(join(bin, 'sparctl'), 0o755);
  const shellEnv = { ...env, PATH: `${bin}:${env['PATH'] ?? ''}` };
  const sh = (command: string) =>
    outputOf(spawn('sh', ['-c', command], { ...SPAWN_LIMIT, cwd, env: shellEnv, stdio: ['ignore', 'pipe', 'pipe'] }));
  const pty = (args: readonly string[], steps: readonly TerminalStep[]) => inTerminal(args, steps, env, cwd);
  /** The README's enumeration example, imported into a new default mapper (its DFSP data too, so the flag form fills names). */
  const imported = async () => {
    // Setup, so in process (runMain): the commands under test are the ones run through the shell.
    for (const command of [
      ['init'],
      ['dfsp', 'import', 'fixtures/dfsp.json'],
      ['import-csv', 'fixtures/enumeration.csv', '--mapping', 'fixtures/enumeration.mapping.json', '--dfsp', 'fixtures/dfsp.json'],
    ]) {
      const run = await runMain(command, { env, cwd });
      // import-csv leaves two rows of the example rejected, on purpose: exit 5.
      expect([0, 5], `sparctl ${command.join(' ')}\n${run.stderr}`).toContain(run.code);
    }
  };
  return { sh, pty, dataDb, imported };
}

/** The command a hint suggests, as printed from "PREFIX" to the hint's end. */
function suggested(stderr: string, prefix: string): string {
  const line = stderr.split('\n').find((text) => text.includes(prefix));
  expect(line, stderr).toBeDefined();
  return line!.slice(line!.indexOf(prefix) + prefix.length).replace(/ \(see sparctl update --help\)\)$| \(or --id .*$/, '');
}

/** The command with each `FLAG …` given its value, as a person fills it in. */
function filled(command: string, values: Record<string, string>): string {
  let out = command;
  for (const [flag, value] of Object.entries(values)) out = out.replace(`${flag} …`, `${flag} ${value}`);
  expect(out, 'every … filled in').not.toContain('…');
  return out;
}

const BANK_FLAGS = { '--bank-code': 'DBP', '--branch-code': '0105', '--account-number': '0000012345' };

describe('fa edit with a plain national ID stored in its token form', () => {
  it('--no-input points at the update of the stored ID, and that update, pasted, updates the beneficiary', async () => {
    const { sh, dataDb, imported } = workspace();
    await imported();
    const token = 'token:000412345004@nationalId';
    const run = await sh('sparctl fa edit 000412345004 --no-input');
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(
      `error [usage.not_interactive]: fa edit asks questions and needs a terminal; nothing was changed (000412345004 is stored as ${token} (ID strategy 1); change the FA with flags instead: sparctl update --id ${token} --fa-type BANK`,
    );
    const update = filled(suggested(run.stderr, 'change the FA with flags instead: '), BANK_FLAGS);
    expect(update).toBe(`sparctl update --id ${token} --fa-type BANK --bank-code DBP --branch-code 0105 --account-number 0000012345`);
    const pasted = await sh(update);
    expect(pasted.code, pasted.stderr).toBe(0);
    expect(JSON.parse(pasted.stdout)).toMatchObject({ id: token, outcome: 'updated' });
    const mapper = LocalMapper.open(dataDb);
    mappers.push(mapper);
    expect(mapper.storedFa(token)).toBe(
      'account_number:0000012345.branch_name:Davao - CM Recto.branch_code:0105.bank_name:Development Bank of the Philippines.bank_code:DBP.fa_type:BANK',
    );
    expect(mapper.storedFa('000412345004')).toBeUndefined();
  }, 60_000);

  it('an ID that needs quoting: the suggested update quotes the stored form, and runs as pasted', async () => {
    const { sh, dataDb, imported } = workspace();
    await imported();
    const token = 'token:0004 1234 5004@nationalId';
    const link = await sh(`sparctl link --id '${token}' --fa-type BANK --bank-code DBP --branch-code 0105 --account-number 1`);
    expect(link.code, link.stderr).toBe(0);
    const run = await sh(`sparctl fa edit '0004 1234 5004' --no-input`);
    expect(run.code, run.stderr).toBe(2);
    const update = filled(suggested(run.stderr, 'change the FA with flags instead: '), BANK_FLAGS);
    expect(update).toContain(`sparctl update --id '${token}' --fa-type BANK`);
    const pasted = await sh(update);
    expect(pasted.code, pasted.stderr).toBe(0);
    const mapper = LocalMapper.open(dataDb);
    mappers.push(mapper);
    expect(mapper.storedFa(token)).toContain('account_number:0000012345.');
  }, 60_000);

  it('an ID linked in no form: fa.not_linked naming the forms tried, with or without a terminal; the link it suggests, pasted, makes it editable', async () => {
    const { sh, pty, imported } = workspace();
    await imported();
    const token = 'token:000499999999@nationalId';
    const run = await sh('sparctl fa edit 000499999999 --no-input');
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/error \[fa\.not_linked\]: 000499999999 is not linked in local .* \(nor as token:000499999999@nationalId\)/);
    const hint = `(link it first, in the form your beneficiaries are stored in: sparctl link --id ${token} … (or --id 000499999999 …))`;
    expect(run.stderr).toContain(hint);
    const atTerminal = await pty(['fa', 'edit', '000499999999'], []);
    expect(atTerminal.code, atTerminal.transcript).toBe(2);
    expect(atTerminal.transcript).toContain(hint);

    const link = suggested(run.stderr, 'in the form your beneficiaries are stored in: ');
    expect(link).toBe(`sparctl link --id ${token} …`);
    const linked = await sh(link.replace(/ …$/, ' --fa-type BANK --bank-code DBP --branch-code 0105 --account-number 7'));
    expect(linked.code, linked.stderr).toBe(0);
    const again = await sh('sparctl fa edit 000499999999 --no-input');
    expect(again.stderr).toContain(`sparctl update --id ${token} --fa-type BANK`);
  }, 60_000);

  it('at a terminal: the edit shows, confirms and updates the stored ID, never making the plain one', async () => {
    const { pty, dataDb, imported } = workspace();
    await imported();
    const token = 'token:000412345004@nationalId';
    const run = await pty(
      ['fa', 'edit', '000412345004'],
      [
        { expect: `is stored as ${token} \\(ID strategy 1\\)`, send: [] },
        { expect: 'FA type', send: ['\r'] },
        { expect: 'Bank \\(type to search\\)\\s*\\n❯ DBP', send: ['\r'] },
        { expect: 'Branch \\(type to search\\)\\s*\\n❯ 0105', send: ['\r'] },
        { expect: 'Account number', send: ['0000098766', '\r'] },
        { expect: `Update the financial address of ${token}`, send: ['y', '\r'] },
      ],
    );
    expect(run.stuck, run.transcript).toBeNull();
    expect(run.code, run.transcript).toBe(0);
    expect(run.transcript).toContain(`updated ${token}`);
    const mapper = LocalMapper.open(dataDb);
    mappers.push(mapper);
    expect(mapper.storedFa(token)).toContain('account_number:0000098766.');
    expect(mapper.storedFa('000412345004')).toBeUndefined();
    expect(mapper.auditRows('000412345004')).toEqual([]);
  }, 60_000);
});
