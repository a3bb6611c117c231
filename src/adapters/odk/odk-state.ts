import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../../core/errors.js';

/**
 * What sparctl remembers of one ODK form imported into one mapper: the watermark (the newest
 * Central stamp of a finished window) and the version of every submission applied, so the
 * overlap of the next window is not applied twice. Written whole to a temporary file and
 * renamed, so a kill leaves the old state or the new one, never half of one.
 */
export interface OdkState {
  readonly watermark?: string;
  /** `__id` → version (kind, stamp, instance id) last applied. */
  readonly seen: Record<string, string>;
  /** `__id` → the beneficiary ID its last applied state linked (absent once deleted). */
  readonly ids?: Record<string, string>;
}

export function readOdkState(path: string): OdkState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { seen: {} };
    throw new ConfigError('odk.state_unreadable', `cannot read the import state ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<OdkState>;
    return { ...(typeof parsed.watermark === 'string' ? { watermark: parsed.watermark } : {}), seen: parsed.seen ?? {}, ids: parsed.ids ?? {} };
  } catch {
    throw new ConfigError('odk.state_unreadable', `the import state ${path} is damaged`, {
      hint: 'move it away to start over (the next run reads every submission; upsert skips what is already applied)',
    });
  }
}

export function writeOdkState(path: string, state: OdkState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
  renameSync(temporary, path);
}
