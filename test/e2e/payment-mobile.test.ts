/**
 * A landline given as the payment mobile number of a mobile wallet is refused wherever it comes
 * from — flags (exit 2, nothing written), a `--file` row (a reject `input.not_mobile`), a mapping
 * (a reject `mapping.not_mobile`) — while a mobile number of the same country goes through in
 * E.164 (core/phone.ts, libphonenumber-js). In process (runMain) against a real SQLite mapper.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

/** A Manila landline, written as people write it, and a Philippine mobile number. */
const LANDLINE = '(02) 8123 4567';
const MOBILE = '0917 555 0101';

function setup() {
  const { env } = cliEnv();
  const dir = tempDir('sparctl-mobile-');
  const db = join(dir, 'mapper.db');
  const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
  const stored = async (id: string) => {
    const r = JSON.parse((await sparctl(['-o', 'json', 'resolve', id])).stdout) as {
      results: { outcome: string; fa?: { mobile_number?: string } }[];
    };
    return r.results[0]!.outcome === 'found' ? r.results[0]!.fa?.mobile_number : r.results[0]!.outcome;
  };
  return { dir, sparctl, stored };
}

const WALLET = ['--fa-type', 'MOBILE_WALLET', '--wallet-provider-code', 'GCASH', '--wallet-provider-name', 'GCash'];

const rejectsOf = (path: string) => parse(readFileSync(path, 'utf8'), { columns: true, bom: true }) as Record<string, string>[];

describe('a landline as the payment mobile number', () => {
  it('by flags: refused before anything is written, the reason code named; a mobile number is stored in E.164', async () => {
    const { sparctl, stored } = setup();
    const landline = await sparctl(['--create', 'link', '--id', 'L1', ...WALLET, '--mobile-number', LANDLINE, '--country', 'PH']);
    expect(landline.code).toBe(2);
    expect(landline.stderr).toContain(
      `mobile_number "${LANDLINE}" is a landline, not a mobile number: a payment mobile number must be a PH mobile number (input.not_mobile); nothing was written`,
    );
    expect(await stored('L1')).toBe('not_found');
    // The same number as a contact phone is fine: only the number money is paid into must be a mobile.
    const mobile = await sparctl(['link', '--id', 'L1', ...WALLET, '--mobile-number', MOBILE, '--phone', LANDLINE, '--country', 'ph']);
    expect(mobile.code, mobile.stderr).toBe(0);
    expect(await stored('L1')).toBe('+639175550101');
  });

  it('in a --file and through a mapping: a reject with its reason, the other rows linked', async () => {
    const { dir, sparctl, stored } = setup();
    writeFileSync(
      join(dir, 'wallets.csv'),
      `id,fa_type,wallet_provider_code,wallet_provider_name,mobile_number\nF1,MOBILE_WALLET,GCASH,GCash,${LANDLINE}\nF2,MOBILE_WALLET,GCASH,GCash,${MOBILE}\n`,
    );
    const file = await sparctl(['--create', 'link', '--file', 'wallets.csv', '--country', 'PH']);
    expect(file.code, file.stderr).toBe(5);
    expect(rejectsOf(join(dir, 'wallets.rejects.csv')).map((r) => [r['id'], r['sparctl_field'], r['sparctl_code']])).toEqual([
      ['F1', 'mobile_number', 'input.not_mobile'],
    ]);
    expect([await stored('F1'), await stored('F2')]).toEqual(['not_found', '+639175550101']);

    writeFileSync(join(dir, 'survey.csv'), `hh,wallet,pay_mobile\nM1,GCASH,${LANDLINE}\nM2,GCASH,${MOBILE}\n`);
    writeFileSync(
      join(dir, 'mapping.json'),
      JSON.stringify({
        id: 'hh',
        fa: {
          type: { const: 'MOBILE_WALLET' },
          wallet_provider_code: 'wallet',
          wallet_provider_name: { const: 'GCash' },
          mobile_number: 'pay_mobile',
        },
        normalize: { defaultCountry: 'PH' },
      }),
    );
    const mapped = await sparctl(['-o', 'json', 'import-csv', 'survey.csv', '--mapping', 'mapping.json']);
    expect(mapped.code, mapped.stderr).toBe(5);
    expect((JSON.parse(mapped.stdout) as { summary: { rejectedBy: unknown } }).summary.rejectedBy).toEqual({ 'mapping.not_mobile': 1 });
    const [reject] = rejectsOf(join(dir, 'survey.rejects.csv'));
    expect(reject).toMatchObject({ hh: 'M1', sparctl_field: 'mobile_number', sparctl_code: 'mapping.not_mobile' });
    expect(reject!['sparctl_message']).toContain('is a landline, not a mobile number');
    expect([await stored('M1'), await stored('M2')]).toEqual(['not_found', '+639175550101']);
  });
});
