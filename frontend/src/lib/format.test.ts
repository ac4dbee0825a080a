import { describe, expect, it } from 'vitest';
import { ageSeconds, formatDuration, formatPercent, formatSpan } from './format';

describe('format', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2m 5s');
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(3_600_000 * 50)).toBe('2d 2h');
    expect(formatDuration(null)).toBe('—');
  });

  it('names bucket sizes', () => {
    expect(formatSpan(30)).toBe('30 s');
    expect(formatSpan(600)).toBe('10 min');
    expect(formatSpan(10_800)).toBe('3 h');
  });

  it('never reports a negative age and shows percentages', () => {
    expect(ageSeconds('2030-01-01T00:00:00Z', Date.parse('2029-01-01T00:00:00Z'))).toBe(0);
    expect(formatPercent(0.25)).toBe('25 %');
    expect(formatPercent(0.012)).toBe('1.2 %');
    expect(formatPercent(null)).toBe('—');
  });
});
