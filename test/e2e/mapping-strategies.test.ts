/**
 * A mapping's strategies are checked against the target's before any row is read: import-csv
 * with a strategy the local mapper lacks stops with exit 2, one line naming the mapping file and
 * the field, and nothing written (in process through runMain, a real SQLite file).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

describe('import-csv: the mapping against the target strategies', () => {
  it('an unknown FA strategy, an FA strategy of another FA type, an FA strategy as the ID strategy: exit 2, nothing sent', async () => {
    const { env } = cliEnv();
    const dir = tempDir('sparctl-mapping-strategies-');
    const db = join(dir, 'mapper.db');
    const sparctl = (args: string[]) => runMain(['--db', db, ...args], { env, cwd: dir });
    expect((await sparctl(['--create', 'dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json')])).code).toBe(0);
    const sample = readFileSync(join(ROOT, 'fixtures', 'enumeration.mapping.json'), 'utf8');
    const cases: [string, string][] = [
      [sample.replace('"BANK": 2', '"BANK": 77'), 'fa.strategy.BANK: strategy 77 does not exist (strategies: 1, 2, 3, 4, 5)'],
      [
        sample.replace('"BANK": 2', '"BANK": 4'),
        'fa.strategy.BANK: strategy 4 needs mobile_number, wallet_provider_name, wallet_provider_code',
      ],
      [sample.replace('"strategy": 1 }', '"strategy": 2 }'), 'id.strategy: strategy 2 is an FA strategy, not an ID strategy'],
    ];
    for (const [text, message] of cases) {
      writeFileSync(join(dir, 'enumeration.mapping.json'), text);
      const r = await sparctl(['import-csv', join(ROOT, 'fixtures', 'enumeration.csv'), '--mapping', 'enumeration.mapping.json']);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.split('\n').filter((line) => line.startsWith('sparctl: error'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`[mapping.invalid]: enumeration.mapping.json: ${message}`);
      expect(existsSync(join(dir, 'enumeration.rejects.csv'))).toBe(false);
    }
    const resolved = await sparctl(['resolve', 'token:000412345001@nationalId']);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ outcome: 'not_found' });
  });
});
