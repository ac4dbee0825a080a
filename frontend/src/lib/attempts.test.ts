import { describe, expect, it } from 'vitest';
import { attemptLabel, attemptShort, attemptsUsed } from './attempts';

describe('attempt labels', () => {
  it('counts attempts against the budget', () => {
    expect(attemptLabel({ attempt: 2, max_attempts: 3, attempts_used: 2 })).toBe('2 of 3');
    expect(attemptShort({ attempt: 2, max_attempts: 3, attempts_used: 2 })).toBe('2/3');
  });

  it('reads sensibly after a manual requeue instead of "4 of 2"', () => {
    const requeued = { attempt: 4, max_attempts: 2, attempt_base: 3, requeued_at: '2026-12-03T10:00:00Z' };
    expect(attemptsUsed(requeued)).toBe(1);
    expect(attemptLabel(requeued)).toBe('1 of 2 after requeue (4 in all)');
    expect(attemptShort(requeued)).toBe('1/2 ↻');
  });

  it('prefers the server\'s attempts_used when it sends one', () => {
    expect(attemptsUsed({ attempt: 5, max_attempts: 3, attempts_used: 1 })).toBe(1);
  });
});
