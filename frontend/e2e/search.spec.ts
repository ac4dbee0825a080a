/**
 * Search in payload and last error against a real server holding a few thousand tasks:
 * a payload word and an error word each find their tasks, the total shown is the API's
 * count, and paging, a reload and a deep link keep the search.
 */
import { expect, test } from '@playwright/test';
import { api, apiOk, baseURL, createTenant, login } from './helpers';

const SEEDED = 3_000;
const BATCH = 1_000;

test('search finds tasks by payload and error words, counts them and keeps them over paging', async ({ page }) => {
  test.setTimeout(120_000);
  const { tenant } = await createTenant();
  await apiOk('POST', `/tenants/${tenant.name}/pause`); // nothing runs: the lists hold still
  // One word shared by one task in 50 (60 of them, two pages), one order number per task.
  const shared = `kangaroo${Date.now().toString(36)}`;
  const ids: number[] = [];
  for (let start = 0; start < SEEDED; start += BATCH) {
    const batch = await apiOk<{ items: { id: number }[] }>('POST', '/tasks/batch', {
      tasks: Array.from({ length: BATCH }, (_, k) => {
        const n = start + k;
        return {
          type: 'noop',
          tenant: tenant.name,
          payload: { order: `ORD-${700000 + n}`, note: n % 50 === 0 ? `${shared} parcel` : 'ordinary parcel' },
        };
      }),
    });
    ids.push(...batch.items.map((t) => t.id));
  }
  const withShared = ids.filter((_, n) => n % 50 === 0);
  expect(withShared).toHaveLength(SEEDED / 50);

  // A task of another tenant that dies with "RuntimeError: failed on purpose" as its last
  // error; its payload is empty, so only the error can match.
  const other = await createTenant();
  const doomed = await apiOk<{ id: number }>('POST', '/tasks', { type: 'fail', tenant: other.tenant.name, payload: {}, max_attempts: 1 });
  await expect
    .poll(async () => (await apiOk<{ state: string }>('GET', `/tasks/${doomed.id}`)).state, { timeout: 30_000 })
    .toBe('dead');

  await login(page);
  await page.goto(`${baseURL()}/tasks`);
  const rows = page.locator('tbody tr[data-task-id]');
  const status = page.getByTestId('pager-status');
  const box = page.getByLabel('Search payload and errors');

  // A payload word: newest first, the total from /api/tasks/count.
  await box.fill(shared);
  await expect(page).toHaveURL(new RegExp(`[?&]q=${shared}`));
  await expect(rows.first()).toHaveAttribute('data-task-id', String(withShared[withShared.length - 1]));
  const counted = await apiOk<{ total: number; exact: boolean }>('GET', `/tasks/count?q=${shared}`);
  expect(counted).toEqual({ total: withShared.length, exact: true });
  await expect(status).toHaveText(`Page 1 · 50 shown · ${counted.total} matching`);

  // Paging and a reload keep the search.
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page).toHaveURL(/page=2&cursor=/);
  await expect(status).toHaveText(`Page 2 · ${withShared.length - 50} shown · ${counted.total} matching`);
  await expect(rows.last()).toHaveAttribute('data-task-id', String(withShared[0]));
  await page.reload();
  await expect(box).toHaveValue(shared);
  await expect(status).toHaveText(`Page 2 · ${withShared.length - 50} shown · ${counted.total} matching`);

  // One order number finds its one task among the 3,000; a deep link with other filters.
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}&state=queued&q=ORD-701234`);
  await expect(status).toHaveText('Page 1 · 1 shown · 1 matching');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-task-id', String(ids[1234]));

  // An error word, on the dead letters page of that tenant.
  await page.goto(`${baseURL()}/dead-letters?tenant=${other.tenant.name}`);
  await page.getByLabel('Search payload and errors').fill('RuntimeErr');
  await expect(page).toHaveURL(/[?&]q=RuntimeErr/);
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-task-id', String(doomed.id));
  await expect(status).toHaveText('Page 1 · 1 shown · 1 matching');

  // The API refuses a search it cannot run, with a reason.
  const refused = await api<{ message: string }>('GET', '/tasks?q=ab');
  expect(refused.status).toBe(422);
  expect(refused.body.message).toMatch(/3 or more/);
});
