import { expect, test } from '@playwright/test';
import { api, apiOk, baseURL, createTenant, expectLive, login } from './helpers';

interface Task {
  id: number;
  state: string;
  attempt: number;
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

/** A tenant whose tasks stay put until resumed: nothing is claimed while paused. */
async function pausedTenant() {
  const created = await createTenant();
  await apiOk('POST', `/tenants/${created.tenant.name}/pause`);
  return created;
}

async function deadTask(tenant: string, message = 'e2e boom'): Promise<Task> {
  const task = await apiOk<Task>('POST', '/tasks', { type: 'fail', tenant, max_attempts: 1, payload: { message } });
  return waitForState(task.id, 'dead');
}

test('signs in with an admin key and lands on a live overview', async ({ page }) => {
  await page.goto(`${baseURL()}/tasks`);
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel('API key').fill('sk_nope_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('not accepted');
  await login(page);
  // Back to the page that asked for a sign-in.
  await expect(page).toHaveURL(/\/tasks$/);
  await expect(page.getByRole('heading', { name: 'Tasks' })).toBeVisible();
  await page.getByRole('link', { name: 'Overview' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expectLive(page);
  // The key never lands in web storage.
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
  expect(stored).not.toContain(process.env.E2E_ADMIN_KEY ?? 'unset');
});

test('seeds demo data from the header and the counters move', async ({ page }) => {
  await login(page);
  await page.getByRole('button', { name: 'Demo data' }).click();
  await page.getByRole('menuitem', { name: 'Seed demo tasks' }).click();
  await expect(page.getByText(/Created \d+ demo tasks/)).toBeVisible();
  await expect(page.getByTestId('count-succeeded').locator('[data-value]')).not.toHaveText('0', { timeout: 30_000 });
});

test('shows a task going from queued to succeeded without a reload', async ({ page }) => {
  const { tenant } = await pausedTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name, payload: { e2e: 'live' } });
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expectLive(page);
  const row = page.locator(`tr[data-task-id="${task.id}"]`);
  await expect(row).toHaveAttribute('data-state', 'queued');
  await page.evaluate(() => {
    (window as unknown as { __noReload: boolean }).__noReload = true;
  });
  await apiOk('POST', `/tenants/${tenant.name}/resume`);
  await expect(row).toHaveAttribute('data-state', 'succeeded');
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
});

test('filters by state in the URL and searches by id', async ({ page }) => {
  const { tenant } = await pausedTenant();
  const a = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name });
  const b = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name });
  await apiOk('POST', `/tasks/${a.id}/cancel`);
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(2);

  const chip = (name: string) => page.getByRole('group', { name: 'Filter by state' }).getByText(name, { exact: true });
  await chip('cancelled').click();
  await expect(page).toHaveURL(/state=cancelled/);
  await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(1);
  await expect(page.locator(`tr[data-task-id="${a.id}"]`)).toHaveAttribute('data-state', 'cancelled');

  // The filter survives a reload because it lives in the query string.
  await page.reload();
  await expect(page.getByRole('checkbox', { name: 'cancelled' })).toBeChecked();
  await chip('cancelled').click();
  await expect(page).not.toHaveURL(/state=cancelled/);

  await page.getByLabel('Task id').fill(String(b.id));
  await page.getByLabel('Task id').press('Enter');
  await expect(page).toHaveURL(new RegExp(`id=${b.id}`));
  await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(1);
  await expect(page.locator(`tr[data-task-id="${b.id}"]`)).toBeVisible();
});

