/** How a task's attempts read after manual requeues and graceful releases. */
import type { Task } from '../api/types';

type Counted = Pick<Task, 'attempt' | 'max_attempts'> & Partial<Pick<Task, 'attempts_used' | 'attempt_base' | 'requeued_at'>>;

/** Attempts charged to the current budget: ``attempt`` keeps growing across requeues. */
export function attemptsUsed(task: Counted): number {
  return task.attempts_used ?? task.attempt - (task.attempt_base ?? 0);
}

/**
 * "2 of 3", or after a manual requeue "1 of 2 after requeue (4 in all)": never "4 of 2".
 * Compact form (``short``) for tables: "1/2 ↻" with the long form as its title.
 */
export function attemptLabel(task: Counted): string {
  const used = attemptsUsed(task);
  const base = `${used} of ${task.max_attempts}`;
  if (!task.requeued_at) return base;
  return `${base} after requeue (${task.attempt} in all)`;
}

export function attemptShort(task: Counted): string {
  return `${attemptsUsed(task)}/${task.max_attempts}${task.requeued_at ? ' ↻' : ''}`;
}
