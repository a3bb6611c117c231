import { describe, expect, it } from 'vitest';
import { bearerCheck, bearerTokenProblem, isLoopbackHost } from '../../src/adapters/server/guard.js';

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
