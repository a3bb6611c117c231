/**
 * import-odk finishes a window under the definition (mapping, DFSP data) it was started with.
 * A window interrupted (a mapper outage, kill -9) and resumed by a run given another or an
 * edited --mapping or --dfsp file was applied under a new job fingerprint: in the journals'
 * folder a fresh journal, so the writes the interrupted run made were found "unchanged" (or
 * updated over, the importer's own write recorded as what they replaced) and never recorded as
 * the importer's own — a later deletion never undid them; with --journal FILE, refused as another
 * job's. The window keeps its definition in its spool, and is finished with it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { bankSubmission, fakeCentrals, importOdk, ODK_DFSP, ODK_MAPPING, odkEnv } from '../helpers/odk-fixture.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';
import { BIN, type CliEnv, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-window-definition-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

interface State {
  claims: Record<string, { wrote?: { beneficiary: string; replaced?: unknown } }>;
}

const stateOf = (stateDir: string) => JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as State;

/** The only state folder under the environment's. */
const stateDirOf = (env: CliEnv) => {
  const odk = join(env.env['XDG_STATE_HOME']!, 'sparctl', 'odk');
  return join(odk, readdirSync(odk)[0]!);
};

/** The fixture mapping with another comment: the same mapping to a reader, another job to the journal. */
function editedMapping(env: CliEnv): string {
  const path = join(env.home, 'mapping.json');
  const mapping = JSON.parse(readFileSync(ODK_MAPPING, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify({ ...mapping, $comment: 'edited while a window waited' }, null, 2));
  return path;
}

/** The fixture DFSP data with BNK001 renamed: a window's FAs say which data they were mapped with. */
function renamedBank(env: CliEnv): string {
  const path = join(env.home, 'dfsp.json');
  const data = JSON.parse(readFileSync(ODK_DFSP, 'utf8')) as { banks: { code: string; name: string }[] };
  for (const bank of data.banks) if (bank.code === 'BNK001') bank.name = 'Renamed Community Bank';
  writeFileSync(path, JSON.stringify(data));
  return path;
}

/** import-odk of the enrolment form with this mapping file (the fixture DFSP data), no overlap. */
const importWith = (env: CliEnv, mapping: string, args: string[] = []) =>
  runMain(['import-odk', '--mapping', mapping, '--dfsp', ODK_DFSP, '--overlap', '0', ...args], { env: env.env, cwd: env.home });

const NOTE =
  /the window \S+spar_enrolment\.jsonl was started with (another mapping|other DFSP data) than this run's: it is finished with those \(kept in it\)/;

describe('import-odk: a window resumed by a run given other files', () => {
  it('after a mapper outage, with an edited --mapping: finished under the one it was started with; its writes are recorded, so a deletion undoes them', async () => {
    const fake = await central();
    const { backing, proxy } = await serveBehindProxy(cleanups);
    const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url });
    const all = ids('008300', 12);
    const submitted = all.map((id, i) => fake.submit(bankSubmission(id, `6${String(i).padStart(5, '0')}`)));
    let links = 0;
    proxy.chaos((path) => (path.includes('link') && ++links > 1 ? { status: 503 } : undefined));
    const stopped = await importOdk(env, ['--batch-size', '4', '--concurrency', '1', '--retries', '0']);
    expect(stopped.code, stopped.stderr).toBe(4);
    proxy.chaos(undefined);
    const early = all.filter((id) => backing.storedFa(id) !== undefined);
    expect(early).toHaveLength(4);

    const mapping = editedMapping(env);
    const resumed = await importWith(env, mapping);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(NOTE);
    expect(resumed.stderr).toContain('another mapping than');
    expect(resumed.stderr).toContain('settled by an earlier run of this job: 4 applied');
    const state = stateOf(stateDirOf(env));
    expect(submitted.map((s) => state.claims[s.__id]?.wrote?.beneficiary)).toEqual(all);
    expect(submitted.map((s) => state.claims[s.__id]?.wrote?.replaced)).toEqual(all.map(() => 'none'));
    expect(existsSync(join(stateDirOf(env), 'spar_enrolment.jsonl'))).toBe(false);

    // A submission the interrupted run wrote, deleted: its link, the importer's, is removed.
    const gone = all.indexOf(early[0]!);
    fake.remove(submitted[gone]!.__id);
    const undo = await importWith(env, mapping, ['--on-delete', 'unlink', '--yes']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(backing.storedFa(early[0]!)).toBeUndefined();
    expect(all.filter((id) => backing.storedFa(id) !== undefined)).toHaveLength(11);
  });

  it('with --journal FILE and an edited --dfsp file: its journal is resumed, not refused as another job’s', async () => {
    const fake = await central();
    const { backing, proxy } = await serveBehindProxy(cleanups);
    const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url });
    const all = ids('008301', 8);
    const submitted = all.map((id, i) => fake.submit(bankSubmission(id, `6${String(i).padStart(5, '0')}`)));
    let links = 0;
    proxy.chaos((path) => (path.includes('link') && ++links > 1 ? { status: 503 } : undefined));
    const args = ['--journal', 'j.db', '--batch-size', '4', '--concurrency', '1', '--retries', '0'];
    expect((await importOdk(env, args)).code).toBe(4);
    proxy.chaos(undefined);

    // The same data written another way is another job to the journal.
    const dfsp = join(env.home, 'dfsp.json');
    writeFileSync(dfsp, JSON.stringify(JSON.parse(readFileSync(ODK_DFSP, 'utf8')), null, 4));
    const resumed = await importOdk(env, ['--journal', 'j.db'], dfsp);
    expect(resumed.stderr).not.toContain('journal.other_job');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('other DFSP data than');
    expect(resumed.stderr).toContain('settled by an earlier run of this job: 4 applied');
    expect(existsSync(join(env.home, 'j.db'))).toBe(false);
    const state = stateOf(stateDirOf(env));
    expect(submitted.map((s) => state.claims[s.__id]?.wrote?.beneficiary)).toEqual(all);
    expect(all.every((id) => backing.storedFa(id) !== undefined)).toBe(true);
  });

  it('killed (kill -9) mid-window, then run with a --dfsp renaming a bank: the window keeps its names and its writes; the next window takes the new ones', async () => {
    const fake = await central();
    const env = odkEnv(fake, PASSWORD);
    const all = ids('008302', 300);
    const submitted = all.map((id, i) => fake.submit(bankSubmission(id, `7${String(i).padStart(5, '0')}`)));
    const args = [
      'import-odk',
      '--mapping',
      ODK_MAPPING,
      '--dfsp',
      ODK_DFSP,
      '--overlap',
      '0',
      '--batch-size',
      '5',
      '--concurrency',
      '1',
      '-q',
    ];
    const child = spawn(process.execPath, [BIN, ...args], { ...SPAWN_LIMIT, env: env.env, cwd: env.home, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A plain read-only connection: it never waits for the importer's write lock.
    const linked = () => {
      if (!existsSync(env.dataDb)) return 0;
      const probe = openDatabase(env.dataDb, { readonly: true, fileMustExist: true });
      try {
        return prepare(probe, 'SELECT count(*) FROM id_fa_mappings').pluck().get() as number;
      } catch {
        return 0; // not made yet
      } finally {
        probe.close();
      }
    };
    for (let waited = 0; waited < 30_000 && linked() === 0 && child.exitCode === null; waited += 5)
      await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await exited;
    const early = linked();
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThan(all.length);
    expect(existsSync(join(stateDirOf(env), 'spar_enrolment.jsonl'))).toBe(true);

    const dfsp = renamedBank(env);
    const resumed = await importOdk(env, [], dfsp);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(NOTE);
    const mapper = LocalMapper.open(env.dataDb);
    cleanups.push(() => mapper.close());
    // Every write of the window maps with the data it was started with, and is recorded as a link the importer made.
    expect(all.filter((id) => !mapper.storedFa(id)?.includes('bank_name:First Community Bank.'))).toEqual([]);
    const state = stateOf(stateDirOf(env));
    expect(submitted.map((s) => state.claims[s.__id]?.wrote?.beneficiary)).toEqual(all);
    expect(submitted.filter((s) => state.claims[s.__id]?.wrote?.replaced !== 'none')).toEqual([]);

    // The next window is this run's: the new name.
    const late = fake.submit(bankSubmission('0083029999', '799999'));
    expect((await importOdk(env, [], dfsp)).code).toBe(0);
    expect(mapper.storedFa('0083029999')).toContain('bank_name:Renamed Community Bank.');
    expect(stateOf(stateDirOf(env)).claims[late.__id]?.wrote?.beneficiary).toBe('0083029999');

    // Submissions the killed run wrote, deleted: their links, the importer's, are removed (none put back).
    fake.remove(submitted[0]!.__id);
    fake.remove(submitted[1]!.__id);
    const undo = await importOdk(env, ['--on-delete', 'unlink', '--yes'], dfsp);
    expect(undo.code, undo.stderr).toBe(0);
    expect(mapper.storedFa(all[0]!)).toBeUndefined();
    expect(mapper.storedFa(all[1]!)).toBeUndefined();
  }, 60_000);
});
