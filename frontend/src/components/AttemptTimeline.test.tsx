import { describe, expect, it } from 'vitest';
import { outcomeColor } from './AttemptTimeline';

describe('outcomeColor', () => {
  it('shows a handler-requested retry apart from failures', () => {
    expect(outcomeColor('retry')).toBe('yellow');
    expect(outcomeColor('failed')).toBe('red');
    expect(outcomeColor('timed_out')).toBe('red');
    expect(outcomeColor('succeeded')).toBe('green');
  });
});
