import { randomUUID } from 'node:crypto';
import type { PingDeps } from '../../app/ping.js';
import type { Mapper } from '../../core/mapper.js';
import { redactUrl } from '../../config/redact.js';
import { openMapper, targetWhere, type CommandContext } from '../context.js';

/**
 * The composition root, one file per use case: what a use case in src/app needs, built from a
 * command's context (settings, the mapper they name, the clock, the terminal).
 */
/** What the ping use case needs, from this command's settings: the composition of app/ping.ts. */
export function pingDeps(context: CommandContext): PingDeps {
  const { settings } = context.resolved;
  const remote = settings.mode === 'remote';
  return {
    where: targetWhere(context),
    protocol: remote ? settings.protocol : 'local',
    signing: remote ? (settings.signingKeyFile ? `, signed as partner "${settings.senderAppMnemonic}"` : ', unsigned') : '',
    uniqueId: () => randomUUID(),
    openMapper: () => openMapper(context, 'read'),
    ...(remote
      ? {
          pingEndpoint: async (mapper: Mapper) => {
            const http = mapper as import('../../adapters/http/http-mapper.js').HttpMapper;
            const answer = await http.ping();
            return { url: redactUrl(http.urlFor('/ping').toString()), ...answer };
          },
        }
      : {}),
    clock: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    note: (line) => {
      if (!context.globals.quiet) context.io.stderr.write(`sparctl: ${line}\n`);
    },
  };
}
