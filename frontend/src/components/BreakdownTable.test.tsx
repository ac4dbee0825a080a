import { render, screen, within } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { BreakdownTable, failureShare } from './BreakdownTable';

const row = { type: 'send_email', total: 10, queued: 1, running: 1, succeeded: 6, dead: 2, p50_run_ms: 500, p95_run_ms: 1500 };

describe('BreakdownTable', () => {
  it('shows only the counts the server sent, busiest first, linked to the task list', () => {
    render(
      <MantineProvider>
        <MemoryRouter>
          <BreakdownTable by="type" rows={[{ ...row, type: 'noop', total: 1 }, { ...row, retrying: 3 }]} />
        </MemoryRouter>
      </MantineProvider>,
    );
    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toEqual(['Type', 'Total', 'Queued', 'Running', 'Retrying', 'Succeeded', 'Dead', 'Failure', 'p50 run', 'p95 run']);
    const first = screen.getAllByRole('row')[1] as HTMLElement;
    expect(within(first).getByRole('link', { name: 'send_email' })).toHaveAttribute('href', '/tasks?type=send_email');
    expect(first).toHaveTextContent('25 %');
  });

  it('uses failed attempts for the failure share when they are reported', () => {
    expect(failureShare({ ...row, failed: 4 })).toBe(0.4);
    expect(failureShare({ ...row, succeeded: 0, dead: 0 })).toBeNull();
  });
});
