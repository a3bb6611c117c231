import { readFile } from 'node:fs/promises';
import { StrictText } from '../adapters/input/strict-text.js';
import { UsageError } from '../core/errors.js';

/** Reading the small files a command is given (mappings, DFSP data, passwords): one clear line when they cannot be read. */

export async function readText(path: string, flag: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new UsageError(
      'usage.unreadable',
      `${flag} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  return strictUtf8(bytes, path);
}

/**
 * The bytes as UTF-8 text, or input.not_utf8 naming the line: read leniently, a byte in another
 * encoding became U+FFFD in a mapping's constant, a bank's name or a strategy's template (which,
 * append-only, could never be mended under its id).
 */
export function strictUtf8(bytes: Uint8Array, path: string): string {
  // The input reader's own check: a UTF-16 file or a workbook is named as such, with the way out.
  const text = new StrictText(path);
  return text.decode(bytes) + text.finish();
}

/** JSON from a mapping (the default) or DFSP file; a syntax error is that file's `*.invalid`. */
export function parseJson(text: string, file: string, kind: 'mapping' | 'dfsp' = 'mapping'): unknown {
  try {
    // Notepad saves UTF-8 with a byte order mark, which RFC 8259 lets a reader ignore.
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const message = `${file}: not valid JSON (${(error as Error).message})`;
    throw kind === 'dfsp' ? new UsageError('dfsp.invalid', message) : new UsageError('mapping.invalid', message);
  }
}
