import { createRequire } from 'node:module';
import type { NumberingPlans } from '../core/phone.js';
import { setNumberingPlansLoader } from '../core/phone.js';
import { setSchemaLibraryLoader, type Zod } from '../core/schema-library.js';

/**
 * The libraries core loads at their first use rather than at start: zod (95 modules, 80-95 ms)
 * and libphonenumber-js's 'max' build (93 modules, 70-110 ms). Most commands need neither. Their
 * CommonJS builds are loaded with require(), synchronously, so that core's calls stay plain
 * function calls. Every entry point calls this once before anything else: cli/main.ts, the
 * server (it may run without the CLI, as in bench/), the tests' setup.
 */
const load = createRequire(import.meta.url);

export function installLazyLibraries(): void {
  setSchemaLibraryLoader(() => (load('zod') as { z: Zod }).z);
  setNumberingPlansLoader(() => load('libphonenumber-js/max') as NumberingPlans);
}
