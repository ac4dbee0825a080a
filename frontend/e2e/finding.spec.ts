/** Finding tasks: totals, sort either way, deep links that keep the page, type hints. */
import { expect, test } from '@playwright/test';
import { apiOk, baseURL, createTenant, login } from './helpers';

test('a list shows its total, keeps its page over a reload, and sorts either way', async ({ page }) => {
  const { tenant } = await createTenant();
  await apiOk('POST', `/tenants/${tenant.name}/pause`); // nothing runs: the list holds still
  const batch = await apiOk<{ items: { id: number }[] }>('POST', '/tasks/batch', {
    tasks: Array.from({ length: 120 }, (_, n) => ({ type: 'noop', tenant: tenant.name, payload: { n } })),
  });
  const ids = batch.items.map((t) => t.id).sort((a, b) => a - b);

  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  const rows = page.locator('tbody tr[data-task-id]');
  await expect(rows.first()).toHaveAttribute('data-task-id', String(ids[ids.length - 1]));
  await expect(page.getByTestId('pager-status')).toHaveText('Page 1 · 50 shown · 120 matching');

  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page).toHaveURL(/page=2&cursor=/);
  await expect(rows.first()).toHaveAttribute('data-task-id', String(ids[ids.length - 51]));
  await page.reload();
  await expect(page.getByTestId('pager-status')).toContainText('Page 2 · 50 shown');
  await expect(rows.first()).toHaveAttribute('data-task-id', String(ids[ids.length - 51]));

  // Oldest first: one click instead of paging to the end.
  await page.getByRole('combobox', { name: 'Sort' }).click();
  await page.getByRole('option', { name: 'Oldest first' }).click();
  await expect(page).toHaveURL(/sort=created/);
  await expect(page).not.toHaveURL(/cursor=/);
  await expect(rows.first()).toHaveAttribute('data-task-id', String(ids[0]));
  await expect(page.getByTestId('pager-status')).toHaveText('Page 1 · 50 shown · 120 matching');
});

test('a mistyped type says no such type is known, and the type picker offers the known ones', async ({ page }) => {
  await login(page);
  await page.goto(`${baseURL()}/tasks?type=nopp`);
  await expect(page.getByText(/No task type “nopp” is known here/)).toBeVisible();
  await page.getByRole('combobox', { name: 'Type' }).fill('noo');
  await expect(page.getByRole('option', { name: 'noop' })).toBeVisible();
});
