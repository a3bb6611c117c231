/**
 * undici's Pool and Agent with the request API, loaded from their own modules. The package's
 * index loads everything it has (fetch, WebSocket, caches, mocks, interceptors) on every remote
 * command: `require` of the index took 523 ms where these parts took 247 ms, on this 2-core VM
 * under load (140 against ~70 idle). The index's one piece of wiring is repeated here: the request
 * API goes onto Dispatcher.prototype. The version is pinned by the lockfile (a change of undici's
 * layout fails every remote test at once); the types are the package's own.
 */
import { createRequire } from 'node:module';
import type { Agent as AgentClass, Pool as PoolClass } from 'undici';

const load = createRequire(import.meta.url);

Object.assign(load('undici/lib/dispatcher/dispatcher.js').prototype, load('undici/lib/api/index.js'));

export const Pool: typeof PoolClass = load('undici/lib/dispatcher/pool.js');
export const Agent: typeof AgentClass = load('undici/lib/dispatcher/agent.js');
export type Pool = PoolClass;
export type Agent = AgentClass;
