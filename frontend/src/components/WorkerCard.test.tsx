import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { WorkerInstance } from '../api/types';
import { mockFetch, renderWithApp } from '../test/render';
import { WorkerCard } from './WorkerCard';

const instance: WorkerInstance = {
  id: 'worker-a:1f2e',
  host: 'worker-a',
  roles: ['worker'],
  started_at: '2026-11-28T08:00:00Z',
  last_heartbeat: '2026-11-28T08:00:00Z',
  slots: 4,
  busy: 0,
  tasks: [],
  types: ['greet', 'resize_image'],
};

describe('WorkerCard', () => {
  it('names the task types the instance handles', async () => {
    mockFetch({});
    renderWithApp(<WorkerCard instance={instance} now={Date.parse('2026-11-28T08:00:01Z')} />);
    expect(await screen.findByTestId('worker-types')).toHaveTextContent('Handles greet, resize_image');
  });

  it('says nothing about types for an instance without workers', async () => {
    mockFetch({});
    renderWithApp(<WorkerCard instance={{ ...instance, roles: ['api'], types: [] }} now={Date.parse('2026-11-28T08:00:01Z')} />);
    expect(await screen.findByText('Idle.')).toBeInTheDocument();
    expect(screen.queryByTestId('worker-types')).not.toBeInTheDocument();
  });
});
