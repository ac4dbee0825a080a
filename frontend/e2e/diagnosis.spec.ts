/** Why did it fail: tracebacks per attempt, dead letters with died-at and payload, requeues marked. */
import { expect, test } from '@playwright/test';
import { apiOk, baseURL, createTenant, login } from './helpers';

interface Task {
  id: number;
  state: string;
  finished_at: string | null;
}

async function waitForState(id: number, state: string, timeoutMs = 20_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await apiOk<Task>('GET', `/tasks/${id}`);
    if (task.state === state) return task;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${task.state}, expected ${state}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a dead task shows each attempt\'s traceback, and a requeue is marked with who did it', async ({ page }) => {
  const { tenant } = await createTenant();
  const created = await apiOk<Task>('POST', '/tasks', {
    type: 'fail',
    tenant: tenant.name,
    max_attempts: 2,
    payload: { message: 'e2e traceback', order: 'o-314' },
  });
  const dead = await waitForState(created.id, 'dead');

  await login(page);
  // Dead letters: when it died, and what it was given.
  await page.goto(`${baseURL()}/dead-letters?tenant=${tenant.name}`);
  const row = page.locator(`tr[data-task-id="${created.id}"]`);
  await expect(row.getByTestId('payload')).toContainText('"order":"o-314"');
  await expect(row.getByTestId('died-at')).not.toHaveText('—');
  expect(dead.finished_at).not.toBeNull();
  await expect(row).toContainText('2/2');

  await page.goto(`${baseURL()}/tasks/${created.id}`);
  const traces = page.getByTestId('traceback');
  await expect(traces).toHaveCount(2);
  const first = traces.first();
  await expect(first.locator('pre')).toBeHidden(); // folded until asked for
  await first.locator('summary').click();
  await expect(first.locator('pre')).toBeVisible();
  await expect(first.locator('pre')).toContainText('Traceback (most recent call last):');
  await expect(first.locator('pre')).toContainText('RuntimeError: e2e traceback');

  // Paused, so the requeued task stays put and the page shows the requeue last.
  await apiOk('POST', `/tenants/${tenant.name}/pause`);
  await page.getByRole('button', { name: 'Requeue task' }).click();
  const mark = page.getByTestId('requeue-mark');
  await expect(mark).toContainText("admin key 'bootstrap'");
  await expect(page.getByTestId('attempt-label')).toHaveText('0 of 2 after requeue (2 in all)');
});
