import { ConfigError } from '../core/errors.js';
import type { DfspData } from '../core/mapping.js';
import type { CommandContext } from './context.js';

/**
 * The DFSP data of the current target: the local mapper's tables, or the bene-portal API named
 * by dfspUrl for a remote profile. Undefined when there is none and it is not required.
 */
export async function loadDfsp(context: CommandContext, options: { required: boolean }): Promise<DfspData | undefined> {
  const { settings } = context.resolved;
  if (settings.mode === 'local') {
    // No mapper yet (none there, or an empty file): no DFSP data, and nothing is created to say
    // so. Whether the command may use or make a mapper there is the command's to say, not this
    // look-up's (`import-csv --db new.db --create` reads no DFSP data before it makes one).
    const { statSync } = await import('node:fs');
    const found = statSync(settings.db!, { throwIfNoEntry: false });
    if (found === undefined || (found.isFile() && found.size === 0))
      return options.required ? { banks: [], branches: [], wallet_providers: [] } : undefined;
    // Read-only: a dry run's look-up (import-csv --dry-run) must not upgrade or touch the file.
    const { DfspStore } = await import('../adapters/sqlite/dfsp-store.js');
    const data = DfspStore.readTables(settings.db!);
    const empty = data.banks.length + data.branches.length + data.wallet_providers.length === 0;
    return empty && !options.required ? undefined : data;
  }
  if (settings.dfspUrl === undefined) {
    if (!options.required) return undefined;
    // A profile's dfspUrl goes with its target: when a flag or variable named the mapper, only SPARCTL_DFSP_URL applies.
    const { target } = context.resolved;
    const byProfile = target.source.startsWith('profile ');
    throw new ConfigError(
      'dfsp.no_url',
      `${byProfile ? `profile "${settings.profile}" is remote but` : `the remote mapper (${target.source})`} has no dfspUrl to read banks and wallet providers from`,
      {
        hint: byProfile
          ? 'add "dfspUrl" (the bene-portal API base, e.g. https://spar.example.org/api/bene-portal) to the profile, or set SPARCTL_DFSP_URL'
          : "set SPARCTL_DFSP_URL (the bene-portal API base, e.g. https://spar.example.org/api/bene-portal); a profile's dfspUrl applies only when the profile names the mapper",
      },
    );
  }
  const { fetchDfsp } = await import('../adapters/http/dfsp-client.js');
  return fetchDfsp(settings.dfspUrl, {
    sender: settings.senderAppMnemonic,
    timeoutMs: settings.timeoutMs,
    caFile: settings.caFile,
    insecure: settings.insecure,
  });
}