test("opens a task's timeline with every attempt", async ({ page }) => {
  const { tenant } = await createTenant();
  const created = await apiOk<Task>('POST', '/tasks', {
    type: 'fail',
    tenant: tenant.name,
    max_attempts: 2,
    payload: { message: 'e2e timeline failure' },
  });
  await waitForState(created.id, 'dead', 30_000);
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await page.getByRole('link', { name: `#${created.id}` }).click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${created.id}$`));
  const attempts = page.getByTestId('attempt');
  await expect(attempts).toHaveCount(2);
  await expect(attempts.first()).toContainText('e2e timeline failure');
  await expect(page.getByText('"message": "e2e timeline failure"')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Requeue task' })).toBeVisible();
});

test('requeues one task and then all of a tenant from the dead-letter queue', async ({ page }) => {
  const { tenant } = await createTenant();
  const one = await deadTask(tenant.name, 'first');
  const two = await deadTask(tenant.name, 'second');
  const three = await deadTask(tenant.name, 'third');
  // Paused, so requeued tasks stay queued instead of failing straight back into the DLQ.
  await apiOk('POST', `/tenants/${tenant.name}/pause`);
  await login(page);
  await page.goto(`${baseURL()}/dead-letters?tenant=${tenant.name}`);
  await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(3);
  await expect(page.locator(`tr[data-task-id="${one.id}"]`)).toContainText('first');

  await page.getByRole('button', { name: `Requeue task ${one.id}` }).click();
  await expect(page.locator(`tr[data-task-id="${one.id}"]`)).toHaveCount(0);
  expect((await apiOk<Task>('GET', `/tasks/${one.id}`)).state).toBe('queued');

  await page.getByRole('button', { name: 'Requeue all…' }).click();
  // The exact count, from the server's dry run, before anything changes.
  await expect(page.getByTestId('bulk-preview')).toHaveText('2 tasks will be requeued.');
  for (const t of [two, three]) expect((await apiOk<Task>('GET', `/tasks/${t.id}`)).state).toBe('dead');
  await page.getByRole('dialog').getByRole('button', { name: 'Requeue all' }).click();
  await expect(page.getByText('The dead-letter queue is empty.')).toBeVisible();
  for (const t of [two, three]) expect((await apiOk<Task>('GET', `/tasks/${t.id}`)).state).toBe('queued');
});

test('cancels every task matching a filter', async ({ page }) => {
  const { tenant } = await pausedTenant();
  const ids: number[] = [];
  for (let i = 0; i < 3; i += 1) ids.push((await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name })).id);
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}&state=queued`);
  await expect(page.locator('tbody tr[data-task-id]')).toHaveCount(3);
  await page.getByRole('button', { name: 'Cancel all matching…' }).click();
  await expect(page.getByRole('dialog')).toContainText(`tenant ${tenant.name}`);
  await expect(page.getByTestId('bulk-preview')).toHaveText('3 tasks will be cancelled.');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel all matching' }).click();
  await expect(page.getByText('No tasks match.')).toBeVisible();
  for (const id of ids) expect((await apiOk<Task>('GET', `/tasks/${id}`)).state).toBe('cancelled');
});

test('pauses and resumes a tenant', async ({ page }) => {
  const { tenant } = await createTenant();
  await login(page);
  await page.goto(`${baseURL()}/tenants`);
  const row = page.locator(`tr[data-tenant="${tenant.name}"]`);
  await expect(row).toContainText('active');
  await row.getByRole('button', { name: `Pause ${tenant.name}` }).click();
  await page.getByRole('dialog', { name: `Pause ${tenant.name}?` }).getByRole('button', { name: 'Pause tenant' }).click();
  await expect(row).toContainText('paused');
  expect((await apiOk<{ state: string }>('GET', `/tenants/${tenant.name}`)).state).toBe('paused');
  await row.getByRole('button', { name: `Resume ${tenant.name}` }).click();
  await expect(row).toContainText('active');
});

test('creates a tenant and shows its key once', async ({ page }) => {
  await login(page);
  await page.goto(`${baseURL()}/tenants`);
  await page.getByRole('button', { name: 'Create tenant' }).click();
  const name = `ui-${Date.now().toString(36)}`;
  await page.getByRole('dialog').getByLabel('Name').fill(name);
  await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
  await expect(page.getByTestId('new-api-key')).toContainText(/^sk_/);
  const key = (await page.getByTestId('new-api-key').textContent()) ?? '';
  expect((await api('GET', '/whoami', undefined, key.trim())).status).toBe(200);
  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.locator(`tr[data-tenant="${name}"]`)).toBeVisible();
});

