import { useState } from 'react';
import { Button, Group, Text } from '@mantine/core';
import { useBulkAction, useBulkPreview } from '../api/queries';
import type { BulkFilter, BulkRequest, BulkResult } from '../api/types';
import { describeFilter } from '../lib/taskFilters';
import { notifyError, notifySuccess } from '../lib/notify';
import { BulkPreview, previewReady } from './BulkPreview';
import { ConfirmModal } from './ConfirmModal';

type Action = 'cancel' | 'retry';

export interface BulkActionsProps {
  selectedIds: number[];
  /** Builds the filter for "all matching"; null when the view has no bulk form (id search). */
  buildFilter: (() => BulkFilter) | null;
  onDone?: (result: BulkResult) => void;
}

const VERB: Record<Action, string> = { cancel: 'Cancel', retry: 'Retry' };

function summary(action: Action, result: BulkResult): string {
  const done = action === 'cancel' ? 'cancelled' : 'requeued';
  const more = result.truncated ? ' (more matched; run it again for the rest)' : '';
  return `${result.changed} task${result.changed === 1 ? '' : 's'} ${done}${more}`;
}

export function BulkActions({ selectedIds, buildFilter, onDone }: BulkActionsProps) {
  const bulk = useBulkAction();
  const [confirm, setConfirm] = useState<{ action: Action; filter: BulkFilter } | null>(null);
  const preview = useBulkPreview(confirm?.action ?? 'cancel', confirm?.filter ?? null);

  const run = (action: Action, body: BulkRequest) =>
    bulk.mutate(
      { action, body },
      {
        onSuccess: (result) => {
          notifySuccess(summary(action, result), `${VERB[action]} done`);
          setConfirm(null);
          onDone?.(result);
        },
        onError: (err) => notifyError(err, `${VERB[action]} failed`),
      },
    );

  const count = selectedIds.length;
  return (
    <Group gap="xs" wrap="wrap" aria-label="Bulk actions" role="toolbar">
      <Text size="sm" c="dimmed" mr="xs">
        {count} selected
      </Text>
      <Button size="xs" variant="light" color="red" disabled={count === 0 || bulk.isPending} onClick={() => run('cancel', { ids: selectedIds })}>
        Cancel selected
      </Button>
      <Button size="xs" variant="light" disabled={count === 0 || bulk.isPending} onClick={() => run('retry', { ids: selectedIds })}>
        Retry selected
      </Button>
      {buildFilter && (
        <>
          <Button size="xs" variant="default" color="red" onClick={() => setConfirm({ action: 'cancel', filter: buildFilter() })}>
            Cancel all matching…
          </Button>
          <Button size="xs" variant="default" onClick={() => setConfirm({ action: 'retry', filter: buildFilter() })}>
            Retry all matching…
          </Button>
        </>
      )}
      <ConfirmModal
        opened={confirm !== null}
        title={confirm ? `${VERB[confirm.action]} every matching task?` : ''}
        confirmLabel={confirm ? `${VERB[confirm.action]} all matching` : ''}
        color={confirm?.action === 'cancel' ? 'red' : 'blue'}
        loading={bulk.isPending}
        disabled={!previewReady(preview)}
        onClose={() => setConfirm(null)}
        onConfirm={() => confirm && run(confirm.action, { filter: confirm.filter })}
      >
        {confirm && (
          <>
            <BulkPreview action={confirm.action} preview={preview} />
            This applies to every task matching <strong>{describeFilter(confirm.filter)}</strong>, not only this page (up
            to 10,000 per run). Tasks whose state forbids it are skipped.
          </>
        )}
      </ConfirmModal>
    </Group>
  );
}
