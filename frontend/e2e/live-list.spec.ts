/** The live list does not fight the reader: new rows are announced, selections are kept
 * by id across updates and pages, and live updates can be paused. */
import { expect, test } from '@playwright/test';
import { apiOk, baseURL, createTenant, expectLive, login } from './helpers';

async function submit(tenant: string, n: number): Promise<number[]> {
  const batch = await apiOk<{ items: { id: number }[] }>('POST', '/tasks/batch', {
    tasks: Array.from({ length: n }, (_, i) => ({ type: 'noop', tenant, payload: { i } })),
  });
  return batch.items.map((t) => t.id);
}

test('new tasks are announced rather than pushing the rows down, and ticks survive paging', async ({ page }) => {
  const { tenant } = await createTenant();
  await apiOk('POST', `/tenants/${tenant.name}/pause`); // nothing runs: only arrivals change the list
  const first = await submit(tenant.name, 55);
  const top = Math.max(...first);
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expectLive(page);
  const rows = page.locator('tbody tr[data-task-id]');
  await expect(rows.first()).toHaveAttribute('data-task-id', String(top));

  await page.getByRole('checkbox', { name: `Select task ${top}` }).check();
  const arrived = await submit(tenant.name, 3);
  await expect(page.getByTestId('new-rows')).toHaveText('3 new — show');
  await expect(rows.first()).toHaveAttribute('data-task-id', String(top)); // not shifted
  await expect(page.getByRole('checkbox', { name: `Select task ${top}` })).toBeChecked();

  // Ticks are kept by id across pages.
  await page.getByRole('button', { name: 'Next' }).click();
  const onPage2 = [...first].sort((a, b) => b - a)[50];
  await expect(rows.first()).toHaveAttribute('data-task-id', String(onPage2));
  await page.getByRole('checkbox', { name: `Select task ${onPage2}` }).check();
  await expect(page.getByTestId('selection-note')).toContainText('1 of them on other pages');
  await expect(page.getByText('2 selected')).toBeVisible();
  await page.getByRole('button', { name: 'First' }).click();
  await expect(page.getByRole('checkbox', { name: `Select task ${top}` })).toBeChecked();

  await page.getByTestId('new-rows').click();
  await expect(rows.first()).toHaveAttribute('data-task-id', String(Math.max(...arrived)));
  await expect(page.getByTestId('new-rows')).toHaveCount(0);
});

test('live updates can be paused and resumed', async ({ page }) => {
  const { tenant } = await createTenant();
  await apiOk('POST', `/tenants/${tenant.name}/pause`);
  const ids = await submit(tenant.name, 2);
  await login(page);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expectLive(page);
  const rows = page.locator('tbody tr[data-task-id]');
  await expect(rows).toHaveCount(2);
  await page.getByRole('button', { name: 'Pause live updates' }).click();
  await expect(page.getByTestId('live-paused')).toBeVisible();
  // A cancellation is reported in place (state), but nothing is refetched while paused.
  await apiOk('POST', `/tasks/${ids[0]}/cancel`);
  await expect(page.locator(`tr[data-task-id="${ids[0]}"]`)).toContainText('cancelled');
  await submit(tenant.name, 4);
  await page.getByRole('button', { name: 'Resume live updates' }).click();
  await expect(page.getByTestId('new-rows')).toHaveText('4 new — show');
  await expect(rows).toHaveCount(2);
});

test('dead letters announce new rows and can be paused, as the task list does', async ({ page }) => {
  const { tenant } = await createTenant();
  const fail = (n: number) =>
    apiOk<{ items: { id: number }[] }>('POST', '/tasks/batch', {
      tasks: Array.from({ length: n }, (_, i) => ({ type: 'fail', tenant: tenant.name, max_attempts: 1, payload: { i } })),
    }).then((b) => b.items.map((t) => t.id));
  const dead = async (ids: number[]) =>
    expect
      .poll(async () => (await apiOk<{ total: number }>('GET', `/tasks/count?tenant=${tenant.name}&state=dead`)).total, { timeout: 15_000 })
      .toBe(ids.length);
  const first = await fail(1);
  await dead(first);
  await login(page);
  await page.goto(`${baseURL()}/dead-letters?tenant=${tenant.name}`);
  await expectLive(page);
  const rows = page.locator('tbody tr[data-task-id]');
  await expect(rows).toHaveCount(1);

  const later = await fail(2);
  await dead([...first, ...later]);
  await expect(page.getByTestId('new-rows')).toHaveText('2 new — show');
  await expect(rows).toHaveCount(1); // not pushed in under the reader
  await page.getByRole('button', { name: 'Pause live updates' }).click();
  await expect(page.getByTestId('live-paused')).toBeVisible();
  await page.getByRole('button', { name: 'Resume live updates' }).click();
  await page.getByTestId('new-rows').click();
  await expect(rows.first()).toHaveAttribute('data-task-id', String(Math.max(...later)));
  await expect(rows).toHaveCount(3);
});