test('a tenant key sees its own tasks but is denied the admin pages', async ({ page }) => {
  const { tenant, api_key } = await createTenant();
  const other = await createTenant();
  await apiOk('POST', `/tenants/${tenant.name}/pause`);
  await apiOk('POST', `/tenants/${other.tenant.name}/pause`);
  const mine = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name });
  const theirs = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: other.tenant.name });

  await login(page, api_key);
  await expect(page.getByTestId('identity')).toHaveText(`tenant ${tenant.name}`);
  await expect(page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Tenants' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Demo data' })).toHaveCount(0);
  await page.goto(`${baseURL()}/tenants`);
  await expect(page.getByRole('heading', { level: 1, name: 'Admins only' })).toBeVisible();
  expect((await api('GET', '/tenants', undefined, api_key)).status).toBe(403);

  await page.goto(`${baseURL()}/tasks`);
  await expect(page.locator(`tr[data-task-id="${mine.id}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-task-id="${theirs.id}"]`)).toHaveCount(0);
  await page.goto(`${baseURL()}/tasks/${theirs.id}`);
  await expect(page.getByText('does not exist or belongs to another tenant')).toBeVisible();
});

test('falls back to polling when the live stream is refused, and keeps updating', async ({ page }) => {
  const { tenant } = await pausedTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name });
  await page.route('**/api/sse/events**', (route) => route.fulfill({ status: 503, body: 'no stream' }));
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expect(page.getByTestId('connection-status')).toHaveText(/Reconnecting|Polling/);
  const row = page.locator(`tr[data-task-id="${task.id}"]`);
  await expect(row).toHaveAttribute('data-state', 'queued');
  await apiOk('POST', `/tenants/${tenant.name}/resume`);
  await expect(row).toHaveAttribute('data-state', 'succeeded', { timeout: 20_000 });

  // The stream is back. The client's own retry may be up to 30 s away by now (jittered
  // backoff); "Reconnect now" is how a user skips the wait, and it makes this deterministic.
  // (If the client's own retry wins the race, it is already live and there is nothing to press.)
  await page.unroute('**/api/sse/events**');
  const status = page.getByTestId('connection-status');
  await expect(async () => {
    if ((await status.textContent()) !== 'Live') {
      await page.getByTestId('reconnect-now').click({ timeout: 1000 });
    }
    await expect(status).toHaveText('Live', { timeout: 2000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId('reconnect-now')).toHaveCount(0);
});

test('toggles dark mode from the keyboard', async ({ page }) => {
  await login(page);
  const html = page.locator('html');
  const before = await html.getAttribute('data-mantine-color-scheme');
  await page.getByRole('button', { name: /Switch to (dark|light) mode/ }).focus();
  await page.keyboard.press('Enter');
  await expect(html).not.toHaveAttribute('data-mantine-color-scheme', before ?? '');
});

test('lists the task types the embedded worker announced, with its instance', async ({ page }) => {
  const workers = await apiOk<{ instances: { id: string; types: string[] }[] }>('GET', '/workers');
  const worker = workers.instances.find((i) => i.types.includes('noop'));
  expect(worker).toBeDefined();
  await login(page);
  await page.getByRole('link', { name: 'Task types' }).click();
  await expect(page.getByRole('heading', { name: 'Task types' })).toBeVisible();
  const row = page.locator('tr[data-type="noop"]');
  await expect(row).toContainText(worker!.id);
  const refused = await api<{ message: string }>('POST', '/tasks', { type: 'nobody_handles_this' });
  expect(refused.status).toBe(422);
  expect(refused.body.message).toContain("no worker has announced task type 'nobody_handles_this'");
});
