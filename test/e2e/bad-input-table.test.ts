/**
 * The bad-input table: each row one bad input or failing surrounding — what is fed, the command,
 * the exit code, what stderr says, and what the mapper holds afterwards (unchanged, or exactly
 * which IDs were written). Every row also keeps the rules every run keeps: never exit 1, never
 * "internal error" or a stack trace, an error is one line, nothing hangs (rows through a shell
 * are killed after SHELL_LIMIT).
 *
 * Each row runs in a folder of its own (its cwd) with a copy of one seeded mapper: the ten IDs of
 * fixtures/beneficiaries.csv, the DFSP list of fixtures/dfsp.json, and JOSÉ_0 stored in NFC.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, prepare } from '../../src/adapters/sqlite/retained.js';
import { BIN, ROOT, SPAWN_LIMIT, cliEnv, withoutTarget, type CliResult } from '../helpers/run-cli.js';
import { bankFlags } from '../helpers/records.js';
import { runMain } from '../helpers/run-main.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** A shell row (pipes, FIFOs) that has not ended by then has hung. */
const SHELL_LIMIT = 30_000;

const LINK_HEADER =
  'id,name,phone_number,fa_type,strategy_id,bank_name,bank_code,branch_name,branch_code,account_number,wallet_provider_name,wallet_provider_code,mobile_number,email_address';
/** A good bank row of a `link --file` CSV. */
const linkRow = (id: string, account = `ACC-${id}`, name = `Person ${id}`) =>
  `${id},${name},,BANK,2,Example Bank,EXB,Main,0001,${account},,,,`;
const linkCsv = (rows: readonly string[], eol = '\n') => [LINK_HEADER, ...rows].join(eol) + eol;
/** N good rows N_000… */
const goodRows = (n: number, prefix = 'N') => Array.from({ length: n }, (_, i) => linkRow(`${prefix}_${String(i).padStart(5, '0')}`));
const idsOf = (n: number, prefix = 'N') => Array.from({ length: n }, (_, i) => `${prefix}_${String(i).padStart(5, '0')}`);

const ENUM_HEADER =
  'household_no,national_id,full_name,barangay,municipality,contact_phone,payment_method,bank_code,branch_code,account_no,wallet,payment_mobile,payment_email';
const enumRow = (n: number) => {
  const nn = String(n).padStart(3, '0');
  return `HH-${nn},000412345${nn},Person ${nn},San Isidro,Quezon City,0917 555 0101,bank,LBP,0012,001234567${nn},,,`;
};
const enumCsv = (rows: readonly string[], eol = '\n') => [ENUM_HEADER, ...rows].join(eol) + eol;
/** How the enumeration mapping stores national ID n. */
const enumId = (n: number) => `token:000412345${String(n).padStart(3, '0')}@nationalId`;
const MAPPING_TEXT = readFileSync(join(ROOT, 'fixtures', 'enumeration.mapping.json'), 'utf8');
const importArgs = (file: string, mapping = 'mapping.json') => ['import-csv', file, '--mapping', mapping];

const JSONL_GOOD = (id: string) =>
  JSON.stringify({
    id,
    fa_type: 'BANK',
    strategy_id: '2',
    bank_name: 'Example Bank',
    bank_code: 'EXB',
    branch_name: 'Main',
    branch_code: '0001',
    account_number: `J-${id}`,
  });

/** What the mapper holds: ID → FA. */
type MapperState = Map<string, string>;

interface Row {
  /** What is fed, in a few words: the test's name. */
  readonly input: string;
  /** Files in the row's folder; a function for large ones (written only when the row runs). */
  readonly files?: Record<string, string | Buffer | (() => string | Buffer)>;
  /** sparctl's arguments after `--db mapper.db`. */
  readonly argv?: readonly string[];
  /** Or a bash line (pipes, FIFOs, process substitution): `S` runs sparctl with --db mapper.db. */
  readonly shell?: string;
  readonly stdin?: string;
  readonly exit: number;
  /** stderr without the target line. */
  readonly says: RegExp;
  /** 'unchanged', or exactly the IDs written (new or changed), or a check of its own. */
  readonly mapper: 'unchanged' | readonly string[] | ((before: MapperState, after: MapperState) => void);
  /** More to check in the row's folder afterwards (more runs there too). */
  readonly then?: (dir: string, result: CliResult) => void | Promise<void>;
  /** Set up the folder beyond `files` (modes, journals). */
  readonly before?: (dir: string) => void;
  readonly skip?: string | false;
}

// ---------------------------------------------------------------------------------------------

let seeded = '';

beforeAll(async () => {
  // Not tempDir(): that is removed after each test, and the seed serves them all.
  const dir = mkdtempSync(join(tmpdir(), 'sparctl-bad-table-seed-'));
  seeded = join(dir, 'mapper.db');
  const { env } = cliEnv();
  const steps = [
    ['--db', seeded, '--create', 'link', '--file', join(ROOT, 'fixtures', 'beneficiaries.csv')],
    ['--db', seeded, 'dfsp', 'import', join(ROOT, 'fixtures', 'dfsp.json')],
    ['--db', seeded, 'link', '--id', 'JOS\u00c9_0', ...bankFlags('NFC-0')],
  ];
  for (const argv of steps) {
    const result = await runMain(argv, { env, cwd: dir });
    expect(result.code, result.stderr).toBe(0);
  }
  return () => rmSync(dir, { recursive: true, force: true });
});

function mapperState(db: string): MapperState {
  const handle = openDatabase(db, { readonly: true, fileMustExist: true });
  try {
    const rows = prepare(handle, 'SELECT id_value, fa_value FROM id_fa_mappings').all() as { id_value: string; fa_value: string }[];
    return new Map(rows.map((row) => [row.id_value, row.fa_value]));
  } finally {
    handle.close();
  }
}

function written(before: MapperState, after: MapperState): string[] {
  const ids = new Set([...before.keys(), ...after.keys()]);
  return [...ids].filter((id) => before.get(id) !== after.get(id)).sort();
}

function runShell(line: string, cwd: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const sparctl = `S() { "${process.execPath}" "${BIN}" --db mapper.db "$@"; }`;
    // A group of its own, killed whole at the limit: killing bash alone would leave a hung
    // sparctl holding the pipes open, and the row would wait on them for ever.
    const child = spawn('bash', ['-c', `${sparctl}\n${line}`], {
      ...SPAWN_LIMIT,
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const limit = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), SHELL_LIMIT);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      resolve({ code: signal ? -1 : code, stdout, stderr: signal ? `${stderr}\n[killed: ${signal}]` : stderr });
    });
  });
}

async function play(row: Row): Promise<void> {
  const dir = tempDir('sparctl-bad-table-');
  const db = join(dir, 'mapper.db');
  copyFileSync(seeded, db);
  chmodSync(db, 0o600);
  for (const [name, content] of Object.entries(row.files ?? {}))
    writeFileSync(join(dir, name), typeof content === 'function' ? content() : content);
  writeFileSync(join(dir, 'mapping.json'), MAPPING_TEXT);
  row.before?.(dir);
  const before = mapperState(db);
  const { env } = cliEnv();
  const result = row.shell
    ? await runShell(row.shell, dir, env)
    : await runMain([...(row.argv?.includes('--db') ? [] : ['--db', db]), ...(row.argv ?? [])], {
        env,
        cwd: dir,
        ...(row.stdin === undefined ? {} : { input: row.stdin }),
      });
  const said = withoutTarget(result.stderr);
  const context = `exit ${result.code}\nstderr: ${result.stderr.slice(0, 3000)}`;
  keepsTheRules(result);
  expect(result.code, context).toBe(row.exit);
  expect(said, context).toMatch(row.says);
  const after = mapperState(db);
  if (row.mapper === 'unchanged') expect(written(before, after), context).toEqual([]);
  else if (typeof row.mapper === 'function') row.mapper(before, after);
  else expect(written(before, after), context).toEqual([...row.mapper].sort());
  await row.then?.(dir, result);
}

