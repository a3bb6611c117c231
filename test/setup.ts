import { afterEach } from 'vitest';
import { installLazyLibraries } from '../src/adapters/lazy-libraries.js';
import { stopServers } from './helpers/serve.js';
import { removeTempDirs } from './helpers/tmp.js';

installLazyLibraries();

// Test files share a process and its modules (vitest.config.ts: isolate false), so a helper's
// own top-level afterEach would hook only the first file a worker runs: this file runs before
// every test file. Hooks after a test run last registered first: servers stop, then folders go.
afterEach(removeTempDirs);
afterEach(stopServers);
