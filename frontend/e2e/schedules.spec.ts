import { expect, test } from '@playwright/test';
import { apiOk, baseURL, createTenant, login, uniqueName } from './helpers';

// Once a year: nothing fires on its own while a test runs, only what a test triggers.
const YEARLY = '0 0 1 1 *';

interface Task {
  id: number;
  schedule: string | null;
}

test('creates a schedule with a live preview, pauses, triggers, follows the task and deletes it', async ({ page }) => {
  const { tenant } = await createTenant();
  const name = uniqueName('sched');
  await login(page);
  await page.goto(`${baseURL()}/schedules`);
  await expect(page.getByRole('heading', { level: 1, name: 'Schedules' })).toBeVisible();
  await expect(page).toHaveTitle('Schedules · Skiplock');

  await page.getByRole('button', { name: 'Create schedule' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create schedule' });
  const preview = dialog.getByTestId('schedule-preview');
  // The default timing's next five fire times, from the server.
  await expect(preview.getByRole('listitem')).toHaveCount(5);
  const cron = dialog.getByRole('textbox', { name: /^Cron/ });
  await cron.fill('61 * * * *');
  // The server's complaint shows under the field it names, and the preview empties.
  await expect(cron).toHaveAttribute('aria-invalid', 'true');
  await expect(dialog.getByText('Bad minute')).toBeVisible();
  await expect(preview.getByRole('listitem')).toHaveCount(0);
  await cron.fill(YEARLY);
  await expect(cron).not.toHaveAttribute('aria-invalid', 'true');
  const zone = dialog.getByRole('textbox', { name: /^Time zone/ });
  await zone.fill('Mars/Olympus');
  await expect(zone).toHaveAttribute('aria-invalid', 'true');
  await expect(dialog.getByText(/unknown IANA time zone/)).toBeVisible();
  await zone.fill('Europe/Berlin');
  await expect(zone).not.toHaveAttribute('aria-invalid', 'true');
  await expect(preview.getByRole('listitem')).toHaveCount(5);
  await dialog.getByRole('textbox', { name: /^Name/ }).fill(name);
  await dialog.getByRole('combobox', { name: /^Task type/ }).fill('noop');
  await dialog.getByRole('textbox', { name: /^Tenant/ }).fill(tenant.name);
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  await expect(dialog).toBeHidden();

  const row = page.locator(`tr[data-schedule="${name}"]`);
  await expect(row).toContainText(tenant.name);
  await expect(row).toContainText(`${YEARLY} (Europe/Berlin)`);
  await expect(row).toHaveAttribute('data-enabled', 'true');
  await expect(row.getByTestId('next-run')).not.toHaveText('—');

  await row.getByRole('button', { name: `Pause ${name}` }).click();
  await expect(row).toHaveAttribute('data-enabled', 'false');
  await expect(row.getByTestId('next-run')).toHaveText('—');
  await row.getByRole('button', { name: `Resume ${name}` }).click();
  await expect(row).toHaveAttribute('data-enabled', 'true');

  await row.getByRole('button', { name: `Trigger ${name} now` }).click();
  const fired = page.getByTestId('triggered');
  await expect(fired).toContainText(name);
  const link = fired.getByRole('link', { name: /task #\d+/ });
  const id = Number((await link.textContent())?.replace(/\D/g, ''));
  const task = await apiOk<Task>('GET', `/tasks/${id}`);
  expect(task.schedule).toBe(name);

  // The task it fired names the schedule, on its page and on its row in the task list.
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${id}$`));
  await expect(page.getByTestId('task-schedule')).toHaveText(name);
  await page.goto(`${baseURL()}/tasks?tenant=${tenant.name}`);
  await expect(page.locator(`tr[data-task-id="${id}"]`).getByTestId('task-schedule')).toContainText(name);

  await page.goto(`${baseURL()}/schedules`);
  await row.getByRole('button', { name: `Delete ${name}` }).click();
  const confirm = page.getByRole('dialog', { name: `Delete schedule ${name}?` });
  await confirm.getByRole('button', { name: 'Delete schedule' }).click();
  await expect(row).toHaveCount(0);
  const left = await apiOk<{ items: { name: string }[] }>('GET', '/schedules');
  expect(left.items.map((s) => s.name)).not.toContain(name);
});

test('a tenant key sees only its tenant schedules; a reader key sees no actions', async ({ page }) => {
  const own = await createTenant();
  const other = await createTenant();
  const mine = uniqueName('mine');
  const theirs = uniqueName('theirs');
  await apiOk('POST', '/schedules', { name: mine, type: 'noop', tenant: own.tenant.name, cron: YEARLY });
  await apiOk('POST', '/schedules', { name: theirs, type: 'noop', tenant: other.tenant.name, cron: YEARLY });

  await login(page, own.api_key);
  await page.goto(`${baseURL()}/schedules`);
  await expect(page.locator(`tr[data-schedule="${mine}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-schedule="${theirs}"]`)).toHaveCount(0);
  await expect(page.getByRole('button', { name: `Pause ${mine}` })).toBeVisible();

  const reader = await apiOk<{ key: string }>('POST', '/keys', { role: 'reader', name: uniqueName('reader') });
  await page.context().clearCookies();
  await login(page, reader.key);
  await page.goto(`${baseURL()}/schedules`);
  const row = page.locator(`tr[data-schedule="${theirs}"]`);
  await expect(row).toBeVisible();
  await expect(page.locator(`tr[data-schedule="${mine}"]`)).toBeVisible();
  await expect(row.getByRole('button')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Create schedule' })).toHaveCount(0);
});
