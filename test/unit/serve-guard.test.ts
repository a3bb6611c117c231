import { describe, expect, it } from 'vitest';
import { bearerCheck, bearerTokenProblem, isLoopbackHost } from '../../src/adapters/server/guard.js';
import { warnIfInTheClear } from '../../src/cli/context.js';
import type { Io } from '../../src/cli/io.js';

describe('isLoopbackHost: what serve may listen on without authentication and TLS', () => {
  it('takes 127.0.0.0/8, ::1 in any spelling, IPv4-mapped loopback and the name localhost', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '::1',
      '0:0:0:0:0:0:0:1',
      '0000::0001',
      '[::1]',
      '::1%lo',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      'localhost',
      'LOCALHOST',
      'localhost.',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
  });

  it('counts everything else as reachable from other machines, names included', () => {
    for (const host of [
      '0.0.0.0', // every interface
      '::',
      '',
      '::0',
      '192.168.1.10',
      '10.0.0.1',
      '128.0.0.1',
      '126.255.255.255',
      '::ffff:10.0.0.1',
      '::127.0.0.1', // IPv4-compatible, not loopback
      'fe80::1%lo',
      '127.1', // not an address: a name for the resolver
      '127.0.0.1.nip.io',
      'localhost.example.org',
      'my-laptop',
      'localhost:8000',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe('the bearer token', () => {
  it('accepts exactly "Bearer <token>" (scheme in any case), nothing else', () => {
    const check = bearerCheck('s3cret-token-0123456789');
    expect(check('Bearer s3cret-token-0123456789')).toBe(true);
    expect(check('bearer s3cret-token-0123456789')).toBe(true);
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Bearer s3cret-token-012345678',
      'Bearer s3cret-token-01234567890',
      'Basic s3cret-token-0123456789',
      's3cret-token-0123456789',
      'Bearer s3cret-token-0123456789 extra',
    ]) {
      expect(check(header), String(header)).toBe(false);
    }
  });

  it('refuses a token file that is empty, short or not header-safe; says so without the token', () => {
    expect(bearerTokenProblem('')).toBe('is empty');
    expect(bearerTokenProblem('short')).toMatch(/at least 16/);
    expect(bearerTokenProblem('two words here, long enough')).toMatch(/spaces/);
    expect(bearerTokenProblem('0123456789abcdef0123456789abcdef')).toBeUndefined();
    expect(bearerTokenProblem('short')).not.toContain('short');
  });
});

describe('warnIfInTheClear: a secret about to go to another machine over plain http', () => {
  const said = () => {
    const lines: string[] = [];
    const io = { stderr: { write: (text: string) => void lines.push(text) } } as unknown as Io;
    return { io, lines };
  };
  it('warns once per secret and host, for another machine over http only', () => {
    const { io, lines } = said();
    warnIfInTheClear(io, 'http://spar.example.org/api/mapper', 'the bearer token', isLoopbackHost);
    warnIfInTheClear(io, 'http://spar.example.org/api/mapper', 'the bearer token', isLoopbackHost);
    expect(lines).toEqual([
      'sparctl: warning: sending the bearer token to spar.example.org over plain http, unencrypted: anyone on the network path can read it and use it; use https unless the address is inside a private network\n',
    ]);
    // A URL's own user and password are a secret too; https, loopback or nothing sent: no warning.
    warnIfInTheClear(io, 'http://u:p@10.0.0.5:8000/', undefined, isLoopbackHost);
    expect(lines[1]).toMatch(/^sparctl: warning: sending the user and password in the URL to 10\.0\.0\.5:8000 over plain http/);
    for (const [url, what] of [
      ['https://spar.example.org/api/mapper', 'the bearer token'],
      ['http://127.0.0.1:8000/', 'the bearer token'],
      ['http://[::1]:8000/', 'the bearer token'],
      ['http://localhost:8000/', 'the OAuth2 client secret'],
      ['http://spar.example.org/api/mapper', undefined],
      ['not a url', 'the bearer token'],
    ] as const)
      warnIfInTheClear(io, url, what, isLoopbackHost);
    expect(lines).toHaveLength(2);
  });
});