/** What every row's run keeps: never exit 1, never "internal error" or a stack trace, an error in one line; nothing hangs. */
function keepsTheRules(result: CliResult): void {
  const said = withoutTarget(result.stderr);
  const context = `exit ${result.code}\nstderr: ${result.stderr.slice(0, 3000)}`;
  expect(result.code, context).not.toBe(-1);
  expect(result.code, context).not.toBe(1);
  expect(said, context).not.toMatch(/internal error|this is a bug/i);
  expect(said, context).not.toMatch(/^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m);
  if (result.code === 2 || result.code === 3) {
    const errors = said.split('\n').filter((line) => line.startsWith('sparctl: error'));
    expect(errors, context).toHaveLength(1);
  }
}

/** A file's permission bits. */
const mode = (path: string) => statSync(path).mode & 0o777;

// ---------------------------------------------------------------------------------------------

const EMPTY: Row[] = [
  {
    input: 'a 0-byte CSV (link)',
    files: { 'in.csv': '' },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.empty\]: in\.csv: no header row/,
    mapper: 'unchanged',
  },
  {
    input: 'a 0-byte CSV (import-csv)',
    files: { 'in.csv': '' },
    argv: importArgs('in.csv'),
    exit: 2,
    says: /\[input\.empty\]: .*in\.csv: no header row/,
    mapper: 'unchanged',
  },
  {
    input: 'a 0-byte CSV (resolve --file): one line, not "1 of 1 records are invalid"',
    files: { 'in.csv': '' },
    argv: ['resolve', '--file', 'in.csv'],
    exit: 2,
    says: /^sparctl: error \[input\.empty\]: in\.csv: no records to look up; no answer was shown \(/,
    mapper: 'unchanged',
  },
  {
    input: 'a header and no row (resolve --file)',
    files: { 'in.csv': 'id\n' },
    argv: ['resolve', '--file', 'in.csv'],
    exit: 2,
    says: /^sparctl: error \[input\.empty\]: in\.csv: no records to look up; no answer was shown \(/,
    mapper: 'unchanged',
  },
  {
    input: 'blank lines only (LF, CRLF, CR)',
    files: { 'in.csv': '\n\r\n\r\n\n' },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.empty\]: in\.csv: no header row/,
    mapper: 'unchanged',
  },
  {
    input: 'a BOM and nothing else',
    files: { 'in.csv': '\uFEFF' },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.empty\]/,
    mapper: 'unchanged',
  },
  {
    input: 'empty stdin (link --file -)',
    argv: ['link', '--file', '-'],
    stdin: '',
    exit: 2,
    says: /\[input\.empty\]: stdin: no header row/,
    mapper: 'unchanged',
  },
  {
    input: 'empty stdin (import-csv -)',
    argv: importArgs('-'),
    stdin: '',
    exit: 2,
    says: /\[input\.empty\]: stdin: no header row/,
    mapper: 'unchanged',
  },
  {
    input: 'a header and no rows (link)',
    files: { 'in.csv': linkCsv([]) },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +0 +0 +0 +0/,
    mapper: 'unchanged',
  },
  {
    input: 'a header and no rows (import-csv)',
    files: { 'in.csv': enumCsv([]) },
    argv: importArgs('in.csv'),
    exit: 0,
    says: /total +0 +0 +0 +0/,
    mapper: 'unchanged',
  },
  {
    input: 'a 0-byte JSONL file',
    files: { 'in.jsonl': '' },
    argv: ['link', '--file', 'in.jsonl'],
    exit: 2,
    says: /\[input\.empty\]: in\.jsonl/,
    mapper: 'unchanged',
  },
  {
    input: 'a JSONL file of blank lines',
    files: { 'in.jsonl': '\n\n  \n' },
    argv: ['link', '--file', 'in.jsonl'],
    exit: 2,
    says: /\[input\.empty\]: in\.jsonl/,
    mapper: 'unchanged',
  },
  {
    input: '/dev/null as the input',
    argv: ['link', '--file', '/dev/null'],
    exit: 2,
    says: /\[input\.empty\]: \/dev\/null/,
    mapper: 'unchanged',
  },
];

