import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeDetail, makeTask } from '../test/fixtures';
import { ADMIN, mockFetch, renderWithApp } from '../test/render';
import { TaskFacts } from './TaskFacts';
import { TaskTable } from './TaskTable';

describe('the schedule that fired a task', () => {
  it('is named on its task row, and on no other', () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    const fired = makeTask({ id: 7, schedule: 'k8s:jobs:skiplock:nightly' });
    const plain = makeTask({ id: 8 });
    renderWithApp(<TaskTable tasks={[fired, plain]} />);
    const row = document.querySelector('tr[data-task-id="7"]') as HTMLElement;
    expect(within(row).getByTestId('task-schedule')).toHaveTextContent('schedule k8s:jobs:skiplock:nightly');
    const other = document.querySelector('tr[data-task-id="8"]') as HTMLElement;
    expect(within(other).queryByTestId('task-schedule')).toBeNull();
  });

  it('is a fact of the task detail, linking to the schedules', () => {
    mockFetch({ 'GET /api/whoami': ADMIN });
    renderWithApp(<TaskFacts task={makeDetail({ id: 7, schedule: 'nightly' })} now={0} />);
    expect(screen.getByTestId('task-schedule')).toHaveTextContent('nightly');
    expect(screen.getByRole('link', { name: 'nightly' })).toHaveAttribute('href', '/schedules');
  });
});
