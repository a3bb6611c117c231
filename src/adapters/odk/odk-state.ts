import { readFileSync, rmSync } from 'node:fs';
import { replaceDurably } from '../files/durable-file.js';
import { duringRunError, makeFolders } from '../files/fs-errors.js';
import { dirname } from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { Claim } from '../../core/odk-claims.js';

/**
 * What sparctl remembers of one ODK form imported into one mapper: the watermark (the newest
 * Central stamp of a finished window) and, per submission, its claim (core/odk-claims.ts): the
 * content last considered, its review state, the beneficiary it names, and what the importer
 * wrote from it — a digest of the FA it wrote, and, when that write updated a link someone else
 * made, the FA it replaced with the name and phone held with it (which an undo puts back: so the
 * file, 0600, may hold FAs, names and phone numbers; name and phone absent from older states:
 * not put back); the writes it left on IDs the submission no longer names (`left`, absent from
 * older states, which load as they were: a claim without it left none); whether its review
 * state kept it from claiming under the policies of the run that planned it (`skipped`, absent
 * from older states: the run's policies stand in); and the fingerprint of the window settled
 * last (`settledJournal`: a journal of it a kill left behind is taken over, not refused). Written
 * whole to a temporary file and renamed, so a kill leaves the old state or the new one, never
 * half of one, and synced, so a power cut does not either.
 */
export interface OdkState {
  readonly watermark?: string;
  readonly claims: Readonly<Record<string, Claim>>;
  /** The fingerprint of the window settled last (its journal's; absent from older states). */
  readonly settledJournal?: string;
}

/** Format 2: claims. Format 1 (seen versions and linked IDs) is read as claims that wrote nothing. */
const FORMAT = 2;

export function readOdkState(path: string): OdkState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { claims: {} };
    throw new ConfigError('odk.state_unreadable', `cannot read the import state ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as {
      format?: number;
      watermark?: unknown;
      claims?: Record<string, Claim>;
      settledJournal?: unknown;
      seen?: Record<string, string>;
      ids?: Record<string, string>;
    };
    const watermark = typeof parsed.watermark === 'string' ? { watermark: parsed.watermark } : {};
    if (parsed.format === FORMAT)
      return {
        ...watermark,
        claims: parsed.claims ?? {},
        ...(typeof parsed.settledJournal === 'string' ? { settledJournal: parsed.settledJournal } : {}),
      };
    // An earlier sparctl kept "kind stamp instance" per submission and the ID it named, but not
    // whether it wrote it (it recorded rejected submissions too): no write is assumed, so
    // nothing is ever undone on that state's word.
    const claims: Record<string, Claim> = {};
    for (const [id, version] of Object.entries(parsed.seen ?? {})) {
      const [kind, stamp, instance] = version.split(' ');
      const beneficiary = parsed.ids?.[id];
      claims[id] = {
        instance: instance ?? id,
        date: stamp ?? '1970-01-01T00:00:00.000Z',
        review: 'received',
        deleted: kind === 'delete',
        ...(beneficiary === undefined ? {} : { beneficiary }),
      };
    }
    return { ...watermark, claims };
  } catch {
    throw new ConfigError('odk.state_unreadable', `the import state ${path} is damaged`, {
      hint: 'move it away to start over (the next run reads every submission; what it would write again is found unchanged)',
    });
  }
}

export function writeOdkState(path: string, state: OdkState): void {
  writeWhole(path, JSON.stringify({ format: FORMAT, ...state }), 'cannot write the import state');
}

/**
 * A file of import-odk's own (its state folder, its session cache) written whole or not at all
 * (0600): a copy renamed into place. A copy cut short by a full disk is removed — it would keep
 * the disk full, and holds beneficiaries' IDs or session tokens. `what` says, for the error, what
 * could not be done.
 */
export function writeWhole(path: string, text: string, what: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    makeFolders(dirname(path));
    // Synced before and after its rename: after a power cut an empty or older state would forget
    // what the importer wrote, and so what an undo of it must put back.
    replaceDurably(temporary, path, text, 0o600);
  } catch (error) {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Not removable either: the write's error says where the folder is.
    }
    throw duringRunError(path, what, error);
  }
}
