/**
 * What import-odk leaves behind when it should leave nothing (found by a hostile tester): a dry
 * run made the state's folder (`state/sparctl/odk/<key>/`) for its window and wrote the session
 * cache — README: a dry run creates nothing, not even a folder; and a run refused before it did
 * anything (an encrypted form, exit 2 "nothing was written") left the state's lock and origin.
 */
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFakeCentral, type FakeField } from '../helpers/fake-central.js';
import { bankSubmission, fakeCentrals, importOdk, ODK_EMAIL, odkEnv } from '../helpers/odk-fixture.js';
import { runMain } from '../helpers/run-main.js';

const PASSWORD = 'odk-nothing-left-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

/** Every file and folder under `root`, with each file's size and modification time: what a run changed shows. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        out.push(`${relative(root, path)}/`);
        walk(path);
      } else {
        const stats = statSync(path);
        out.push(`${relative(root, path)} ${stats.size} ${stats.mtimeMs}`);
      }
    }
  };
  walk(root);
  return out.sort();
}

/** This process's dry-run folders in the system's temporary folder (in-process runs share its pid). */
const dryRunFolders = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`sparctl-odk-${process.pid}-`));

describe('import-odk --dry-run creates nothing anywhere', () => {
  it('no state folder, lock, origin or session cache in HOME, first run or later, and no temporary folder left', async () => {
    const fake = await central();
    const env = odkEnv(fake, PASSWORD);
    expect((await runMain(['init', '-q'], { env: env.env, cwd: env.home })).code).toBe(0);
    fake.submit(bankSubmission('0090000001', '000900001'));

    const before = tree(env.home);
    const dry = await importOdk(env, ['--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/would link/);
    expect(tree(env.home)).toEqual(before);
    expect(dryRunFolders()).toEqual([]);

    // After a real run (a state, a cached session): a dry run whose cached session is refused
    // logs in again, and neither forgets the cached one nor keeps the new one.
    const real = await importOdk(env);
    expect(real.code, real.stderr).toBe(0);
    fake.submit(bankSubmission('0090000002', '000900002'));
    fake.expireTokens();
    const logins = fake.logins;
    const kept = tree(env.home);
    expect(kept).toContainEqual(expect.stringMatching(/^cache\/sparctl\/odk-sessions\.json /));
    expect(kept).toContainEqual(expect.stringMatching(/^state\/sparctl\/odk\/[0-9a-f]+\/state\.json /));
    const again = await importOdk(env, ['--dry-run']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/2 submissions read, 1 to apply/);
    expect(fake.logins).toBe(logins + 1);
    expect(tree(env.home)).toEqual(kept);
    expect(dryRunFolders()).toEqual([]);
  });
});

describe('import-odk refused before it does anything leaves no state behind', () => {
  const refusals: [string, Partial<Parameters<typeof startFakeCentral>[0]>, string[], RegExp][] = [
    ['an encrypted form', { encrypted: true }, [], /error \[odk\.encrypted\]/],
    ['a form never published', { published: false }, [], /error \[odk\.not_published\]/],
    [
      'a mapping that does not fit the form',
      { fields: [{ name: 'beneficiary', path: '/beneficiary', type: 'structure', binary: null } satisfies FakeField] },
      [],
      /error \[odk\.mapping_mismatch\]/,
    ],
  ];
  for (const [what, options, args, said] of refusals) {
    it(`${what}: exit 2, and no state folder, lock or origin`, async () => {
      const fake = await startFakeCentral({ email: ODK_EMAIL, password: PASSWORD, projectId: 3, formId: 'spar_enrolment', ...options });
      cleanups.push(() => fake.close());
      const env = odkEnv(fake, PASSWORD);
      expect((await runMain(['init', '-q'], { env: env.env, cwd: env.home })).code).toBe(0);
      const run = await importOdk(env, args);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(said);
      expect(tree(env.home).filter((path) => path.startsWith('state/'))).toEqual([]);
    });
  }
});
