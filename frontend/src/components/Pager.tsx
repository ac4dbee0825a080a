import { Button, Group, Text } from '@mantine/core';

export interface PagerProps {
  page: number;
  hasNext: boolean;
  /** Previous is known (false after a reload on a deep page: only First then). */
  hasPrev?: boolean;
  onFirst: () => void;
  onPrev: () => void;
  onNext: () => void;
  shown: number;
  /** How many match the filters; `exact: false` means "at least". */
  total?: { total: number; exact: boolean };
}

export function formatTotal(total: { total: number; exact: boolean }): string {
  return `${total.total.toLocaleString('en')}${total.exact ? '' : '+'}`;
}

/** Cursor pagination: the API gives only "next", so the client keeps the trail back. */
export function Pager({ page, hasNext, hasPrev = page > 1, onFirst, onPrev, onNext, shown, total }: PagerProps) {
  return (
    <Group justify="space-between" mt="sm" wrap="wrap">
      <Text size="sm" c="dimmed" data-testid="pager-status">
        Page {page} · {shown} shown{total ? ` · ${formatTotal(total)} matching` : ''}
      </Text>
      <Group gap="xs">
        <Button variant="default" size="xs" onClick={onFirst} disabled={page <= 1}>
          First
        </Button>
        <Button variant="default" size="xs" onClick={onPrev} disabled={!hasPrev}>
          Previous
        </Button>
        <Button variant="default" size="xs" onClick={onNext} disabled={!hasNext}>
          Next
        </Button>
      </Group>
    </Group>
  );
}
