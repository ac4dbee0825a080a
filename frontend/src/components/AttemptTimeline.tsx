import { Code, Stack, Text, Timeline } from '@mantine/core';
import type { Attempt } from '../api/types';
import { elapsedMs, formatDateTime, formatDuration } from '../lib/format';

function outcomeColor(outcome: string | null): string {
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
    default:
      return 'red';
  }
}

/** One entry per attempt: who ran it, when, how it ended and why. */
export function AttemptTimeline({ attempts }: { attempts: Attempt[] }) {
  if (attempts.length === 0) {
    return (
      <Text c="dimmed" size="sm">
        Not attempted yet.
      </Text>
    );
  }
  const ordered = [...attempts].sort((a, b) => a.attempt - b.attempt);
  return (
    <Timeline active={ordered.length - 1} bulletSize={22} lineWidth={2} aria-label="Attempts">
      {ordered.map((a) => (
        <Timeline.Item
          key={a.attempt}
          color={outcomeColor(a.outcome)}
          bullet={<Text size="xs" fw={700}>{a.attempt}</Text>}
          title={`Attempt ${a.attempt} · ${a.outcome ?? 'running'}`}
          data-testid="attempt"
        >
          <Stack gap={2}>
            <Text size="sm" c="dimmed">
              Worker <span className="mono">{a.worker ?? '—'}</span>
            </Text>
            <Text size="sm" c="dimmed">
              {formatDateTime(a.started_at)} → {a.finished_at ? formatDateTime(a.finished_at) : 'still running'}
              {a.finished_at && ` (${formatDuration(elapsedMs(a.started_at, a.finished_at))})`}
            </Text>
            {a.error && (
              <Code block color="red.1" className="wrap-anywhere" style={{ whiteSpace: 'pre-wrap' }}>
                {a.error}
              </Code>
            )}
          </Stack>
        </Timeline.Item>
      ))}
    </Timeline>
  );
}
