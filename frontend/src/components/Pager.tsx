import { Button, Group, Text } from '@mantine/core';

export interface PagerProps {
  page: number;
  hasNext: boolean;
  onFirst: () => void;
  onPrev: () => void;
  onNext: () => void;
  shown: number;
}

/** Cursor pagination: the API gives only "next", so the client keeps the trail back. */
export function Pager({ page, hasNext, onFirst, onPrev, onNext, shown }: PagerProps) {
  return (
    <Group justify="space-between" mt="sm">
      <Text size="sm" c="dimmed">
        Page {page} · {shown} shown
      </Text>
      <Group gap="xs">
        <Button variant="default" size="xs" onClick={onFirst} disabled={page <= 1}>
          First
        </Button>
        <Button variant="default" size="xs" onClick={onPrev} disabled={page <= 1}>
          Previous
        </Button>
        <Button variant="default" size="xs" onClick={onNext} disabled={!hasNext}>
          Next
        </Button>
      </Group>
    </Group>
  );
}
