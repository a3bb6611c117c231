import { readFile } from 'node:fs/promises';
import { UsageError } from '../core/errors.js';

/** Reading the small files a command is given (mappings, DFSP data, passwords): one clear line when they cannot be read. */

export async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      'usage.unreadable',
      `${flag} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
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
