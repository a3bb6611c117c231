import { describe, expect, it } from 'vitest';
import { EarlyStopProbe } from '../../src/core/bulk/early-stop.js';

/** The early stop (core/bulk/early-stop.ts): every probed record rejected for one input reason, and the line that shows it. */
describe('EarlyStopProbe', () => {
  it('stops when every probed record was rejected for one input reason, naming the first', () => {
    const probe = new EarlyStopProbe(3, 'pass --no-early-stop');
    for (const line of [2, 3, 4]) probe.rejected('mapping.unknown_bank', { line, field: 'bank_code', message: 'unknown bank "X"' });
    expect(probe.verdict(97)?.message).toBe(
      'the first 3 records were all rejected as mapping.unknown_bank (line 2: bank_code: unknown bank "X"); stopped before reading the other 97, nothing was sent',
    );
  });

  it('a fed-back reject file: names the line read and the original one, as the reject file does', () => {
    const probe = new EarlyStopProbe(2, 'h');
    probe.rejected('mapping.unknown_bank', { line: 2, originalLine: 812, message: 'bank_code "X" is unknown' });
    probe.rejected('mapping.unknown_bank', { line: 3, originalLine: 990, message: 'bank_code "X" is unknown' });
    expect(probe.verdict(0)?.message).toContain('(line 2, original line 812: bank_code "X" is unknown)');
  });

  it('does not stop for mixed reasons, or for a mapper’s answers', () => {
    const mixed = new EarlyStopProbe(2, 'h');
    mixed.rejected('mapping.unknown_bank', { line: 2, message: 'm' });
    mixed.rejected('input.invalid', { line: 3, message: 'm' });
    expect(mixed.verdict(5)).toBeUndefined();
    const answered = new EarlyStopProbe(1, 'h');
    answered.rejected('rjct.reference_id.duplicate', { line: 2, message: 'm' });
    expect(answered.verdict(5)).toBeUndefined();
  });
});
