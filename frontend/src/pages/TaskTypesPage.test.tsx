import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { TaskType } from '../api/types';
import { ADMIN, jsonError, mockFetch, renderWithApp } from '../test/render';
import { TaskTypesPage } from './TaskTypesPage';

const greet: TaskType = {
  name: 'greet',
  instances: ['worker-a:1f2e', 'worker-b:9c0d'],
  first_seen: '2026-11-28T08:00:00Z',
  last_seen: new Date(Date.now() - 30_000).toISOString(),
  max_attempts: 5,
  timeout_s: 30,
  cost: 2,
};
const legacy: TaskType = { ...greet, name: 'legacy_export', instances: [], max_attempts: null, timeout_s: null, cost: null };

describe('TaskTypesPage', () => {
  it('shows which instances handle each type, and a type no worker handles now', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/task-types': { types: [greet, legacy] } });
    renderWithApp(<TaskTypesPage />, { route: '/task-types' });
    const row = (await screen.findByText('greet')).closest('tr') as HTMLElement;
    expect(within(row).getByText('worker-a:1f2e')).toBeInTheDocument();
    expect(within(row).getByText('worker-b:9c0d')).toBeInTheDocument();
    expect(row).toHaveTextContent('5 attempts · 30 s timeout · cost 2');
    expect(row).toHaveTextContent(/ago/);
    const orphan = screen.getByText('legacy_export').closest('tr') as HTMLElement;
    expect(within(orphan).getByText('no worker now')).toBeInTheDocument();
    expect(orphan).toHaveTextContent('engine defaults');
    expect(screen.getByTestId('types-handled')).toHaveTextContent(/^Handled now1$/);
  });

  it('says how to start a worker when no type was ever announced', async () => {
    mockFetch({ 'GET /api/whoami': ADMIN, 'GET /api/task-types': { types: [] } });
    renderWithApp(<TaskTypesPage />, { route: '/task-types' });
    expect(await screen.findByText('No task types')).toBeInTheDocument();
    expect(screen.getByText(/SKIPLOCK_HANDLERS=myapp.tasks skiplock serve/)).toBeInTheDocument();
  });

  it('reports an unavailable registry instead of an empty page', async () => {
    mockFetch({
      'GET /api/whoami': ADMIN,
      'GET /api/task-types': jsonError(503, 'unavailable', 'task types unavailable'),
    });
    renderWithApp(<TaskTypesPage />, { route: '/task-types' });
    expect(await screen.findByText(/task types unavailable/)).toBeInTheDocument();
    expect(screen.queryByText('No task types')).not.toBeInTheDocument();
  });
});
