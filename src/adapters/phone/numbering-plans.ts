import { createRequire } from 'node:module';
import type { NumberingPlans } from '../../core/phone.js';

/**
 * libphonenumber-js's numbering plans, loaded when the first phone number is read (core/phone.ts
 * asks for them through setNumberingPlansLoader). Its 'max' build is 93 modules: imported at
 * start, it cost every command 70-110 ms, most of which never read a phone number. require()
 * loads its CommonJS build synchronously, so reading a number stays a plain function call.
 */
const load = createRequire(import.meta.url);

export function loadNumberingPlans(): NumberingPlans {
  return load('libphonenumber-js/max') as NumberingPlans;
}
