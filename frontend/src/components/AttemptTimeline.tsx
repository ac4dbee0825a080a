import { Fragment } from 'react';
import { Stack, Text, Timeline } from '@mantine/core';
import { IconRotateClockwise } from '@tabler/icons-react';
import type { Attempt, Task } from '../api/types';
import { elapsedMs, formatDateTime, formatDuration } from '../lib/format';

/** The bullet colour for an attempt's outcome: a handler's requested retry is not a failure. */
export function outcomeColor(outcome: string | null): string {
  switch (outcome) {
    case 'succeeded':
    case 'success':
      return 'green';
    case null:
    case 'running':
      return 'cyan';
    case 'released':
    case 'cancelled':
      return 'gray';
    case 'retry':
      return 'yellow';
    default:
      return 'red';
  }
}

export type Requeue = Pick<Task, 'requeued_at' | 'requeued_by' | 'attempt_base'>;

function RequeueItem({ requeue }: { requeue: Requeue }) {
  return (
    <Timeline.Item
      color="blue"
      bullet={<IconRotateClockwise size={14} aria-hidden />}
      title="Requeued by hand"
      data-testid="requeue-mark"
    >
      <Text size="sm" c="dimmed">
        {formatDateTime(requeue.requeued_at ?? null)} by <span className="mono">{requeue.requeued_by ?? 'unknown'}</span>; a fresh
        attempt budget from here
      </Text>
    </Timeline.Item>
  );
}

/**
 * One entry per attempt: who ran it, when, how it ended and why (with the traceback of a
 * failure, folded). A manual requeue shows where it happened: after attempt ``attempt_base``.
 */
export function AttemptTimeline({ attempts, requeue }: { attempts: Attempt[]; requeue?: Requeue }) {
  const ordered = [...attempts].sort((a, b) => a.attempt - b.attempt);
  const requeued = requeue?.requeued_at ? requeue : undefined;
  const base = requeued?.attempt_base ?? 0;
  // Requeued but not run since: the mark comes last.
  const markAtEnd = requeued !== undefined && !ordered.some((a) => a.attempt > base);
  if (ordered.length === 0 && !requeued) {
    return (
      <Text c="dimmed" size="sm">
        Not attempted yet.
      </Text>
    );
  }
  const entries = ordered.length + (requeued ? 1 : 0);
  return (
    <Timeline active={entries - 1} bulletSize={22} lineWidth={2} aria-label="Attempts">
      {ordered.map((a, i) => (
        <Fragment key={a.attempt}>
          {requeued && !markAtEnd && a.attempt > base && (ordered[i - 1]?.attempt ?? 0) <= base && <RequeueItem requeue={requeued} />}
          <Timeline.Item
            color={outcomeColor(a.outcome)}
            bullet={<Text size="xs" fw={700}>{a.attempt}</Text>}
            title={`Attempt ${a.attempt} · ${a.outcome ?? 'running'}`}
            data-testid="attempt"
          >
            <Stack gap={4}>
              <Text size="sm" c="dimmed">
                Worker <span className="mono">{a.worker ?? '—'}</span>
              </Text>
              <Text size="sm" c="dimmed">
                {formatDateTime(a.started_at)} → {a.finished_at ? formatDateTime(a.finished_at) : 'still running'}
                {a.finished_at && ` (${formatDuration(elapsedMs(a.started_at, a.finished_at))})`}
              </Text>
              {a.error && <pre className={`attempt-error wrap-anywhere${a.outcome === 'retry' ? ' is-retry' : ''}`}>{a.error}</pre>}
              {a.traceback && (
                <details className="traceback" data-testid="traceback">
                  <summary>Traceback</summary>
                  <pre>{a.traceback}</pre>
                </details>
              )}
            </Stack>
          </Timeline.Item>
        </Fragment>
      ))}
      {requeued && markAtEnd && <RequeueItem requeue={requeued} />}
    </Timeline>
  );
}
