import { Loader, Text } from '@mantine/core';
import type { UseQueryResult } from '@tanstack/react-query';
import type { BulkResult } from '../api/types';

const DONE = { cancel: 'cancelled', retry: 'requeued' } as const;

/** The exact number a bulk action will touch, from a dry run, shown before confirming. */
export function BulkPreview({ action, preview }: { action: 'cancel' | 'retry'; preview: UseQueryResult<BulkResult> }) {
  if (preview.isPending) {
    return (
      <Text size="sm" component="div" data-testid="bulk-preview">
        <Loader size="xs" mr="xs" /> Counting the tasks this would change…
      </Text>
    );
  }
  if (preview.isError || !preview.data) {
    return (
      <Text size="sm" c="red" data-testid="bulk-preview">
        Could not count the tasks this would change; try again.
      </Text>
    );
  }
  const { changed, truncated } = preview.data;
  if (changed === 0) {
    return (
      <Text size="sm" fw={600} data-testid="bulk-preview">
        No task matching this can be {DONE[action]} now.
      </Text>
    );
  }
  return (
    <Text size="sm" fw={600} data-testid="bulk-preview">
      {truncated ? 'At least ' : ''}
      {changed.toLocaleString('en')} task{changed === 1 ? '' : 's'} will be {DONE[action]}
      {truncated ? ' in this run (10,000 at most; run it again for the rest).' : '.'}
    </Text>
  );
}

/** Whether the confirm button may act on ``preview``: counted, and something to change. */
export function previewReady(preview: UseQueryResult<BulkResult>): boolean {
  return preview.isSuccess && preview.data.changed > 0;
}
