import { describe, expect, it } from 'vitest';
import { PROFILE_FIELDS, fastConfigFile, fastProfile, settingsSchemas } from '../../src/config/settings.js';

/**
 * The settings' fast checks (config/settings.ts) may only say yes where the zod schema says yes
 * and gives back the same data in the same key order: random profiles and config files, built
 * from values at and around every field's limits, compared with zod's answer.
 */

const VALUES: readonly unknown[] = [
  'local',
  'remote',
  'spar-v2',
  'json',
  'table',
  'poll',
  'callback',
  'auto',
  '',
  ' ',
  'x',
  'partner_1.a-b',
  'a b',
  'x'.repeat(64),
  'x'.repeat(65),
  'http://127.0.0.1:8080/mapper',
  'https://user:pw@spar.example.org/api',
  'ftp://example.org',
  'not a url',
  'http://',
  0,
  1,
  2,
  1.5,
  -1,
  64,
  65,
  10_000,
  10_001,
  600_000,
  600_001,
  3_600_000,
  2_147_483_647,
  2_147_483_648,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  true,
  false,
  'true',
  null,
  undefined,
  [],
  [{ id: 7 }],
  {},
  { link: '/x' },
  { link: '' },
];

function randomOf(next: () => number): <T>(list: readonly T[]) => T {
  return (list) => list[Math.floor(next() * list.length)]!;
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const KEYS = PROFILE_FIELDS.map(([key]) => key as string);

function randomProfile(next: () => number): Record<string, unknown> {
  const pick = randomOf(next);
  const profile: Record<string, unknown> = {};
  const count = Math.floor(next() * 6);
  for (let i = 0; i < count; i++) profile[next() < 0.03 ? 'unknownField' : pick(KEYS)] = pick(VALUES);
  return profile;
}

describe('settings fast checks', () => {
  it('list the schema fields in its order', () => {
    expect(KEYS).toEqual(Object.keys(settingsSchemas().profile.shape));
  });

  it('accept a profile only as zod would, and give back what zod gives, key order included', () => {
    const next = seeded(20261206);
    let fast = 0;
    let valid = 0;
    for (let i = 0; i < 6_000; i++) {
      const profile = randomProfile(next);
      const zod = settingsSchemas().profile.safeParse(profile);
      const quick = fastProfile(profile);
      if (zod.success) valid++;
      if (quick === undefined) continue;
      fast++;
      expect(zod.success, JSON.stringify(profile)).toBe(true);
      expect(JSON.stringify(quick)).toBe(JSON.stringify(zod.data));
      expect(quick).toEqual(zod.data);
    }
    // The fast path must carry the ordinary case, or every command loads zod again.
    expect(fast).toBeGreaterThan(valid * 0.8);
  });

  it('accept a config file only as zod would, and give back what zod gives', () => {
    const next = seeded(7);
    const pick = randomOf(next);
    let fast = 0;
    let valid = 0;
    for (let i = 0; i < 5_000; i++) {
      const file: Record<string, unknown> = {};
      if (next() < 0.5) file['defaultProfile'] = pick(['prod', '', 7, 'local']);
      if (next() < 0.9) {
        const profiles: Record<string, unknown> = {};
        for (let j = Math.floor(next() * 3); j > 0; j--) profiles[pick(['prod', 'local', 'a b', 'x.y-z_1', ''])] = randomProfile(next);
        file['profiles'] = next() < 0.05 ? [] : profiles;
      }
      if (next() < 0.03) file['extra'] = 1;
      const zod = settingsSchemas().configFile.safeParse(file);
      const quick = fastConfigFile(file);
      if (zod.success) valid++;
      if (quick === undefined) continue;
      fast++;
      expect(zod.success, JSON.stringify(file)).toBe(true);
      expect(JSON.stringify(quick)).toBe(JSON.stringify(zod.data));
    }
    expect(fast).toBeGreaterThan(valid * 0.6);
  });
});
