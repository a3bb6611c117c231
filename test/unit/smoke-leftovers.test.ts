import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { smokeLeftoversIn } from '../../src/adapters/files/smoke-leftovers.js';
import { smokeNotesKey } from '../../src/cli/compose/smoke.js';
import { tempDir } from '../helpers/tmp.js';

const A = 'sparctl-smoke-20260101T000000000Z-0000000a';
const B = 'sparctl-smoke-20260101T000000001Z-0000000b';
const C = 'sparctl-smoke-20260101T000000002Z-0000000c';
/** A minute after these IDs were made: no note is a day old. */
const SOON = () => Date.parse('2026-01-01T00:01:00.000Z');

/** The one folder the notes of a target went to. */
function folderOf(state: string): string {
  const [folder, ...others] = readdirSync(join(state, 'smoke'));
  expect(others).toEqual([]);
  return join(state, 'smoke', folder!);
}

describe('smoke leftovers (files in the state folder)', () => {
  it("notes an ID in a folder named by the target's hash, holding this process's lock line; never offers this run's own", () => {
    const state = tempDir();
    const notes = smokeLeftoversIn(state, 'spar-v2 https://spar.example.org/mapper?key=***', SOON);
    notes.add(A);
    const folder = folderOf(state);
    expect(folder).toMatch(/smoke\/[0-9a-f]{32}$/);
    expect(readFileSync(join(folder, A), 'utf8')).toMatch(new RegExp(`^${process.pid} ${hostname()} `));
    expect(notes.left()).toEqual([]);
    // Another instance in this same process (a later run would be another process): still held.
    expect(smokeLeftoversIn(state, 'spar-v2 https://spar.example.org/mapper?key=***', SOON).left()).toEqual([]);
    notes.remove(A);
    expect(existsSync(join(folder, A))).toBe(false);
  });

  it('offers the IDs of runs that no longer run, oldest first; not those of a live run, nor files of other names', () => {
    const state = tempDir();
    const notes = smokeLeftoversIn(state, 'local /data/mapper.db', SOON);
    notes.add(C);
    const folder = folderOf(state);
    // A pid no process has (beyond the kernel's limit), and the parent of this test: alive.
    writeFileSync(join(folder, B), `4194305 ${hostname()} 00000000-0000-0000-0000-000000000000\n`);
    writeFileSync(join(folder, A), `4194306 ${hostname()} 00000000-0000-0000-0000-000000000001\n`);
    writeFileSync(
      join(folder, 'sparctl-smoke-20260101T000000003Z-0000000d'),
      `${process.ppid} ${hostname()} 00000000-0000-0000-0000-000000000002\n`,
    );
    writeFileSync(join(folder, 'someone-else'), `4194307 ${hostname()} 00000000-0000-0000-0000-000000000003\n`);
    expect(notes.left()).toEqual([A, B]);
    // Another target's notes are its own.
    expect(smokeLeftoversIn(state, 'local /data/other.db', SOON).left()).toEqual([]);
  });

  it("a note whose writer cannot be judged (another host, another container's pid namespace) is offered once its ID is a day old", () => {
    const state = tempDir();
    let now = Date.parse('2026-01-02T00:00:00.001Z');
    const notes = smokeLeftoversIn(state, 'spar-v2 https://spar.example.org', () => now);
    notes.add(C);
    notes.remove(C);
    const folder = folderOf(state);
    writeFileSync(join(folder, A), 'ci-runner-7 4711 00000000-0000-0000-0000-000000000000\n');
    writeFileSync(join(folder, B), `${process.ppid} ${hostname()} 00000000-0000-0000-0000-000000000001 pid:[1]\n`);
    // A started 2026-01-01T00:00:00.000Z, B a millisecond later: exactly a day on is not yet past it.
    now = Date.parse('2026-01-02T00:00:00.000Z');
    expect(notes.left()).toEqual([]);
    now = Date.parse('2026-01-02T00:00:00.001Z');
    expect(notes.left()).toEqual([A]);
    now = Date.parse('2026-01-03T00:00:00.000Z');
    expect(notes.left()).toEqual([A, B]);
  });

  it("notes are filed by the mapper's whole address: two tenants apart, though the shown target masks their query values", () => {
    const remote = (baseUrl: string) => smokeNotesKey({ mode: 'remote', protocol: 'spar-v2', baseUrl, db: undefined });
    expect(remote('https://gw.example.org/mapper?tenant=alpha')).not.toBe(remote('https://gw.example.org/mapper?tenant=beta'));
    expect(remote('https://gw.example.org/mapper')).toBe(remote('https://gw.example.org/mapper'));
    expect(smokeNotesKey({ mode: 'remote', protocol: 'g2p-connect', baseUrl: 'https://gw.example.org/mapper', db: undefined })).not.toBe(
      remote('https://gw.example.org/mapper'),
    );
    expect(smokeNotesKey({ mode: 'local', protocol: 'spar-v2', baseUrl: undefined, db: '/data/a.db' })).toBe('local /data/a.db');
    const state = tempDir();
    smokeLeftoversIn(state, remote('https://gw.example.org/mapper?tenant=alpha')).add(A);
    expect(smokeLeftoversIn(state, remote('https://gw.example.org/mapper?tenant=beta')).left()).toEqual([]);
  });

  it('passes over what is not a small file of its own under an ID-like name (a folder, a pipe, a link to a device, a partial note)', () => {
    const state = tempDir();
    const notes = smokeLeftoversIn(state, 'local /data/mapper.db', SOON);
    notes.add(C);
    notes.remove(C);
    const folder = folderOf(state);
    mkdirSync(join(folder, A));
    execFileSync('mkfifo', [join(folder, B)]);
    symlinkSync('/dev/zero', join(folder, 'sparctl-smoke-20260101T000000003Z-0000000d'));
    writeFileSync(join(folder, 'sparctl-smoke-20260101T000000004Z-0000000e'), 'x'.repeat(5000));
    writeFileSync(join(folder, `.${C}.4194305.partial`), '');
    // A stale note beside them is still offered.
    const stale = 'sparctl-smoke-20260101T000000005Z-0000000f';
    writeFileSync(join(folder, stale), `4194305 ${hostname()} 00000000-0000-0000-0000-000000000000\n`);
    expect(notes.left()).toEqual([stale]);
  });

  it('a note is written whole or not at all, and a failure names the folder and the reason', () => {
    const state = tempDir();
    const notes = smokeLeftoversIn(state, 'local /data/mapper.db', SOON);
    notes.add(A);
    const folder = folderOf(state);
    expect(readdirSync(folder)).toEqual([A]);
    chmodSync(folder, 0o500);
    try {
      // Root passes every permission check: only an unprivileged user meets the refusal.
      if (process.getuid?.() !== 0) {
        expect(() => notes.add(B)).toThrow(`${folder}: permission denied`);
        expect(readdirSync(folder)).toEqual([A]);
      }
    } finally {
      chmodSync(folder, 0o700);
    }
  });

  it('a state folder that cannot be made: add throws (the caller warns); left and remove stay quiet', () => {
    const state = tempDir();
    writeFileSync(join(state, 'smoke'), 'a file where the folder would be');
    const notes = smokeLeftoversIn(state, 'local /x.db');
    expect(() => notes.add(A)).toThrow(`${join(state, 'smoke')}`);
    expect(notes.left()).toEqual([]);
    expect(() => notes.remove(A)).not.toThrow();
  });
});
