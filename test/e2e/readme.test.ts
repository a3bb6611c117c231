/**
 * The README's first commands run as written: the fenced sh/bash/shell/console blocks of
 * "## Quick start", "### Which mapper a command acts on" and "### One record from flags", line by
 * line in order, in a fresh HOME, from a folder holding the repository's fixtures/, with
 * `sparctl` on PATH. Each must exit 0 unless the line ends in a `# exit N` comment.
 *
 * Console blocks: only `$ ` lines are commands (the rest is output). npm is a stub that records
 * what it was asked (`npm ci`, `npm test`, `npm pack`, `npm install -g`): a test must not install,
 * recurse into the suite or change the global prefix; install.test.ts runs the packed package.
 * `npx sparctl` runs the sparctl on PATH, as it does in a checkout.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// Through retained.ts: on Node 24 a collected better-sqlite3 object aborts the test process.
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, outputOf, ROOT, SPAWN_LIMIT } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/tmp.js';

const SECTIONS = ['## Quick start', '### Which mapper a command acts on', '### One record from flags'];
const SHELL_FENCES = new Set(['sh', 'bash', 'shell', 'console']);

interface Step {
  readonly section: string;
  /** The command as the shell gets it (continuation lines joined). */
  readonly command: string;
  readonly exit: number;
}

/** The lines of a section: from its heading to the next heading of the same or a higher level (headings inside fences do not count). */
function sectionLines(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no "${heading}" section`);
  const level = heading.indexOf(' ');
  const out: string[] = [];
  let fenced = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('```')) fenced = !fenced;
    const depth = /^(#+) /.exec(line)?.[1]?.length;
    if (!fenced && depth !== undefined && depth <= level) break;
    out.push(line);
  }
  return out;
}

/** The commands of the section's shell blocks, in order. */
function steps(markdown: string, section: string): Step[] {
  const found: Step[] = [];
  let fence: string | undefined; // the open fence's language
  let pending: string | undefined; // a command continued on the next line (trailing backslash)
  for (const line of sectionLines(markdown, section)) {
    const marker = /^```(\w*)\s*$/.exec(line);
    if (marker) {
      if (pending !== undefined) throw new Error(`${section}: a command ends in "\\" at the end of its block`);
      fence = fence === undefined ? marker[1]! : undefined;
      continue;
    }
    if (fence === undefined || !SHELL_FENCES.has(fence)) continue;
    let text: string;
    if (pending !== undefined) text = `${pending}\n${line}`;
    else if (fence === 'console') {
      if (!line.startsWith('$ ')) continue; // output
      text = line.slice(2);
    } else {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      text = line;
    }
    if (text.endsWith('\\')) {
      pending = text;
      continue;
    }
    pending = undefined;
    const exit = /\s#\s*exit (\d+)\s*$/.exec(text)?.[1];
    found.push({ section, command: text, exit: exit === undefined ? 0 : Number(exit) });
  }
  return found;
}

function sh(
  command: string,
  options: { cwd: string; env: Record<string, string> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return outputOf(spawn('sh', ['-c', command], { ...SPAWN_LIMIT, cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

function script(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

describe('README', () => {
  it('the quick start, "Which mapper a command acts on" and "One record from flags" run as written in a fresh HOME', async () => {
    const markdown = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const all = SECTIONS.flatMap((section) => {
      const found = steps(markdown, section);
      expect(found.length, `${section} has no commands to run`).toBeGreaterThan(0);
      return found;
    });

    const dir = tempDir('sparctl-readme-');
    const home = join(dir, 'home');
    const cwd = join(dir, 'work');
    const bin = join(dir, 'bin');
    for (const folder of [home, cwd, bin]) mkdirSync(folder);
    symlinkSync(join(ROOT, 'fixtures'), join(cwd, 'fixtures'));
    const npmLog = join(dir, 'npm.log');
    script(join(bin, 'sparctl'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
    script(
      join(bin, 'npx'),
      '#!/bin/sh\n[ "$1" = sparctl ] || { echo "npx (test stub): only sparctl" >&2; exit 127; }\nshift\nexec sparctl "$@"\n',
    );
    script(
      join(bin, 'npm'),
      `#!/bin/sh\necho "$*" >> '${npmLog}'\ncase "$1" in ci|test|pack|install) exit 0;; esac\necho "npm (test stub): npm $1 is not expected in these sections" >&2\nexit 127\n`,
    );
    // No XDG variables: the paths the README names (~/.local/share/sparctl/mapper.db) are the ones used.
    const env = { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: home, NO_COLOR: '1' };

    const outputs: string[] = [];
    for (const step of all) {
      const run = await sh(step.command, { cwd, env });
      expect({ section: step.section, command: step.command, exit: run.code }, `${run.stdout}\n${run.stderr}`).toEqual({
        ...step,
        exit: step.exit,
      });
      outputs.push(run.stdout);
    }

    // npm was asked for what the quick start says, and the tarball it installs is the one `npm pack` makes.
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const npm = readFileSync(npmLog, 'utf8').trim().split('\n');
    expect(npm.map((line) => line.split(' ')[0])).toEqual(['ci', 'test', 'pack', 'install']);
    expect(npm[3]).toContain(`./sparctl-${version}.tgz`);
    expect(outputs[all.findIndex((step) => step.command === 'sparctl --version')]).toBe(`${version}\n`);

    // What the sections say they leave: the sample linked into the default mapper, BENE_0011 updated, BENE_0012 unlinked.
    const mapperDb = join(home, '.local', 'share', 'sparctl', 'mapper.db');
    const db = openDatabase(mapperDb, { readonly: true, fileMustExist: true });
    const held = prepare(db, 'SELECT id_value, fa_value FROM id_fa_mappings ORDER BY id_value').all() as {
      id_value: string;
      fa_value: string;
    }[];
    db.close();
    const sample = readFileSync(join(ROOT, 'fixtures', 'beneficiaries.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',')[0]!);
    expect(held.map((row) => row.id_value).sort()).toEqual([...sample, 'BENE_0011'].sort());
    expect(held.find((row) => row.id_value === 'BENE_0011')!.fa_value).toContain('account_number:0098765432.branch_name:North');
    expect(existsSync(join(cwd, 'training.db'))).toBe(true);
    expect(existsSync(join(cwd, 'field.db'))).toBe(true);
    expect(existsSync(join(cwd, 'feild.db'))).toBe(false);
  });
});
