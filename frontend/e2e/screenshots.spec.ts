/**
 * Screenshots of every page for docs/images (run with `make screenshots`). Seeds demo
 * data and a few dead letters first so each page shows something real.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { apiOk, baseURL, expectLive, login } from './helpers';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'images');

async function shot(page: Page, name: string): Promise<void> {
  // No hover tooltips, and let charts finish their entry animation.
  await page.mouse.move(0, 0);
  await page.waitForTimeout(1200);
  await page.screenshot({ path: join(out, `${name}.png`) });
}

async function waitUntilDead(id: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await apiOk<{ state: string }>('GET', `/tasks/${id}`)).state !== 'dead') {
    if (Date.now() > deadline) throw new Error(`task ${id} never reached dead`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('captures every page', async ({ page }) => {
  test.setTimeout(180_000);
  mkdirSync(out, { recursive: true });

  await page.goto(`${baseURL()}/login`);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await shot(page, 'login');

  // A few dead letters first, so they are not stuck behind the demo backlog.
  const failing: { id: number }[] = [];
  for (const message of ['ConnectionError: upstream timed out', 'KeyError: customer_id', 'ValueError: image too large']) {
    failing.push(await apiOk<{ id: number }>('POST', '/tasks', { type: 'fail', max_attempts: 2, payload: { message, order: 1234 } }));
  }
  for (const t of failing) await waitUntilDead(t.id);
  await apiOk('POST', '/demo/seed', { count: 400 });
  await login(page);
  await expectLive(page);
  // Let the workers chew through part of the backlog so the charts have a shape.
  await page.waitForTimeout(20_000);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await shot(page, 'overview');
  await page.getByRole('button', { name: 'Switch to dark mode' }).click();
  await shot(page, 'overview-dark');
  await page.getByRole('button', { name: 'Switch to light mode' }).click();

  await page.goto(`${baseURL()}/tasks`);
  await expect(page.locator('tbody tr[data-task-id]').first()).toBeVisible();
  await shot(page, 'tasks');

  const detail = failing[0];
  if (detail) {
    await page.goto(`${baseURL()}/tasks/${detail.id}`);
    await expect(page.getByTestId('attempt').first()).toBeVisible();
    await page.getByTestId('traceback').first().locator('summary').click();
    await shot(page, 'task-detail');
  }

  await page.goto(`${baseURL()}/dead-letters`);
  await expect(page.locator('tbody tr[data-task-id]').first()).toBeVisible();
  await shot(page, 'dead-letters');

  await page.goto(`${baseURL()}/analytics`);
  await expect(page.getByRole('heading', { name: 'Analytics' })).toBeVisible();
  await shot(page, 'analytics');

  await page.goto(`${baseURL()}/workers`);
  await expect(page.getByTestId('worker-instance').first()).toBeVisible();
  await shot(page, 'workers');

  await apiOk('POST', '/tenants/demo-initech/pause');
  await page.goto(`${baseURL()}/tenants`);
  await expect(page.locator('tr[data-tenant]').first()).toBeVisible();
  await shot(page, 'tenants');

  await apiOk('POST', '/schedules', { name: 'nightly-report', type: 'generate_report', cron: '0 3 * * *', timezone: 'Europe/Paris' });
  await apiOk('POST', '/schedules', { name: 'sync-every-minute', type: 'sync_inventory', every_s: 60 });
  await apiOk('POST', '/schedules/sync-every-minute/trigger');
  await page.goto(`${baseURL()}/schedules`);
  await expect(page.locator('tbody tr').first()).toBeVisible();
  await shot(page, 'schedules');

  await apiOk('POST', '/keys', { role: 'reader', name: 'grafana' });
  await page.goto(`${baseURL()}/api-keys`);
  await expect(page.locator('tbody tr').first()).toBeVisible();
  await shot(page, 'api-keys');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${baseURL()}/tasks`);
  await expect(page.locator('tbody tr[data-task-id]').first()).toBeVisible();
  await shot(page, 'tasks-phone');
});
