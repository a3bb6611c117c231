import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv } from '../helpers/run-cli.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

// The scripts are text a command prints: made in process (runMain); bash runs them.

/** What bash would offer after `line` (a trailing space means a new, empty word). */
function bashOffers(script: string, line: string): string[] {
  const file = join(tempDir(), 'sparctl.bash');
  writeFileSync(file, script);
  const run = spawnSync(
    'bash',
    [
      '-c',
      `source "$1"; read -ra COMP_WORDS <<< "$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _sparctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
      'bash',
      file,
      line,
    ],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  return run.stdout.split('\n').filter(Boolean);
}

describe('sparctl completion', () => {
  it('bash: commands, subcommands, flags and flag values, all from the command tree', async () => {
    const { env } = cliEnv();
    const generated = await runMain(['completion', 'bash'], { env });
    expect(generated.code).toBe(0);
    expect(bashOffers(generated.stdout, 'sparctl im')).toEqual(['import-csv', 'import-odk']);
    expect(bashOffers(generated.stdout, 'sparctl dfsp ')).toEqual(['list', 'import', 'remove', '--help']);
    expect(bashOffers(generated.stdout, 'sparctl -o ')).toEqual(['table', 'json', 'jsonl', 'csv']);
    expect(bashOffers(generated.stdout, 'sparctl import-csv x.csv --mo')).toEqual(['--mode']);
    expect(bashOffers(generated.stdout, 'sparctl import-csv x.csv --mode ')).toEqual(['upsert', 'link', 'update', 'unlink']);
    expect(bashOffers(generated.stdout, 'sparctl --db m.db strategy ex')).toEqual(['export']);
  });

  it('zsh and fish scripts name every command with its description', async () => {
    const { env } = cliEnv();
    const zsh = await runMain(['completion', 'zsh'], { env });
    const fish = await runMain(['completion', 'fish'], { env });
    for (const command of ['import-odk', 'smoke', 'fa', 'completion']) {
      expect(zsh.stdout).toContain(`'${command}:`);
      expect(fish.stdout).toContain(`-a '${command}' -d `);
    }
    expect(zsh.stdout).toMatch(/^#compdef sparctl\n/);
    expect(fish.stdout).toContain("complete -c sparctl -n '__fish_seen_subcommand_from edit' -l country");
    expect((await runMain(['completion', 'tcsh'], { env })).code).toBe(2);
  });
});