const PIPES: Row[] = [
  {
    input: 'process substitution <(cat f)',
    files: { 'in.csv': linkCsv(goodRows(3)) },
    shell: 'S link --file <(cat in.csv)',
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  {
    input: 'process substitution: the default rejects file is named after stdin, not /dev/fd/63',
    files: { 'in.csv': linkCsv([...goodRows(2), linkRow('BAD_1').replace(',2,', ',9,')]) },
    shell: 'S link --file <(cat in.csv)',
    exit: 5,
    says: /rejects: .*\/(stdin|input)\.rejects\.csv \(1 row\)/,
    mapper: idsOf(2),
    then: (dir) => expect(readdirSync(dir).filter((name) => /^\d+\.rejects/.test(name))).toEqual([]),
  },
  {
    input: 'a file in /dev/shm (a RAM disk, not a stream): the default rejects file is named after it',
    files: { 'in.csv': linkCsv([...goodRows(2), linkRow('BAD_1').replace(',2,', ',9,')]) },
    shell: 'd=$(mktemp -d /dev/shm/sparctl-shm-XXXXXX) && cp in.csv "$d/" && S link --file "$d/in.csv"; rc=$?; rm -rf "$d"; exit $rc',
    exit: 5,
    says: /rejects: .*\/in\.rejects\.csv \(1 row\)/,
    mapper: idsOf(2),
    then: (dir) => expect(readdirSync(dir).filter((name) => name.includes('.rejects.'))).toEqual(['in.rejects.csv']),
  },
  {
    input: 'a file named through /proc/self/cwd (a real file, not a stream): the default rejects file is named after it',
    files: { 'in.csv': linkCsv([...goodRows(2), linkRow('BAD_1').replace(',2,', ',9,')]) },
    shell: 'S link --file /proc/self/cwd/in.csv',
    exit: 5,
    says: /rejects: .*\/in\.rejects\.csv \(1 row\)/,
    mapper: idsOf(2),
    then: (dir) => expect(readdirSync(dir).filter((name) => name.includes('.rejects.'))).toEqual(['in.rejects.csv']),
  },
  {
    input: 'a pipe cut short mid-row (its producer died): the last row, with no line break, is rejected, not sent shortened',
    files: { 'in.csv': linkCsv(goodRows(3)) },
    shell: 'head -c -7 in.csv | S link --file -',
    exit: 5,
    says: /rejected by reason: input\.unreadable 1[\s\S]*rejects: .*stdin\.rejects\.csv \(1 row\)/,
    mapper: idsOf(2),
    then: (dir) =>
      expect(readFileSync(join(dir, 'stdin.rejects.csv'), 'utf8')).toMatch(/ended in the middle of line 4, with no line break after it/),
  },
  {
    input: 'the same file, unterminated, redirected (not piped) into --file -: its last row is whole, and linked',
    files: { 'in.csv': linkCsv(goodRows(3)).trimEnd() },
    shell: 'S link --file - < in.csv',
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  {
    input: '/dev/stdin redirected from a file',
    files: { 'in.csv': linkCsv(goodRows(3)) },
    shell: 'S link --file /dev/stdin < in.csv',
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  {
    input: 'a pipe into --file -',
    files: { 'in.csv': linkCsv(goodRows(3)) },
    shell: 'cat in.csv | S link --file -',
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  { input: 'an empty pipe into --file -', shell: ': | S link --file -', exit: 2, says: /\[input\.empty\]: stdin/, mapper: 'unchanged' },
  {
    input: 'import-csv from process substitution',
    files: { 'in.csv': enumCsv([enumRow(1), enumRow(2)]) },
    shell: 'S import-csv <(cat in.csv) --mapping mapping.json',
    exit: 0,
    says: /total +2 /,
    mapper: [enumId(1), enumId(2)],
  },
  {
    input: 'a named FIFO fed slowly, a line at a time',
    files: { 'in.csv': linkCsv(goodRows(4)) },
    shell:
      'mkfifo f.csv; (timeout 20 bash -c \'while IFS= read -r line; do printf "%s\\n" "$line"; sleep 0.05; done < in.csv > f.csv\' 2>/dev/null &) ; S link --file f.csv',
    exit: 0,
    says: /total +4 /,
    mapper: idsOf(4),
  },
  {
    input: 'a FIFO whose writer closes without writing',
    shell: 'mkfifo f.csv; (timeout 20 bash -c ": > f.csv" 2>/dev/null &) ; S link --file f.csv',
    exit: 2,
    says: /\[input\.empty\]: f\.csv/,
    mapper: 'unchanged',
  },
  {
    input: 'a pipe into import-csv -: its spooled copy is removed at the end',
    files: { 'in.csv': enumCsv([enumRow(3)]) },
    shell: 'cat in.csv | S import-csv - --mapping mapping.json && ls "$XDG_STATE_HOME/sparctl/spool" 2>/dev/null | wc -l',
    exit: 0,
    says: /total +1 /,
    mapper: [enumId(3)],
    then: (_dir, result) => expect(result.stdout.trim()).toBe('0'),
  },
];

const ENCODING: Row[] = [
  {
    input: 'bare-CR line endings (old Excel for Mac), link',
    files: { 'in.csv': linkCsv(goodRows(3), '\r') },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  {
    input: 'bare-CR line endings, import-csv',
    files: { 'in.csv': enumCsv([enumRow(4), enumRow(5)], '\r') },
    argv: importArgs('in.csv'),
    exit: 0,
    says: /total +2 /,
    mapper: [enumId(4), enumId(5)],
  },
  {
    input: 'CRLF line endings',
    files: { 'in.csv': linkCsv(goodRows(3), '\r\n') },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +3 /,
    mapper: idsOf(3),
  },
  {
    input: 'LF, CRLF and bare CR mixed in one file',
    files: { 'in.csv': `${LINK_HEADER}\r\n${linkRow('M_1')}\r${linkRow('M_2')}\n${linkRow('M_3')}\r\n` },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +3 /,
    mapper: ['M_1', 'M_2', 'M_3'],
  },
  {
    input: 'bare CR: a rejected row is reported on its own line number',
    files: { 'in.csv': linkCsv([linkRow('C_1'), linkRow('C_2').replace(',2,', ',9,'), linkRow('C_3')], '\r') },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /input\.strategy 1/,
    mapper: ['C_1', 'C_3'],
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/^3,strategy_id,input\.strategy,.*,C_2,/m),
  },
  {
    input: 'UTF-16 LE with a BOM (Excel "Unicode text")',
    files: { 'in.csv': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(linkCsv(goodRows(2)), 'utf16le')]) },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.not_utf8\]: in\.csv:1: UTF-16 text \(it starts with UTF-16's byte-order mark\), not UTF-8; nothing was sent/,
    mapper: 'unchanged',
  },
  {
    input: 'a Latin-1 é on line 3',
    files: {
      'in.csv': Buffer.concat([
        Buffer.from(`${LINK_HEADER}\n${linkRow('L_1')}\n`),
        Buffer.from('L_2,Jos\xe9,,BANK,2,Example Bank,EXB,Main,0001,A2,,,,\n', 'latin1'),
      ]),
    },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.not_utf8\]: in\.csv:3: not valid UTF-8; nothing was sent/,
    mapper: 'unchanged',
  },
  {
    input: 'a PNG given as the input',
    files: { 'in.csv': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0xff, 0xd8]) },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.not_utf8\]/,
    mapper: 'unchanged',
  },
  {
    input: 'a NUL byte inside an ID',
    files: { 'in.csv': linkCsv([linkRow('Z_1'), linkRow('Z\u00002')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.invalid 1/,
    mapper: ['Z_1'],
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/U\+0000/),
  },
  {
    input: 'a UTF-8 BOM before the header',
    files: { 'in.csv': `\uFEFF${linkCsv(goodRows(2))}` },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +2 /,
    mapper: idsOf(2),
  },
];

const STRUCTURE: Row[] = [
  {
    input: 'a quote left open in the last row',
    files: { 'in.csv': `${linkCsv(goodRows(3))}Q_1,"open,,BANK,2,Example Bank,EXB,Main,0001,1,,,,\n` },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.csv_malformed\]: in\.csv:5: .*never closed.*nothing was sent/,
    mapper: 'unchanged',
  },
  {
    input: 'a quote left open at line 5,001 of 6,001: refused before anything is written',
    files: { 'in.csv': () => linkCsv([...goodRows(5_000), 'Q_2,"open,,BANK,2', ...goodRows(1_000, 'T')]) },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.csv_malformed\]: in\.csv:5002: /,
    mapper: 'unchanged',
  },
  {
    input: 'a quote inside an unquoted cell: that row rejected, the others linked',
    files: { 'in.csv': linkCsv([linkRow('Q_3'), 'Q_4,Jo"e,,BANK,2,Example Bank,EXB,Main,0001,1,,,,', linkRow('Q_5')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['Q_3', 'Q_5'],
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/^3,\(line\),input\.unreadable,/m),
  },
  {
    input: 'text after a closing quote: that row rejected, the others linked',
    files: { 'in.csv': linkCsv([linkRow('Q_6'), 'Q_7,"Jo"e,,BANK,2,Example Bank,EXB,Main,0001,1,,,,', linkRow('Q_8')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['Q_6', 'Q_8'],
  },
  {
    input: 'a row with too many cells',
    files: { 'in.csv': linkCsv([linkRow('W_1'), `${linkRow('W_2')},extra,cells`, linkRow('W_3')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['W_1', 'W_3'],
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/the row has 16 cells where the header has 14/),
  },
  {
    input: 'a row with too few cells',
    files: { 'in.csv': linkCsv([linkRow('W_4'), 'W_5,Short', linkRow('W_6')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['W_4', 'W_6'],
  },
  {
    input: 'a wrong-cell row at line 4,001 of 6,001: a reject, the other 5,999 linked',
    files: { 'in.csv': () => linkCsv([...goodRows(3_999), 'W_7,x,,BANK,2,too,many,cells,here,1,2,3,4,5,6,7,8', ...goodRows(2_000, 'U')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /5999 +0 +1 +6000/,
    mapper: (before, after) => expect(after.size - before.size).toBe(5_999),
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/^4001,\(line\),input\.unreadable,/m),
  },
  {
    input: 'a header naming a column twice',
    files: {
      'in.csv': linkCsv([linkRow('H_1')])
        .replace('id,name,', 'id,name,name,')
        .replace('H_1,', 'H_1,x,'),
    },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /in\.csv:1: .*"name".*(twice|more than once|repeated)/,
    mapper: 'unchanged',
  },
  {
    input: 'a header with an empty column name',
    files: { 'in.csv': linkCsv([linkRow('H_2')]).replace('id,name,', 'id,,') },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /in\.csv:1: /,
    mapper: 'unchanged',
  },
  {
    input: 'a ";" export read without --delimiter: the hint names --delimiter',
    files: { 'in.csv': enumCsv([enumRow(6)]).replaceAll(',', ';') },
    argv: importArgs('in.csv'),
    exit: 2,
    says: /\[input\.missing_column\]: .*in\.csv:1: .*--delimiter ';'/,
    mapper: 'unchanged',
  },
  {
    input: 'a ";" file given to link --file without --delimiter: the hint names --delimiter',
    files: { 'in.csv': linkCsv([linkRow('H_9')]).replaceAll(',', ';') },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.unknown_column\]: in\.csv:1: .*run again with --delimiter ';'/,
    mapper: 'unchanged',
  },
  {
    input: '--delimiter given for a JSONL file',
    files: { 'in.jsonl': '{"id":"H_10"}\n' },
    argv: ['unlink', '--file', 'in.jsonl', '--delimiter', ';', '--yes'],
    exit: 2,
    says: /\[usage\.delimiter\]: --delimiter is for CSV input, and in\.jsonl is read as JSONL/,
    mapper: 'unchanged',
  },
  {
    input: 'a --delimiter that cannot be one',
    files: {},
    argv: ['resolve', '--file', 'in.csv', '--delimiter', ';;'],
    exit: 2,
    says: /--delimiter ";;": a delimiter must be one character/,
    mapper: 'unchanged',
  },
  {
    input: 'an unknown --country',
    files: {},
    argv: ['link', '--id', 'H_11', '--fa-type', 'MOBILE_WALLET', '--mobile-number', '0917 555 0101', '--country', 'XX'],
    exit: 2,
    says: /\[usage\.invalid_argument\]: --country "XX" is not a country sparctl knows/,
    mapper: 'unchanged',
  },
  {
    input: 'a --country that is no code at all',
    files: {},
    argv: ['update', '--file', 'in.csv', '--country', 'Philippines'],
    exit: 2,
    says: /--country "Philippines" is not a country sparctl knows/,
    mapper: 'unchanged',
  },
  {
    input: 'a column link --file does not know',
    files: { 'in.csv': linkCsv([linkRow('H_3')]).replace('email_address', 'email_adress') },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.unknown_column\]: in\.csv:1: unknown column.*"email_adress"/,
    mapper: 'unchanged',
  },
  {
    input: 'Excel\'s "sep=," line above the header: named as such',
    files: { 'in.csv': `sep=,\n${linkCsv([linkRow('H_5')])}` },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.unknown_column\]: in\.csv:1: .*the first line is a spreadsheet's "sep=" line, not the header: delete that line/,
    mapper: 'unchanged',
  },
  {
    input: 'Excel\'s "sep=;" line above a ";" header, through a mapping (import-csv): named as such, with or without --delimiter',
    files: { 'in.csv': `sep=;\n${enumCsv([enumRow(1)]).replaceAll(',', ';')}` },
    argv: importArgs('in.csv'),
    exit: 2,
    says: /\[input\.missing_column\]: in\.csv:1: .*\(the first line is a spreadsheet's "sep=" line, not the header: delete that line/,
    mapper: 'unchanged',
  },
  {
    input: 'Excel\'s "sep=;" line, import-csv --delimiter ";": still the "sep=" line, not "the file\'s columns are: sep=, "',
    files: { 'in.csv': `sep=;\n${enumCsv([enumRow(1)]).replaceAll(',', ';')}` },
    argv: [...importArgs('in.csv'), '--delimiter', ';'],
    exit: 2,
    says: /\[input\.missing_column\]: in\.csv:1: .*\(the first line is a spreadsheet's "sep=" line, not the header: delete that line/,
    mapper: 'unchanged',
  },
  {
    input: 'blank columns a spreadsheet kept at the end of the header: named as such',
    files: { 'in.csv': linkCsv([`${linkRow('H_6')},,`]).replace(/\n/, ',,\n') },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /\[input\.unknown_column\]: in\.csv:1: unknown columns "", "" \(2 columns have no name in the header .*delete those columns\)/,
    mapper: 'unchanged',
  },
  {
    input: 'blank columns a spreadsheet kept, through a mapping (import-csv): ignored like any column it does not name',
    files: { 'in.csv': enumCsv([`${enumRow(1)},,`, `${enumRow(2)},,`]).replace(/\n/, ',,\n') },
    argv: importArgs('in.csv'),
    exit: 0,
    says: /total +2 /,
    mapper: [enumId(1), enumId(2)],
  },
  {
    input: 'rows of empty cells a spreadsheet wrote below the data (",,,,", CRLF): skipped as blank lines, exit 0, no reject file',
    files: { 'in.csv': enumCsv([enumRow(1), enumRow(2), ',,,,,,,,,,,,', ' , ,,,,,,,,,,,', ',,,,,,,,,,,,'], '\r\n') },
    argv: importArgs('in.csv'),
    exit: 0,
    says: /total +2 /,
    mapper: [enumId(1), enumId(2)],
  },
  {
    input: 'rows of empty cells in a link --file CSV, one quoted ("","",…): skipped, exit 0',
    files: { 'in.csv': linkCsv([...goodRows(2), ',,,,,,,,,,,,,', '"","",,,,,,,,,,,,']) },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +2 /,
    mapper: idsOf(2),
  },
  {
    input: 'no id column',
    files: { 'in.csv': linkCsv([linkRow('H_4')]).replace(/^id,/, 'ident,') },
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /in\.csv:1: /,
    mapper: 'unchanged',
  },
  {
    input: 'a header-only file missing a mapped column',
    files: { 'in.csv': `${ENUM_HEADER.replace(',account_no', '')}\n` },
    argv: importArgs('in.csv'),
    exit: 2,
    says: /\[input\.missing_column\]: .*"account_no"/,
    mapper: 'unchanged',
  },
  {
    input: 'a JSONL line that is not an object',
    files: { 'in.jsonl': `${JSONL_GOOD('J_1')}\n[1,2]\n${JSONL_GOOD('J_2')}\n` },
    argv: ['link', '--file', 'in.jsonl', '--rejects', 'r.jsonl'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['J_1', 'J_2'],
  },
  {
    input:
      'JSONL that JSON.parse reads otherwise than written (a long number, a key twice, a lone surrogate): refused with the line as written, never the altered value',
    files: {
      'in.jsonl': [
        JSONL_GOOD('J_5').replace('"account_number":"', '"account_number":12345678901234567890,"x":"'),
        JSONL_GOOD('J_6').replace('"id":"J_6"', '"id":"J_6","id":"J_6B"'),
        JSONL_GOOD('J_7').replace(/"account_number":"([^"]+)"/, '"account_number":"$1\\ud800"'),
        JSONL_GOOD('J_8').replace('}', ',"additional_info":[{"household":9007199254740993,"big":1e400}]}'),
        JSONL_GOOD('J_9').replace('"id":"J_9"', '"id":"J_9","name":"A \\ud83d\\ude00"'),
        JSONL_GOOD('J_10'),
      ].join('\n'),
    },
    argv: ['link', '--file', 'in.jsonl', '--rejects', 'r.jsonl'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 4/,
    // An emoji (a surrogate pair, escaped) is a character: J_9 is linked, its name as written.
    mapper: ['J_10', 'J_9'],
    then: (dir) => {
      const text = readFileSync(join(dir, 'r.jsonl'), 'utf8');
      expect(text).toContain('the number 12345678901234567890 is not kept as written by a JSON number');
      expect(text).not.toContain('12345678901234567000');
      expect(text).toContain('a key appears twice in one object');
      expect(text).toContain('is half of a character (a lone surrogate)');
      expect(text).toContain('the number 9007199254740993 is not kept as written');
      // The field says the whole line: the message does not say it again.
      expect(text).toContain('"sparctl_field":"(line)","sparctl_code":"input.unreadable","sparctl_message":"not read exactly: ');
      expect(text).not.toContain('(line): ');
    },
  },
  {
    input: 'a JSONL record with "fa" and a strategy_id beside it: refused, not one of them dropped',
    files: { 'in.jsonl': `${JSON.stringify({ id: 'J_11', strategy_id: 2, fa: JSON.parse(JSONL_GOOD('J_11')) })}\n` },
    argv: ['link', '--file', 'in.jsonl', '--rejects', 'r.jsonl'],
    exit: 5,
    says: /rejected by reason: input\.invalid 1/,
    mapper: 'unchanged',
    then: (dir) =>
      expect(readFileSync(join(dir, 'r.jsonl'), 'utf8')).toContain(
        'give the FA either as \\"fa\\" or as flat fields, not both (strategy_id)',
      ),
  },
  {
    input: 'a JSONL line cut in half',
    files: { 'in.jsonl': `${JSONL_GOOD('J_3')}\n{"id":"J_X","fa_ty\n${JSONL_GOOD('J_4')}\n` },
    argv: ['link', '--file', 'in.jsonl', '--rejects', 'r.jsonl'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['J_3', 'J_4'],
  },
];

const BIG: Row[] = [
  {
    input: 'an 8 MiB cell in a name: that row rejected (too long), the others linked',
    files: { 'in.csv': () => linkCsv([linkRow('B_1'), linkRow('B_2', 'A2', `"${'x'.repeat(8 * MiB)}"`), linkRow('B_3')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.invalid 1/,
    mapper: ['B_1', 'B_3'],
  },
  {
    input: 'a 70 MiB cell: the row is over the limit, rejected; the others linked',
    files: { 'in.csv': () => linkCsv([linkRow('B_4'), linkRow('B_5', 'A5', `"${'x'.repeat(70 * MiB)}"`), linkRow('B_6')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.unreadable 1/,
    mapper: ['B_4', 'B_6'],
    then: (dir) => {
      // The reason and the line, not the 70 MiB row.
      expect(statSync(join(dir, 'r.csv')).size).toBeLessThan(MiB);
      expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(/^3,\(line\),input\.unreadable,.*larger than 64 MiB/m);
    },
  },
  {
    input: 'a 100 KiB ID',
    files: { 'in.csv': linkCsv([linkRow('B_7'), linkRow('I'.repeat(100 * 1024))]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.invalid 1/,
    mapper: ['B_7'],
  },
];

const DELIMITERS: Row[] = ['"', '\n', '\r', '', ';;'].map(
  (delimiter): Row => ({
    input: `--delimiter ${JSON.stringify(delimiter)}`,
    files: { 'in.csv': enumCsv([enumRow(7)]) },
    argv: [...importArgs('in.csv'), '--delimiter', delimiter],
    exit: 2,
    says: /\[usage\.delimiter\]: --delimiter /,
    mapper: 'unchanged',
  }),
);

const IDS: Row[] = [
  {
    input: 'one ID in NFC and in NFD: one beneficiary, the later row decides',
    files: { 'in.csv': linkCsv([linkRow('RAM\u00d3N_1', 'FIRST'), linkRow('RAMO\u0301N_1', 'SECOND')]) },
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +1 +0 +1 +0 +2\n/,
    mapper: (before, after) => {
      expect(written(before, after)).toEqual(['RAM\u00d3N_1']);
      expect(after.get('RAM\u00d3N_1')).toContain('account_number:SECOND.');
    },
  },
  {
    input: 'an NFD ID that is stored in NFC: link says it is already linked',
    files: { 'in.csv': linkCsv([linkRow('JOSE\u0301_0', 'NFC-0').replace('Person', 'P')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rjct\.reference_id\.duplicate 1|unchanged|already/,
    mapper: 'unchanged',
  },
  {
    input: 'link --id given twice with different IDs: refused, neither is linked (commander would keep the last)',
    argv: [
      'link',
      '--id',
      'TWICE_A',
      '--id',
      'TWICE_B',
      '--fa-type',
      'BANK',
      '--bank-code',
      'LBP',
      '--branch-code',
      '0001',
      '--account-number',
      '1',
    ],
    exit: 2,
    says: /\[usage\.repeated_option\]: --id is given twice \("TWICE_A" and "TWICE_B"\)/,
    mapper: 'unchanged',
  },
  {
    input: 'update with a bank code the DFSP data does not hold: that is what is said, not "bank_name is missing"',
    argv: ['update', '--id', 'BENE_0001', '--fa-type', 'BANK', '--bank-code', 'ZZZ', '--branch-code', '0012', '--account-number', '5'],
    exit: 2,
    says: /invalid record: bank_code: bank "ZZZ" is not in the DFSP data, so its name cannot be filled in: give bank_name \(--bank-name\), or add the bank to the DFSP data; nothing was written/,
    mapper: 'unchanged',
  },
  {
    input: 'update with a branch code its bank does not have in the DFSP data: named as the branch',
    argv: ['update', '--id', 'BENE_0001', '--fa-type', 'BANK', '--bank-code', 'LBP', '--branch-code', '9999', '--account-number', '5'],
    exit: 2,
    says: /invalid record: branch_code: branch "9999" of bank "LBP" is not in the DFSP data, so its name cannot be filled in: give branch_name \(--branch-name\), or add the branch to the DFSP data; nothing was written/,
    mapper: 'unchanged',
  },
  {
    input: 'resolve --id A --id B: refused, pointing at the arguments form',
    argv: ['resolve', '--id', 'BENE_0001', '--id', 'BENE_0002'],
    exit: 2,
    says: /resolve takes several IDs as arguments/,
    mapper: 'unchanged',
  },
  {
    input: 'resolve --id with the NFD form of a stored NFC ID',
    argv: ['resolve', '--id', 'JOSE\u0301_0'],
    exit: 0,
    says: /resolve: 1 found/,
    mapper: 'unchanged',
    then: (_dir, result) => expect(result.stdout).toMatch(/NFC-0/),
  },
  ...(
    [
      ['U+200B', '\u200b', 'a zero-width space'],
      ['U+202E', '\u202e', 'a right-to-left override'],
      ['U+FEFF', '\ufeff', 'a zero-width no-break space inside'],
      ['U+200D', '\u200d', 'a zero-width joiner'],
      ['U+2066', '\u2066', 'a left-to-right isolate'],
      ['U+0007', '\u0007', 'a control character (BEL)'],
      ['U+00AD', '\u00ad', 'a soft hyphen'],
    ] as const
  ).map(
    ([point, char, what]): Row => ({
      input: `an ID with ${what} (${point}) in a file: that row rejected naming ${point}`,
      files: { 'in.csv': linkCsv([linkRow('V_1'), linkRow(`V${char}_2`)]) },
      argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
      exit: 5,
      says: /rejected by reason: input\.invisible_character 1|rejected by reason: input\.invalid 1/,
      mapper: ['V_1'],
      then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toContain(point),
    }),
  ),
  {
    input: 'link --id with a zero-width space: refused, nothing written',
    argv: ['link', '--id', 'V\u200b_3', ...bankFlags('1')],
    exit: 2,
    says: /U\+200B/,
    mapper: 'unchanged',
  },
  {
    input: 'import-csv: a national ID with a right-to-left mark',
    files: { 'in.csv': enumCsv([enumRow(8), enumRow(9).replace('000412345009', '000412345\u200f009')]) },
    argv: [...importArgs('in.csv'), '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: /,
    mapper: [enumId(8)],
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toContain('U+200F'),
  },
];

const mappingWith = (edit: (text: string) => string) => ({ 'bad.json': edit(MAPPING_TEXT), 'in.csv': enumCsv([enumRow(10)]) });
const MAPPINGS: Row[] = [
  {
    input: 'a mapping saved by Notepad (UTF-8 with a byte order mark): read as JSON',
    files: mappingWith((text) => `\uFEFF${text}`),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 0,
    says: /applied/,
    mapper: [enumId(10)],
  },
  {
    input: 'a mapping naming strategy 77, which does not exist',
    files: mappingWith((text) => text.replace('"BANK": 2', '"BANK": 77')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /bad\.json: fa\.strategy\.BANK: .*77/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping whose ID strategy does not exist',
    files: mappingWith((text) => text.replace('"strategy": 1 }', '"strategy": 71 }')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /bad\.json: id\.strategy: .*71/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping with an unknown FA type',
    files: mappingWith((text) => text.replace('"gcash": "MOBILE_WALLET"', '"gcash": "MOBILE_WALET"')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /\[mapping\.invalid\]: bad\.json: fa\.type\.values\.gcash: must be one of/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping reading a column the file does not have',
    files: mappingWith((text) => text.replace('"account_no"', '"account_nr"')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /\[input\.missing_column\]: .*"account_nr"/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping that is not JSON',
    files: mappingWith((text) => text.replace('"name": "full_name",', '"name": "full_name"')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /\[mapping\.invalid\]: bad\.json: /,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping that is a JSON array',
    files: mappingWith(() => '[]'),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /\[mapping\.invalid\]: bad\.json/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping file that does not exist',
    files: { 'in.csv': enumCsv([enumRow(10)]) },
    argv: importArgs('in.csv', 'none.json'),
    exit: 2,
    says: /none\.json/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping path that is a folder',
    files: { 'in.csv': enumCsv([enumRow(10)]) },
    before: (dir) => mkdirSync(join(dir, 'm.json')),
    argv: importArgs('in.csv', 'm.json'),
    exit: 2,
    says: /m\.json/,
    mapper: 'unchanged',
  },
  {
    input: 'a DFSP file that is not JSON (import-csv --dfsp)',
    files: { 'in.csv': enumCsv([enumRow(10)]), 'banks.json': '{"banks": [' },
    argv: [...importArgs('in.csv'), '--dfsp', 'banks.json'],
    exit: 2,
    says: /\[dfsp\.invalid\]: banks\.json: not valid JSON/,
    mapper: 'unchanged',
  },
  {
    input: 'a DFSP file that is not JSON (dfsp import)',
    files: { 'banks.json': '{"banks": [' },
    argv: ['dfsp', 'import', 'banks.json'],
    exit: 2,
    says: /\[dfsp\.invalid\]: banks\.json: not valid JSON/,
    mapper: 'unchanged',
  },
  {
    input: 'a mapping with a key sparctl does not know',
    files: mappingWith((text) => text.replace('"name": "full_name",', '"name": "full_name", "nmae": "x",')),
    argv: importArgs('in.csv', 'bad.json'),
    exit: 2,
    says: /\[mapping\.invalid\]: bad\.json: .*nmae/,
    mapper: 'unchanged',
  },
];

const withRejectedRow = { 'in.csv': linkCsv([linkRow('O_1'), linkRow('O_2').replace(',2,', ',9,'), linkRow('O_3')]) };
// Paths under /proc run through a shell: a loop there (Node 20's recursive mkdir) is then killed.
const OUTPUTS: Row[] = [
  {
    input: '--rejects naming a folder: refused before anything is sent',
    files: withRejectedRow,
    before: (dir) => mkdirSync(join(dir, 'out')),
    argv: ['link', '--file', 'in.csv', '--rejects', 'out'],
    exit: 2,
    says: /out.*(EISDIR|folder|directory)/i,
    mapper: 'unchanged',
  },
  {
    input: '--results naming the input file: refused before anything is sent, the input intact',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    argv: ['link', '--file', 'in.csv', '--results', 'in.csv'],
    exit: 2,
    says: /\[output\.protected\]: --results .*in\.csv is the input file: writing there would destroy it; nothing was sent/,
    mapper: 'unchanged',
    then: (dir) => expect(readFileSync(join(dir, 'in.csv'), 'utf8')).toBe(linkCsv(goodRows(2))),
  },
  {
    input: '--rejects and --results naming one file: refused before anything is sent',
    files: withRejectedRow,
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv', '--results', './r.csv'],
    exit: 2,
    says: /\[output\.protected\]: --results .*\/r\.csv is a reject file: writing there would destroy it; nothing was sent/,
    mapper: 'unchanged',
    then: (dir) => expect(existsSync(join(dir, 'r.csv'))).toBe(false),
  },
  {
    input: '--results naming the default reject file: refused before anything is sent',
    files: withRejectedRow,
    argv: ['link', '--file', 'in.csv', '--results', 'in.rejects.csv'],
    exit: 2,
    says: /\[output\.protected\]: --results .*\/in\.rejects\.csv is a reject file/,
    mapper: 'unchanged',
    then: (dir) => expect(existsSync(join(dir, 'in.rejects.csv'))).toBe(false),
  },
  {
    input: '--results naming the default reject file kept from an earlier run (fixed by hand): refused, the file intact',
    files: { ...withRejectedRow, 'in.rejects.csv': 'MY FIXED ROWS\n' },
    argv: ['link', '--file', 'in.csv', '--results', 'in.rejects.csv'],
    exit: 2,
    says: /\[output\.protected\]: --results .*\/in\.rejects\.csv is a reject file/,
    mapper: 'unchanged',
    then: (dir) => expect(readFileSync(join(dir, 'in.rejects.csv'), 'utf8')).toBe('MY FIXED ROWS\n'),
  },
  {
    input: '--results through a symbolic link to the --rejects file (not made yet): refused',
    files: withRejectedRow,
    before: (dir) => symlinkSync('r.csv', join(dir, 'rlink.csv')),
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv', '--results', 'rlink.csv'],
    exit: 2,
    says: /--results .*rlink\.csv is a reject file: writing there would destroy it/,
    mapper: 'unchanged',
    then: (dir) => expect(existsSync(join(dir, 'r.csv'))).toBe(false),
  },
  {
    input: '--results naming the --rejects file through a linked folder: refused',
    files: withRejectedRow,
    before: (dir) => {
      mkdirSync(join(dir, 'd1'));
      symlinkSync('d1', join(dir, 'd2'));
    },
    argv: ['link', '--file', 'in.csv', '--rejects', 'd1/r.csv', '--results', 'd2/r.csv'],
    exit: 2,
    says: /--results .*d2\/r\.csv is a reject file: writing there would destroy it/,
    mapper: 'unchanged',
    then: (dir) => expect(existsSync(join(dir, 'd1', 'r.csv'))).toBe(false),
  },
  {
    input:
      '--rejects --overwrite, --results, --journal and smoke --junit naming the local mapper database (or its -wal): refused, the database intact',
    files: { 'in.csv': linkCsv([linkRow('P_1', '2,77366E+14')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'mapper.db', '--overwrite'],
    exit: 2,
    says: /\[output\.protected\]: --rejects \S*mapper\.db is the local mapper database: writing there would destroy it; nothing was sent/,
    mapper: 'unchanged',
    // The other four, one after another in the same folder (in process, as every argv row), each
    // refused as the first was; the database unchanged, and still read.
    then: async (dir) => {
      const db = join(dir, 'mapper.db');
      const before = mapperState(db);
      const { env } = cliEnv();
      for (const [args, flag] of [
        [['link', '--file', 'in.csv', '--results', 'mapper.db'], 'results'],
        [['link', '--file', 'in.csv', '--results', 'mapper.db-wal'], 'results'],
        [['link', '--file', 'in.csv', '--journal', 'mapper.db'], 'journal'],
        [['smoke', '--junit', 'mapper.db'], 'junit'],
      ] as const) {
        const run = await runMain(['--db', 'mapper.db', ...args], { env, cwd: dir });
        keepsTheRules(run);
        expect(run.code, run.stderr).toBe(2);
        expect(withoutTarget(run.stderr)).toMatch(
          new RegExp(`^sparctl: error \\[output\\.protected\\]: --${flag} \\S*mapper\\.db(-wal)? is the local mapper database`),
        );
      }
      expect(written(before, mapperState(db))).toEqual([]);
      const read = await runMain(['--db', 'mapper.db', 'resolve', 'BENE_0001', '-q', '-o', 'jsonl'], { env, cwd: dir });
      expect(read.stdout).toContain('{"id":"BENE_0001","outcome":"found"');
    },
  },
  {
    input: '--rejects under /proc (no reject would be written): still checked first',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    shell: 'S link --file in.csv --rejects /proc/nope/r.csv',
    exit: 2,
    says: /\/proc\/nope/,
    mapper: 'unchanged',
  },
  {
    input: '--results under /proc: no loop, one line',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    shell: 'S link --file in.csv --results /proc/x/y/z.csv',
    exit: 2,
    says: /\/proc\/x/,
    mapper: 'unchanged',
  },
  {
    input: '--rejects under a file (ENOTDIR)',
    files: withRejectedRow,
    argv: ['link', '--file', 'in.csv', '--rejects', 'in.csv/r.csv'],
    exit: 2,
    says: /in\.csv\/r\.csv.*ENOTDIR|in\.csv.*not a (folder|directory)/i,
    mapper: 'unchanged',
  },
  {
    input: '--results naming a folder',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    before: (dir) => mkdirSync(join(dir, 'out')),
    argv: ['link', '--file', 'in.csv', '--results', 'out'],
    exit: 2,
    says: /out.*(EISDIR|folder|directory)/i,
    mapper: 'unchanged',
  },
  {
    input: 'smoke --junit under /proc: refused before the smoke test runs',
    shell: 'S smoke --junit /proc/nope/x.xml',
    exit: 2,
    says: /\/proc\/nope/,
    mapper: 'unchanged',
  },
  {
    input: '--journal under /proc',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    shell: 'S link --file in.csv --journal /proc/nope/j.db',
    exit: 2,
    says: /\/proc\/nope/,
    mapper: 'unchanged',
  },
  {
    input: '--journal naming a text file, with --restart: not a journal, refused, the file left as it is',
    files: { 'in.csv': linkCsv(goodRows(2)), 'notes.txt': 'meeting notes\n' },
    argv: ['link', '--file', 'in.csv', '--journal', 'notes.txt', '--restart'],
    exit: 2,
    says: /\[journal\.not_journal\]: --journal .*notes\.txt is not a sparctl journal: it is not an SQLite file; it was left as it is/,
    mapper: 'unchanged',
    then: (dir) => expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('meeting notes\n'),
  },
  {
    input: "--journal naming another program's SQLite database: refused before it is touched (it was given tables, then removed)",
    files: { 'in.csv': linkCsv(goodRows(2)) },
    before: (dir) => {
      const other = openDatabase(join(dir, 'payroll.db'));
      other.exec('CREATE TABLE payroll (name TEXT); INSERT INTO payroll VALUES (1)');
      other.close();
    },
    argv: ['link', '--file', 'in.csv', '--journal', 'payroll.db', '--restart'],
    exit: 2,
    says: /\[journal\.not_journal\]: .*payroll\.db is not a sparctl journal: it is a database of something else, with the table "payroll"/,
    mapper: 'unchanged',
    then: (dir) => {
      const other = openDatabase(join(dir, 'payroll.db'), { readonly: true });
      try {
        expect(prepare(other, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'").pluck().get()).toBe('payroll');
        expect(prepare(other, 'PRAGMA journal_mode').pluck().get()).toBe('delete');
      } finally {
        other.close();
      }
    },
  },
  {
    input: '--rejects /dev/full when a row is rejected: stopped, resumable (exit 4)',
    files: withRejectedRow,
    argv: ['link', '--file', 'in.csv', '--rejects', '/dev/full'],
    exit: 4,
    says: /\/dev\/full.*ENOSPC/,
    mapper: (before, after) => expect(written(before, after).every((id) => id === 'O_1' || id === 'O_3')).toBe(true),
  },
  {
    input: '--results /dev/full: stopped, resumable (exit 4)',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    argv: ['link', '--file', 'in.csv', '--results', '/dev/full'],
    exit: 4,
    says: /\/dev\/full.*ENOSPC/,
    mapper: (before, after) => expect(written(before, after).every((id) => idsOf(2).includes(id))).toBe(true),
  },
  {
    input: 'an existing rejects file named without --overwrite: refused before anything is sent, kept',
    files: { ...withRejectedRow, 'r.csv': 'old\n' },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 2,
    says: /usage\.rejects_exists.*r\.csv exists.*--overwrite/,
    mapper: 'unchanged',
    then: (dir) => expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toBe('old\n'),
  },
  {
    input: 'an existing rejects file at 0644 ends 0600 (--overwrite)',
    files: { ...withRejectedRow, 'r.csv': 'old\n' },
    before: (dir) => chmodSync(join(dir, 'r.csv'), 0o644),
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv', '--overwrite'],
    exit: 5,
    says: /\(1 row\)/,
    mapper: ['O_1', 'O_3'],
    then: (dir) => expect(mode(join(dir, 'r.csv'))).toBe(0o600),
  },
  {
    input: 'an existing results file at 0644 ends 0600',
    files: { 'in.csv': linkCsv(goodRows(2)), 'res.csv': 'old\n' },
    before: (dir) => chmodSync(join(dir, 'res.csv'), 0o644),
    argv: ['link', '--file', 'in.csv', '--results', 'res.csv'],
    exit: 0,
    says: /total +2 /,
    mapper: idsOf(2),
    then: (dir) => expect(mode(join(dir, 'res.csv'))).toBe(0o600),
  },
  {
    input: 'an existing mapper database at 0644 ends 0600',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    before: (dir) => chmodSync(join(dir, 'mapper.db'), 0o644),
    argv: ['link', '--file', 'in.csv'],
    exit: 0,
    says: /total +1 /,
    mapper: idsOf(1),
    then: (dir) => expect(mode(join(dir, 'mapper.db'))).toBe(0o600),
  },
];

const INPUTS: Row[] = [
  {
    input: 'an input file that does not exist',
    argv: ['link', '--file', 'nope.csv'],
    exit: 2,
    says: /nope\.csv.*(ENOENT|not found|no such file)/i,
    mapper: 'unchanged',
  },
  {
    input: 'an input path that is a folder',
    before: (dir) => mkdirSync(join(dir, 'in.csv')),
    argv: ['link', '--file', 'in.csv'],
    exit: 2,
    says: /in\.csv/,
    mapper: 'unchanged',
  },
  {
    input: 'a .txt export is read as CSV',
    files: { 'in.txt': linkCsv(goodRows(1)) },
    argv: ['link', '--file', 'in.txt'],
    exit: 0,
    says: /total +1 /,
    mapper: idsOf(1),
  },
  {
    input: 'a workbook (zip bytes) given to link --file',
    files: {
      'in.xlsx': Buffer.concat([
        Buffer.from('PK\x03\x04', 'latin1'),
        Buffer.from([0x14, 0, 6, 0, 0x08, 0, 0, 0, 0x21, 0, 0xb5, 0x55, 0xf0, 0x9f]),
      ]),
    },
    argv: ['link', '--file', 'in.xlsx'],
    exit: 2,
    says: /in\.xlsx/,
    mapper: 'unchanged',
  },
  {
    input: 'import-csv of a file that does not exist',
    argv: importArgs('nope.csv'),
    exit: 2,
    says: /nope\.csv/,
    mapper: 'unchanged',
  },
];

/** An SQLite file's header, then text written over the rest: a damaged journal (a file that is not SQLite at all is no journal: journal.not_journal). */
const GARBLED_JOURNAL = `SQLite format 3\0${'this is not a journal, just text written over it\n'.repeat(200)}`;

const JOURNALS: Row[] = [
  {
    input: 'a journal that is garbage past its header: one line naming it and --restart',
    files: { 'in.csv': linkCsv(goodRows(2)), 'j.db': GARBLED_JOURNAL },
    argv: ['link', '--file', 'in.csv', '--journal', 'j.db'],
    exit: 2,
    says: /j\.db.*--restart/,
    mapper: 'unchanged',
  },
  {
    input: 'the same garbage journal with --restart: discarded, the run completes',
    files: { 'in.csv': linkCsv(goodRows(2)), 'j.db': GARBLED_JOURNAL },
    argv: ['link', '--file', 'in.csv', '--journal', 'j.db', '--restart'],
    exit: 0,
    says: /total +2 /,
    mapper: idsOf(2),
  },
  {
    input: 'a --journal path that is a folder',
    files: { 'in.csv': linkCsv(goodRows(2)) },
    before: (dir) => mkdirSync(join(dir, 'j.db')),
    argv: ['link', '--file', 'in.csv', '--journal', 'j.db'],
    exit: 2,
    says: /j\.db/,
    mapper: 'unchanged',
  },
];

const FLAGS: Row[] = [
  {
    input: '--batch-size 0 (link --file)',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    argv: ['link', '--file', 'in.csv', '--batch-size', '0'],
    exit: 2,
    says: /--batch-size/,
    mapper: 'unchanged',
  },
  {
    input: '--batch-size 0 (import-csv): the same code',
    files: { 'in.csv': enumCsv([enumRow(11)]) },
    argv: [...importArgs('in.csv'), '--batch-size', '0'],
    exit: 2,
    says: /\[usage\.invalid_argument\]: .*--batch-size/,
    mapper: 'unchanged',
  },
  {
    input: '--batch-size abc',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    argv: ['link', '--file', 'in.csv', '--batch-size', 'abc'],
    exit: 2,
    says: /--batch-size/,
    mapper: 'unchanged',
  },
  {
    input: '--concurrency 0',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    argv: ['link', '--file', 'in.csv', '--concurrency', '0'],
    exit: 2,
    says: /--concurrency/,
    mapper: 'unchanged',
  },
  {
    input: '--retries -1',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    argv: ['link', '--file', 'in.csv', '--retries', '-1'],
    exit: 2,
    says: /--retries/,
    mapper: 'unchanged',
  },
];

const VALUES: Row[] = [
  {
    input:
      'what a spreadsheet did to account numbers and IDs in a link --file CSV (scientific notation, formulas): rejected with their codes',
    files: {
      'in.csv': linkCsv([
        linkRow('X_1'),
        linkRow('X_2', '"2,77366E+14"'),
        linkRow('X_3', '"=""0012345678"""'),
        linkRow('X_4', '=0012345679'),
        linkRow('5.6E+11'),
      ]),
    },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: mapping\.spreadsheet_exponent 2, mapping\.spreadsheet_formula 2/,
    mapper: ['X_1'],
  },
  {
    input: 'a strategy id that does not exist in a row',
    files: { 'in.csv': linkCsv([linkRow('S_1'), linkRow('S_2').replace(',2,', ',9,')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.strategy 1/,
    mapper: ['S_1'],
  },
  {
    input: 'an FA type sparctl does not know in a row',
    files: { 'in.csv': linkCsv([linkRow('S_3'), linkRow('S_4').replace(',BANK,', ',CASH,')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\.invalid 1/,
    mapper: ['S_3'],
  },
  {
    input: 'an empty ID in a row',
    files: { 'in.csv': linkCsv([linkRow('S_5'), linkRow('')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: input\./,
    mapper: ['S_5'],
  },
  {
    input: 'JSONL: a mapper rejection keeps the record and the ID in a JSONL rejects file',
    files: { 'in.jsonl': `${JSONL_GOOD('BENE_0001')}\n${JSONL_GOOD('J_5')}\n` },
    argv: ['link', '--file', 'in.jsonl', '--rejects', 'r.jsonl'],
    exit: 5,
    says: /rjct\.reference_id\.duplicate 1/,
    mapper: ['J_5'],
    then: (dir) => {
      const lines = readFileSync(join(dir, 'r.jsonl'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1);
      const reject = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(reject).toMatchObject({
        id: 'BENE_0001',
        account_number: 'J-BENE_0001',
        sparctl_line: 1,
        sparctl_code: 'rjct.reference_id.duplicate',
      });
    },
  },
  {
    input: 'CSV: a mapper rejection keeps the whole input row in the rejects file',
    files: { 'in.csv': linkCsv([linkRow('BENE_0002', 'OTHER'), linkRow('S_6')]) },
    argv: ['link', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rjct\.reference_id\.duplicate 1/,
    mapper: ['S_6'],
    then: (dir) =>
      expect(readFileSync(join(dir, 'r.csv'), 'utf8')).toMatch(
        /^2,,rjct\.reference_id\.duplicate,[^\r\n]*,BENE_0002,Person BENE_0002,,BANK,2,Example Bank,EXB,Main,0001,OTHER,,,,\r?$/m,
      ),
  },
  {
    input: 'update --file of IDs that are not linked',
    files: { 'in.csv': linkCsv([linkRow('NEVER_1')]) },
    argv: ['update', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: rjct\./,
    mapper: 'unchanged',
  },
  {
    input: 'unlink --file of IDs that are not linked, and one that is',
    files: { 'in.csv': 'id\nNEVER_2\nBENE_0003\n' },
    argv: ['--yes', 'unlink', '--file', 'in.csv', '--rejects', 'r.csv'],
    exit: 5,
    says: /rejected by reason: rjct\./,
    mapper: ['BENE_0003'],
  },
];

const TARGETS: Row[] = [
  {
    input: '--db naming a CSV file: refused, the file byte-identical',
    files: { 'in.csv': linkCsv(goodRows(1)), 'other.csv': 'a,b\n1,2\n' },
    argv: ['--db', 'other.csv', 'link', '--file', 'in.csv'],
    exit: 2,
    says: /\[local\.not_a_mapper\]: .*other\.csv/,
    mapper: 'unchanged',
    then: (dir) => expect(readFileSync(join(dir, 'other.csv'), 'utf8')).toBe('a,b\n1,2\n'),
  },
  {
    input: '--db naming a file that does not exist, without --create',
    files: { 'in.csv': linkCsv(goodRows(1)) },
    argv: ['--db', 'typo.db', 'link', '--file', 'in.csv'],
    exit: 2,
    says: /\[local\.no_mapper\]: .*typo\.db/,
    mapper: 'unchanged',
    then: (dir) => expect(existsSync(join(dir, 'typo.db'))).toBe(false),
  },
];

const TABLE: Record<string, Row[]> = {
  'empty input': EMPTY,
  'pipes and FIFOs': PIPES,
  'encodings and line endings': ENCODING,
  'malformed structure': STRUCTURE,
  'huge cells': BIG,
  delimiters: DELIMITERS,
  'look-alike IDs': IDS,
  mappings: MAPPINGS,
  'output paths': OUTPUTS,
  'input paths': INPUTS,
  journals: JOURNALS,
  flags: FLAGS,
  'record values': VALUES,
  targets: TARGETS,
};

describe('the bad-input table', () => {
  it('has at least 80 rows', () => {
    expect(Object.values(TABLE).flat().length).toBeGreaterThanOrEqual(80);
  });
  for (const [group, rows] of Object.entries(TABLE))
    describe(group, () => {
      for (const row of rows) (row.skip ? it.skip : it)(`${row.input} → exit ${row.exit}`, () => play(row));
    });
});
