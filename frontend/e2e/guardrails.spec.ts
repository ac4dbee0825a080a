/** Destructive actions say what they touch and ask first; bad input is refused, not clamped. */
import { expect, test } from '@playwright/test';
import { api, apiOk, baseURL, createTenant, login } from './helpers';

test('pausing and draining a tenant ask first and show the tasks it holds', async ({ page }) => {
  const { tenant } = await createTenant();
  // Scheduled an hour ahead: they stay put, so the count the dialog shows is exact.
  for (let i = 0; i < 3; i += 1) await apiOk('POST', '/tasks', { type: 'noop', tenant: tenant.name, delay_s: 3600 });
  await login(page);
  await page.goto(`${baseURL()}/tenants`);
  const row = page.locator(`tr[data-tenant="${tenant.name}"]`);
  await expect(row).toContainText('active');

  await row.getByRole('button', { name: `Pause ${tenant.name}` }).click();
  const pause = page.getByRole('dialog', { name: `Pause ${tenant.name}?` });
  await expect(pause.getByTestId('tenant-impact')).toContainText(`${tenant.name} has 0 queued, 3 scheduled, 0 retrying and 0 running tasks now.`);
  await expect(pause.getByRole('button', { name: 'Keep as is' })).toBeFocused();
  await pause.getByRole('button', { name: 'Keep as is' }).click();
  await expect(pause).toBeHidden();
  expect((await apiOk<{ state: string }>('GET', `/tenants/${tenant.name}`)).state).toBe('active');

  await row.getByRole('button', { name: `Drain ${tenant.name}` }).click();
  const drain = page.getByRole('dialog', { name: `Drain ${tenant.name}?` });
  await expect(drain).toContainText('New tasks for this tenant will be refused');
  await drain.getByRole('button', { name: 'Drain tenant' }).click();
  await expect(row).toContainText('draining');
  expect((await apiOk<{ state: string }>('GET', `/tenants/${tenant.name}`)).state).toBe('draining');
});

test('a weight out of range is refused with a message, in the form and by the server', async ({ page }) => {
  const { tenant } = await createTenant();
  await login(page);
  await page.goto(`${baseURL()}/tenants`);
  await page.locator(`tr[data-tenant="${tenant.name}"]`).getByRole('button', { name: `Edit ${tenant.name}` }).click();
  const dialog = page.getByRole('dialog', { name: `Edit ${tenant.name}` });
  const weight = dialog.getByRole('textbox', { name: 'Weight' });
  await weight.fill('5000');
  await weight.blur();
  await expect(weight).toHaveValue('5000'); // not clamped to 1000
  await expect(dialog).toContainText('Weight must be a whole number from 1 to 1000 (got 5000)');
  await expect(dialog.getByRole('button', { name: 'Save' })).toBeDisabled();
  // The server refuses it too, rather than clamping, and changes nothing.
  const refused = await api<{ message: string }>('PATCH', `/tenants/${tenant.name}`, { weight: 5000 });
  expect(refused.status).toBe(422);
  expect((await apiOk<{ weight: number }>('GET', `/tenants/${tenant.name}`)).weight).toBe(2);
});

test('clearing demo tasks asks first with the number it will delete', async ({ page }) => {
  await apiOk('POST', '/demo/seed', { count: 40 });
  const before = await apiOk<{ deleted: number }>('POST', '/demo/clear', { dry_run: true });
  expect(before.deleted).toBeGreaterThanOrEqual(40);
  await login(page);
  await page.getByRole('button', { name: 'Demo data' }).click();
  await page.getByRole('menuitem', { name: /Clear demo tasks/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Clear demo tasks' });
  const count = before.deleted.toLocaleString('en');
  await expect(dialog.getByTestId('demo-clear-preview')).toContainText(`${count} tasks of the demo tenants`);
  await dialog.getByRole('button', { name: `Delete ${count} tasks` }).click();
  await expect(page.getByText(`Removed ${count} demo tasks`)).toBeVisible();
  expect((await apiOk<{ deleted: number }>('POST', '/demo/clear', { dry_run: true })).deleted).toBe(0);
});
