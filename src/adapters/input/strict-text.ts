import { TextDecoder } from 'node:util';
import { UsageError } from '../../core/errors.js';
import { firstBadLine } from '../files/utf8-lines.js';

/**
 * An input's bytes decoded as UTF-8, strictly: a byte that is not UTF-8 stops the read with the
 * line it is on, and UTF-16 text (Excel's "Unicode Text") is named as such, with the way out.
 *
 * Invariant: no text reaches the caller that holds U+FFFD in place of a byte it could not read
 * (it would be stored in someone's account number, or a bank's name).
 */
export class StrictText {
  private readonly utf8: TextDecoder;
  /** Line breaks passed so far, as the tokenizer counts them (an editor's lines). */
  lines = 0;
  private crBefore = false;
  private begun = false;

  constructor(
    private readonly name: string,
    /** Keep a leading BOM in the text (for the layout of a reject file). */
    keepBom = false,
  ) {
    this.utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: keepBom });
  }

  /** The chunk as text. */
  decode(chunk: Uint8Array): string {
    const first = !this.begun;
    this.begun ||= chunk.length > 0;
    // A workbook given where text is read: said as what it is, not as a bad byte or UTF-16
    // (whose advice, iconv, would make garbage of it).
    const workbook = first ? workbookKind(chunk) : undefined;
    if (workbook !== undefined)
      throw new UsageError('input.not_utf8', `${this.name}:1: ${workbook}, not text; nothing was sent`, {
        hint: workbook.startsWith('a zip')
          ? 'an Excel workbook is read by its .xlsx name (rename it); from LibreOffice (.ods), save it as .xlsx or as CSV UTF-8'
          : 'open it in the spreadsheet and save it as Excel Workbook (.xlsx) or CSV UTF-8',
      });
    if (first && chunk.length >= 2 && ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff)))
      throw utf16(`${this.name}:1: UTF-16 text (it starts with UTF-16's byte-order mark), not UTF-8; nothing was sent`);
    // UTF-16 without its mark: every other byte of ASCII text is NUL, so a third of the file's
    // start or more (a header in another script has fewer). A NUL byte here and there is a
    // control character in one cell, which that row's checks reject.
    if (first && chunk.length >= 4 && mostlyNul(chunk.subarray(0, 1024)))
      throw utf16(`${this.name}:1: UTF-16 text (NUL bytes between its letters), not UTF-8; nothing was sent`);
    let text: string;
    try {
      text = this.utf8.decode(chunk, { stream: true });
    } catch {
      throw new UsageError('input.not_utf8', `${this.name}:${this.lines + 1 + firstBadLine(chunk)}: not valid UTF-8; nothing was sent`, {
        hint: 'save the file as UTF-8 (in a spreadsheet: CSV UTF-8)',
      });
    }
    this.lines += lineBreaks(chunk, this.crBefore);
    this.crBefore = chunk.length > 0 ? chunk[chunk.length - 1] === CR : this.crBefore;
    return text;
  }

  /** The text the decoder still holds (the input ends inside a character: input.not_utf8). */
  finish(): string {
    try {
      return this.utf8.decode();
    } catch {
      throw new UsageError(
        'input.not_utf8',
        `${this.name}:${this.lines + 1}: not valid UTF-8 (the file ends inside a character); nothing was sent`,
        { hint: 'save the file as UTF-8 (in a spreadsheet: CSV UTF-8)' },
      );
    }
  }
}

/** What a file that starts as a workbook is, or undefined. */
function workbookKind(chunk: Uint8Array): string | undefined {
  if (chunk.length >= 4 && chunk[0] === 0x50 && chunk[1] === 0x4b && chunk[2] === 0x03 && chunk[3] === 0x04)
    return 'a zip archive (an .xlsx or .ods workbook?)';
  const ole2 = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
  if (chunk.length >= 8 && ole2.every((byte, at) => chunk[at] === byte)) return 'an old Excel workbook (.xls) or an encrypted one';
  return undefined;
}

/** A third of the bytes or more are NUL: text in UTF-16, not UTF-8 with a stray control character. */
function mostlyNul(bytes: Uint8Array): boolean {
  let nul = 0;
  for (const byte of bytes) if (byte === 0) nul++;
  return nul * 3 >= bytes.length;
}

/** input.not_utf8 for a UTF-16 file, with the way to save or convert it. */
const utf16 = (message: string): UsageError =>
  new UsageError('input.not_utf8', message, {
    hint: 'in Excel, save as "CSV UTF-8 (Comma delimited)" rather than "Unicode Text"; or convert it: iconv -f UTF-16 -t UTF-8 FILE > FILE.csv',
  });

const LF = 10;
const CR = 13;

/** Line breaks in `chunk` as the tokenizer counts them (an editor's lines): each CR, and each LF not after a CR. */
export function lineBreaks(chunk: Uint8Array, crBefore: boolean): number {
  let n = 0;
  for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) n++;
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) if (i > 0 ? chunk[i - 1] !== CR : !crBefore) n++;
  return n;
}
