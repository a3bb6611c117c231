import { SparctlError, UnavailableError } from '../core/errors.js';
import type { Mapper } from '../core/mapper.js';

/**
 * `ping`'s use case: is the mapper reachable, does it answer a read in its protocol? One attempt
 * is a list of checks; with a wait, attempts repeat while the mapper is unavailable. Invariant:
 * the result holds the checks of the last attempt only, and a failure ends them with its error.
 */

export interface PingCheck {
  readonly check: 'open' | 'reachable' | 'resolve';
  readonly ok: boolean;
  readonly detail: string;
  readonly ms?: number;
}

export interface PingDeps {
  /** "local PATH" or "remote PROTOCOL URL", credentials masked. */
  readonly where: string;
  /** "local", or the remote protocol: "spar-v2". */
  readonly protocol: string;
  /** How requests are signed: "" (local), ", unsigned", ', signed as partner "x"'. */
  readonly signing: string;
  /** A fresh ID for the probe: made up, so the read finds nothing and writes nothing. */
  readonly uniqueId: () => string;
  readonly openMapper: () => Promise<Mapper>;
  /** GET {baseUrl}/ping on a remote mapper; absent for a local one. */
  readonly pingEndpoint?: (mapper: Mapper) => Promise<{ url: string; status: number; body: string }>;
  readonly clock: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** A line for the person running it (stderr), e.g. that it is waiting. */
  readonly note: (line: string) => void;
}

export interface PingResult {
  readonly ok: boolean;
  readonly checks: readonly PingCheck[];
  /** Why the last attempt stopped, when it did; the checks before it are in `checks`. */
  readonly error?: SparctlError;
}

export async function ping(deps: PingDeps, input: { readonly waitSeconds?: number }): Promise<PingResult> {
  const deadline = deps.clock() + (input.waitSeconds ?? 0) * 1000;
  for (let attempt = 1; ; attempt++) {
    const result = await attemptPing(deps);
    const waitMs = deadline - deps.clock();
    if (!(result.error instanceof UnavailableError) || waitMs <= 0) return result;
    // Starting mappers refuse connections for a while: say so once, then try every second.
    if (attempt === 1) deps.note(`waiting up to ${input.waitSeconds} s for the mapper (${result.error.message})`);
    await deps.sleep(Math.min(1000, waitMs));
  }
}

async function attemptPing(deps: PingDeps): Promise<PingResult> {
  const checks: PingCheck[] = [];
  const failed = (check: PingCheck['check'], error: unknown, detail: (message: string) => string): PingResult => {
    if (!(error instanceof SparctlError)) throw error; // a bug, not an answer
    checks.push({ check, ok: false, detail: detail(error.message) });
    return { ok: false, checks, error };
  };
  const timed = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
    const started = deps.clock();
    const value = await run();
    return [value, Math.round(deps.clock() - started)];
  };
  let mapper: Mapper;
  try {
    mapper = await deps.openMapper();
  } catch (error) {
    return failed('open', error, (message) => `${deps.where}: ${message}`);
  }
  try {
    if (deps.pingEndpoint) {
      let answer: { url: string; status: number; body: string };
      let ms: number;
      try {
        [answer, ms] = await timed(() => deps.pingEndpoint!(mapper));
      } catch (error) {
        return failed('reachable', error, (message) => message);
      }
      const pong = answer.status === 200 && /^"?pong"?$/.test(answer.body.trim());
      // A 200 that is not SPAR's "pong" is some other server (a gateway's default page, a proxy): say so.
      const said = pong ? ' "pong"' : answer.status === 200 ? ', but not SPAR\'s "pong" (another server answers at this URL?)' : '';
      checks.push({ check: 'reachable', ok: pong, detail: `GET ${answer.url} → HTTP ${answer.status}${said}`, ms });
    }
    let results: Awaited<ReturnType<Mapper['resolve']>>;
    let ms: number;
    try {
      [results, ms] = await timed(() =>
        mapper.resolve([{ reference_id: 'ping', id: `sparctl-ping-${deps.uniqueId()}`, scope: 'yes_no' }], { source: 'sparctl ping' }),
      );
    } catch (error) {
      return failed('resolve', error, (message) => message);
    }
    const answered = results.length === 1 && results[0]!.status_reason_code !== null;
    checks.push({
      check: 'resolve',
      ok: answered,
      detail: `${deps.protocol} mapper answered${deps.signing}: ${results[0]?.status_reason_code ?? 'no result'} — ${mapper.target}`,
      ms,
    });
    return { ok: checks.every((check) => check.ok), checks };
  } finally {
    await mapper.close();
  }
}
