/** API keys managed from the dashboard, the read-only role, and running or deleting a scheduled task. */
import { expect, test } from '@playwright/test';
import { api, apiOk, baseURL, createTenant, login } from './helpers';

interface Task {
  id: number;
  state: string;
}

test('creates a reader key, which then sees everything and can change nothing, and revokes it', async ({ page, browser }) => {
  const { tenant } = await createTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name, delay_s: 3600 });
  await login(page);
  await page.goto(`${baseURL()}/api-keys`);
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create API key' });
  await dialog.getByLabel('Name').fill('e2e-watcher');
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const secret = ((await page.getByTestId('new-key-secret').textContent()) ?? '').trim();
  expect(secret).toMatch(/^sk_/);
  await page.getByRole('button', { name: 'Done' }).click();
  const row = page.locator('tr', { hasText: 'e2e-watcher' });
  await expect(row).toContainText('reader');
  await expect(row).toContainText('active');

  // The reader's view: every page, no action.
  const context = await browser.newContext();
  const reader = await context.newPage();
  await login(reader, secret);
  await expect(reader.getByTestId('identity')).toHaveText('reader (read-only)');
  await reader.goto(`${baseURL()}/tasks/${task.id}`);
  await expect(reader.getByRole('heading', { level: 1 })).toContainText(`Task #${task.id}`);
  await expect(reader.getByRole('button', { name: /Run now|Delete|Cancel task|Requeue task/ })).toHaveCount(0);
  await reader.goto(`${baseURL()}/tenants`);
  await expect(reader.locator(`tr[data-tenant="${tenant.name}"]`)).toBeVisible();
  await expect(reader.getByRole('button', { name: /^(Pause|Drain|Edit|Resume) / })).toHaveCount(0);
  await expect(reader.getByRole('button', { name: 'Create tenant' })).toHaveCount(0);
  await reader.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expect(reader.locator(`tr[data-task-id="${task.id}"]`)).toBeVisible();
  await expect(reader.getByRole('button', { name: /Cancel selected|Cancel all matching|Run task/ })).toHaveCount(0);
  await expect(reader.getByRole('checkbox', { name: `Select task ${task.id}` })).toHaveCount(0);
  await context.close();

  await row.getByRole('button', { name: /^Revoke key/ }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
  await expect(row).toContainText('revoked');
  expect((await api('GET', '/whoami', undefined, secret)).status).toBe(401);
});

test('runs a scheduled task now from its page', async ({ page }) => {
  const { tenant } = await createTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name, delay_s: 3600 });
  await login(page);
  await page.goto(`${baseURL()}/tasks/${task.id}`);
  await page.getByRole('button', { name: 'Run now' }).click();
  // It runs at once on the embedded worker instead of in an hour.
  await expect(page.getByTestId('attempt')).toHaveCount(1);
  await expect
    .poll(async () => (await apiOk<Task>('GET', `/tasks/${task.id}`)).state, { timeout: 15_000 })
    .toBe('succeeded');
});

test('deletes a scheduled task from its page after confirming, and returns to the list', async ({ page }) => {
  const { tenant } = await createTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name, delay_s: 3600 });
  await login(page);
  await page.goto(`${baseURL()}/tasks/${task.id}`);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('dialog', { name: `Delete task #${task.id}?` }).getByRole('button', { name: 'Delete task' }).click();
  await expect(page).toHaveURL(`${baseURL()}/tasks`);
  await expect(page.getByText(`Task #${task.id} deleted`)).toBeVisible();
  expect((await api('GET', `/tasks/${task.id}`)).status).toBe(404);
});

test('runs a scheduled task now from the task list', async ({ page }) => {
  const { tenant } = await createTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'noop', tenant: tenant.name, delay_s: 3600 });
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await page.locator(`tr[data-task-id="${task.id}"]`).getByRole('button', { name: `Run task ${task.id} now` }).click();
  await expect
    .poll(async () => (await apiOk<Task>('GET', `/tasks/${task.id}`)).state, { timeout: 15_000 })
    .toBe('succeeded');
  await expect(page.locator(`tr[data-task-id="${task.id}"]`)).toHaveAttribute('data-state', 'succeeded');
  await expect(page.getByRole('button', { name: `Run task ${task.id} now` })).toHaveCount(0);
});
