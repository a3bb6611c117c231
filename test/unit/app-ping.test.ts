import { describe, expect, it } from 'vitest';
import { ping, type PingDeps } from '../../src/app/ping.js';
import { ConfigError, UnavailableError } from '../../src/core/errors.js';
import type { Mapper } from '../../src/core/mapper.js';

/** A fake whose every member throws unless the test gave it: a call the use case should not make fails the test. */
function strict<T extends object>(name: string, given: Partial<T>, optional: readonly (keyof T)[] = []): T {
  return new Proxy(given as T, {
    get(target, key) {
      if (key in target) return (target as Record<PropertyKey, unknown>)[key];
      if ((optional as readonly PropertyKey[]).includes(key)) return undefined; // an optional member left out
      if (key === 'then') return undefined; // not a promise
      throw new Error(`unexpected call: ${name}.${String(key)}`);
    },
  });
}

const answered = (code: string | null): Mapper =>
  strict<Mapper>('mapper', {
    target: 'fake',
    resolve: async (items) =>
      items.map(
        (item) =>
          ({
            reference_id: item.reference_id,
            id: item.id,
            status: 'succ',
            status_reason_code: code,
            status_reason_message: null,
          }) as never,
      ),
    close: async () => undefined,
  });

/** Deps with a clock that moves only when the use case sleeps, and notes collected. */
function deps(overrides: Partial<PingDeps>): PingDeps & { notes: string[]; slept: number[] } {
  let now = 0;
  const notes: string[] = [];
  const slept: number[] = [];
  const base: PingDeps = {
    where: 'remote spar-v2 http://x',
    protocol: 'spar-v2',
    signing: ', unsigned',
    uniqueId: () => 'u1',
    openMapper: async () => answered('succ.fa.not_linked_to_id'),
    clock: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    note: (line) => notes.push(line),
  };
  return Object.assign(strict<PingDeps>('deps', { ...base, ...overrides }, ['pingEndpoint']), { notes, slept });
}

describe('ping (use case)', () => {
  it('local: one resolve check; no /ping, no sleep, nothing said', async () => {
    const d = deps({ protocol: 'local', signing: '', sleep: async () => expect.fail('slept') });
    const result = await ping(d, {});
    expect(result).toEqual({
      ok: true,
      checks: [{ check: 'resolve', ok: true, detail: 'local mapper answered: succ.fa.not_linked_to_id — fake', ms: 0 }],
    });
    expect(d.notes).toEqual([]);
  });

  it('remote: reachable, then resolve; a resolve answered without a code is not ok', async () => {
    const d = deps({
      openMapper: async () => answered(null),
      pingEndpoint: async () => ({ url: 'http://x/ping', status: 200, body: '"pong"' }),
    });
    const result = await ping(d, {});
    expect(result.ok).toBe(false);
    expect(result.checks.map((c) => [c.check, c.ok, c.detail])).toEqual([
      ['reachable', true, 'GET http://x/ping → HTTP 200 "pong"'],
      ['resolve', false, 'spar-v2 mapper answered, unsigned: no result — fake'],
    ]);
    expect(result.error).toBeUndefined();
  });

  it('a 200 that is not "pong" is another server: not ok, and said so', async () => {
    const d = deps({ pingEndpoint: async () => ({ url: 'http://x/ping', status: 200, body: '<html>Welcome to nginx</html>' }) });
    const result = await ping(d, {});
    expect(result.checks[0]).toMatchObject({
      check: 'reachable',
      ok: false,
      detail: 'GET http://x/ping → HTTP 200, but not SPAR\'s "pong" (another server answers at this URL?)',
    });
  });

  it('a failure ends the attempt with its error, after the checks before it', async () => {
    const refused = new UnavailableError('remote.refused', 'connection refused');
    const result = await ping(deps({ pingEndpoint: async () => Promise.reject(refused) }), {});
    expect(result).toEqual({ ok: false, checks: [{ check: 'reachable', ok: false, detail: 'connection refused' }], error: refused });
  });

  it('--wait: tries every second while unavailable, says so once, and returns the last attempt only', async () => {
    let calls = 0;
    const d = deps({
      pingEndpoint: async () => {
        calls++;
        if (calls < 4) throw new UnavailableError('remote.refused', 'connection refused');
        return { url: 'http://x/ping', status: 200, body: 'pong' };
      },
    });
    const result = await ping(d, { waitSeconds: 10 });
    expect(result.ok).toBe(true);
    expect(result.checks.map((c) => c.check)).toEqual(['reachable', 'resolve']);
    expect(d.slept).toEqual([1000, 1000, 1000]);
    expect(d.notes).toEqual(['waiting up to 10 s for the mapper (connection refused)']);
  });

  it('--wait gives up when the time is up, and never waits on a configuration error', async () => {
    const down = deps({ pingEndpoint: async () => Promise.reject(new UnavailableError('remote.refused', 'connection refused')) });
    const late = await ping(down, { waitSeconds: 2.5 });
    expect(late.error?.code).toBe('remote.refused');
    expect(down.slept).toEqual([1000, 1000, 500]);
    const wrong = deps({
      pingEndpoint: async () => Promise.reject(new ConfigError('remote.wrong_url', 'HTTP 404')),
      sleep: async () => expect.fail('slept'),
    });
    expect((await ping(wrong, { waitSeconds: 60 })).error?.code).toBe('remote.wrong_url');
  });

  it('a bug is thrown, not reported as a check', async () => {
    const broken = deps({ openMapper: async () => Promise.reject(new TypeError('x is undefined')) });
    await expect(ping(broken, {})).rejects.toThrow(TypeError);
  });
});
