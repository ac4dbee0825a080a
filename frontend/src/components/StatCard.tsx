import type { ReactNode } from 'react';
import { Paper, Text } from '@mantine/core';

export function StatCard({ label, value, hint, color, testId }: { label: string; value: ReactNode; hint?: ReactNode; color?: string; testId?: string }) {
  return (
    <Paper withBorder p="md" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Text fw={700} fz={26} c={color} lh={1.3}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}
