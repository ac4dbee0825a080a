import { Anchor, Group, Stack, Text } from '@mantine/core';
import { Link } from 'react-router';

export function TopFailingTypes({ items }: { items: { type: string; failed: number }[] }) {
  if (items.length === 0) {
    return (
      <Text size="sm" c="dimmed">
        No failures in this window.
      </Text>
    );
  }
  const max = Math.max(...items.map((i) => i.failed), 1);
  return (
    <Stack gap={6}>
      {items.slice(0, 8).map((item) => (
        <Group key={item.type} justify="space-between" wrap="nowrap">
          <Anchor component={Link} to={`/tasks?type=${encodeURIComponent(item.type)}&state=retrying&state=dead`} size="sm">
            {item.type}
          </Anchor>
          <Group gap={6} wrap="nowrap">
            <div
              aria-hidden
              style={{
                width: `${Math.max(4, (item.failed / max) * 120)}px`,
                height: 8,
                borderRadius: 4,
                background: 'var(--mantine-color-red-6)',
              }}
            />
            <Text size="sm" fw={600} w={48} ta="right">
              {item.failed}
            </Text>
          </Group>
        </Group>
      ))}
    </Stack>
  );
}
