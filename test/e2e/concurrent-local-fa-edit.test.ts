/**
 * Two admins run `sparctl fa edit` on the same beneficiary of one local mapper file, each in its
 * own terminal (two real processes in pseudo-terminals), and confirm at the same instant. Before
 * the update was conditional on the FA read, both passed their re-read and both wrote: the second
 * silently replaced the first's change, every time.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalMapper } from '../../src/adapters/sqlite/local-mapper.js';
import { BIN, cliEnv } from '../helpers/run-cli.js';
import { bank } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';
import { pythonReport } from '../helpers/in-terminal.js';

const mappers: LocalMapper[] = [];
afterEach(async () => {
  for (const mapper of mappers.splice(0)) await mapper.close();
});

/**
 * Runs each command in its own pseudo-terminal. `steps` answer one terminal when its text
 * appears ([name, regex, keys]); ["together", keys] types keys into every terminal at once.
 * Prints {name: {code, transcript}} as JSON.
 */
const DRIVER = String.raw`
import fcntl, json, os, pty, re, select, struct, sys, termios, time
ANSI = re.compile(r'\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]')
spec = json.loads(sys.argv[1])
procs = {}
for name, argv in spec['procs'].items():
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, spec['env'])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
    procs[name] = {'pid': pid, 'fd': fd, 'raw': b'', 'pos': 0, 'alive': True}
def pump():
    for p in procs.values():
        if not p['alive']:
            continue
        ready, _, _ = select.select([p['fd']], [], [], 0.01)
        if not ready:
            continue
        try:
            chunk = os.read(p['fd'], 65536)
        except OSError:
            chunk = b''
        if chunk:
            p['raw'] += chunk
        else:
            p['alive'] = False
screen = lambda p: ANSI.sub('', p['raw'].decode('utf-8', 'replace'))
stuck = None
for step in spec['steps']:
    if step[0] == 'together':
        for p in procs.values():
            os.write(p['fd'], step[1].encode())
        continue
    name, expect, keys = step
    p = procs[name]
    deadline = time.time() + 20
    while True:
        pump()
        found = re.compile(expect).search(screen(p), p['pos'])
        if found:
            p['pos'] = found.end()
            break
        if time.time() > deadline:
            stuck = step
            break
    if stuck:
        break
    for key in keys:
        os.write(p['fd'], key.encode())
        time.sleep(0.02)
deadline = time.time() + 20
while any(p['alive'] for p in procs.values()) and time.time() < deadline:
    pump()
out = {'stuck': stuck}
for name, p in procs.items():
    if p['alive']:
        os.kill(p['pid'], 9)
    _, status = os.waitpid(p['pid'], 0)
    out[name] = {'code': os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status), 'transcript': screen(p)}
print(json.dumps(out))
`;

interface Ran {
  readonly stuck: unknown;
  readonly [name: string]: unknown;
}

function terminals(spec: { procs: Record<string, string[]>; steps: unknown[]; env: Record<string, string> }): Promise<Ran> {
  return pythonReport<Ran>(['-c', DRIVER, JSON.stringify(spec)], {}, 'terminal driver');
}

const ENTER = '\r';

describe('two fa edit sessions on one local mapper', () => {
  it('confirmed at the same instant: one updates, the other says fa.changed (exit 5) and writes nothing', async () => {
    const db = join(tempDir(), 'mapper.db');
    const mapper = LocalMapper.open(db);
    mappers.push(mapper);
    await mapper.link([{ reference_id: 'r', id: 'B1', fa: bank('0012345678') }], { source: 'test' });
    const { env } = cliEnv();
    // Three rounds: the race is the point, and one round could be won by luck.
    for (const round of [1, 2, 3]) {
      const session = (account: string) => [
        ...[
          ['FA type', [ENTER]],
          ['Bank code', [ENTER]],
          ['Bank name', [ENTER]],
          ['Branch code', [ENTER]],
          ['Branch name', [ENTER]],
        ],
        ['Account number', [...Array<string>(12).fill('\x7f'), account, ENTER]],
        ['Update the financial address of B1', ['y']],
      ];
      const steps: unknown[] = [];
      const a = session(`${round}11111`);
      const b = session(`${round}22222`);
      // Both answer question by question, side by side; then Enter in both terminals at once.
      for (let i = 0; i < a.length; i++) steps.push(['A', ...a[i]!], ['B', ...b[i]!]);
      steps.push(['together', ENTER]);
      const command = [process.execPath, BIN, '--db', db, 'fa', 'edit', 'B1'];
      const ran = await terminals({ procs: { A: command, B: command }, steps, env });
      expect(ran.stuck, JSON.stringify(ran)).toBeNull();
      const sessions = [ran['A'], ran['B']] as { code: number; transcript: string }[];
      const won = sessions.filter((s) => s.code === 0);
      const lost = sessions.filter((s) => s.code === 5);
      expect(won, JSON.stringify(sessions)).toHaveLength(1);
      expect(lost, JSON.stringify(sessions)).toHaveLength(1);
      expect(won[0]!.transcript).toContain('updated B1');
      expect(lost[0]!.transcript).toMatch(
        /sparctl: error \[fa\.changed\]: B1's financial address changed in local .* while you edited it; nothing was changed/,
      );
      // The mapper holds the winner's account, written once.
      const winner = won[0] === sessions[0] ? `${round}11111` : `${round}22222`;
      expect(mapper.storedFa('B1')).toMatch(new RegExp(`^account_number:${winner}\\.`));
    }
    expect(mapper.auditRows('B1').filter((row) => row.source.startsWith('sparctl fa edit'))).toHaveLength(3);
  }, 120_000);
});
