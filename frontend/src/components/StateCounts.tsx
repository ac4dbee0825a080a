import { Anchor, Paper, SimpleGrid, Text } from '@mantine/core';
import { Link } from 'react-router';
import { TASK_STATES, type TaskState } from '../api/types';
import { formatCount } from '../lib/format';
import { STATE_COLORS } from './StateBadge';

/** One tile per state; each links to the task list filtered to that state. */
export function StateCounts({ counts }: { counts: Partial<Record<TaskState, number>> }) {
  return (
    <SimpleGrid cols={{ base: 2, sm: 4, lg: 7 }} spacing="sm">
      {TASK_STATES.map((state) => (
        <Paper key={state} withBorder p="sm" data-testid={`count-${state}`}>
          <Anchor component={Link} to={`/tasks?state=${state}`} size="xs" tt="uppercase" fw={700} c="dimmed">
            {state}
          </Anchor>
          <Text fw={700} fz={24} c={STATE_COLORS[state] ?? 'gray'} data-value>
            {formatCount(counts[state] ?? 0)}
          </Text>
        </Paper>
      ))}
    </SimpleGrid>
  );
}
