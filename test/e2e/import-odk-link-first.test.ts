/**
 * import-odk against a remote mapper, whose first chunk of upserts goes link-first, unread
 * (upsert-order.ts): a link the mapper refused as a duplicate of someone else's, whose answer
 * was lost, is never taken as the importer's own; one planned again after a refusal keeps the
 * code its plan gave it.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeCentral } from '../helpers/fake-central.js';
import type { ProxyFault } from '../helpers/fault-proxy.js';
import type { CliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { bankSubmission, fakeCentrals, importOdk, odkEnv } from '../helpers/odk-fixture.js';
import { serveBehindProxy } from '../helpers/proxied-serve.js';

const PASSWORD = 'odk-undo-test';
const { central, cleanups } = fakeCentrals(PASSWORD);

async function remote(fake: FakeCentral) {
  const { backing, proxy } = await serveBehindProxy(cleanups);
  const env = odkEnv(fake, PASSWORD, { SPARCTL_ODK_PASSWORD: PASSWORD, SPARCTL_BASE_URL: proxy.url, SPARCTL_TIMEOUT_MS: '2000' });
  let fault: ProxyFault | undefined;
  proxy.chaos((path) => (path.endsWith('/link') ? fault : undefined));
  return { backing, env, links: (f: ProxyFault | undefined) => (fault = f), proxy };
}
/** An admin's links (or, `mode` update, changes) made by hand, as `link|update --file`. */
async function byHand(env: CliEnv, rows: [string, string][], mode: 'link' | 'update' = 'link') {
  const file = join(env.home, `by-hand-${mode}.csv`);
  writeFileSync(
    file,
    `id,fa_type,bank_name,bank_code,branch_name,branch_code,account_number\n${rows.map(([id, acc]) => `${id},BANK,First Community Bank,BNK001,Kisumu - Oginga Odinga Street,BNK001-0042,${acc}`).join('\n')}\n`,
  );
  const run = await runMain([mode, '--file', file, '-q'], { env: env.env, cwd: env.home });
  expect(run.code, run.stderr).toBe(0);
}
const acc = (b: { storedFa(id: string): string | undefined }, id: string) => /^account_number:([^.]*)\./.exec(b.storedFa(id) ?? '')?.[1];

describe('import-odk, remote: a link sent unread whose answer was lost', () => {
  it("an admin's link, the same FA submitted, the link's answer lost: a later deletion does not unlink the admin's link", async () => {
    const fake = await central();
    const { backing, env, links } = await remote(fake);
    await byHand(env, [['0090000001', '000111']]);
    const s = fake.submit(bankSubmission('0090000001', '000111'));
    links({ statusAfter: 502 });
    expect((await importOdk(env)).code).toBe(0);
    links(undefined);
    expect(acc(backing, '0090000001')).toBe('000111');
    fake.remove(s.__id);
    expect((await importOdk(env, ['--on-delete', 'unlink', '--yes'])).code).toBe(0);
    expect(acc(backing, '0090000001')).toBe('000111');
  });
});

describe('import-odk, remote: a refused link planned again', () => {
  it('--reapply over an FA changed by hand since: kept, and said so (kept.changed_since), as when read first', async () => {
    const fake = await central();
    const { backing, env } = await remote(fake);
    fake.submit(bankSubmission('0091000002', '000222'));
    expect((await importOdk(env)).code).toBe(0);
    await byHand(env, [['0091000002', '000999']], 'update');
    const reapplied = await importOdk(env, ['--reapply', '--full', '-o', 'jsonl']);
    expect(acc(backing, '0091000002')).toBe('000999');
    expect(reapplied.stdout).toContain('kept.changed_since');
  });
});
