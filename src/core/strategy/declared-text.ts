/**
 * A strategies declaration read from its text: JSON or simple YAML (Helm values), then its rows.
 * Apart from declared.ts so that a profile that declares nothing never loads the YAML reader or
 * the validator (a sixth of a remote command's start-up).
 */
import { UsageError } from '../errors.js';
import { parseSimpleYaml } from './simple-yaml.js';
import type { StrategyRow } from './strategy.js';
import { strategyRowsFrom } from './validate.js';

/** JSON when the text starts like JSON, simple YAML otherwise (whatever the file is called). */
export function parseStrategyText(text: string, file: string): unknown {
  const body = text.replace(/^\uFEFF/, '');
  if (/^\s*[[{]/.test(body)) {
    try {
      return JSON.parse(body);
    } catch (error) {
      throw new UsageError('strategy.invalid', `${file}: not valid JSON (${(error as Error).message})`);
    }
  }
  if (body.trim() === '') throw new UsageError('strategy.invalid', `${file}: the file is empty`);
  return parseSimpleYaml(body, file);
}

/** The strategy rows a declaration document holds (the JSON of `strategy export --format json`, Helm values, …). */
export function declaredRows(document: unknown, source: string): StrategyRow[] {
  return strategyRowsFrom(document, source);
}
