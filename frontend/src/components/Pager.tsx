import { Button, Group, Text } from '@mantine/core';
import type { ListTotal } from '../lib/useListTotal';

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
  /** "Count all" for a total that says "at least" (useListTotal). */
  countAll?: Omit<ListTotal, 'total'>;
}

export function formatTotal(total: { total: number; exact: boolean }): string {
  return `${total.total.toLocaleString('en')}${total.exact ? '' : '+'}`;
}

function TotalText({ total, countAll }: Pick<PagerProps, 'total' | 'countAll'>) {
  if (!total) return null;
  const counted = !total.exact ? countAll?.counted : undefined;
  if (counted) {
    return <> · {formatTotal(counted)} matching (counted at {counted.at.toLocaleTimeString('en-GB')})</>;
  }
  return <> · {formatTotal(total)} matching</>;
}

/** Cursor pagination: the API gives only "next", so the client keeps the trail back. */
export function Pager({ page, hasNext, hasPrev = page > 1, onFirst, onPrev, onNext, shown, total, countAll }: PagerProps) {
  const canCount = total && !total.exact && countAll;
  return (
    <Group justify="space-between" mt="sm" wrap="wrap">
      <Group gap="xs">
        <Text size="sm" c="dimmed" data-testid="pager-status">
          Page {page} · {shown} shown
          <TotalText total={total} countAll={countAll} />
        </Text>
        {canCount && (
          <Button variant="subtle" size="compact-xs" onClick={countAll.countAll} loading={countAll.counting} data-testid="count-all">
            {countAll.counted ? 'Count again' : 'Count all'}
          </Button>
        )}
        {canCount && countAll.error && (
          <Text size="sm" c="red" role="alert">
            Counting failed: {countAll.error}
          </Text>
        )}
      </Group>
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
