/** Accessibility and small screens: axe-core on every page in both schemes, one h1 and a
 * title per page, and a usable 390 px layout. */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { apiOk, baseURL, createTenant, login } from './helpers';

interface Task {
  id: number;
  state: string;
}

async function deadTask(): Promise<number> {
  const { tenant } = await createTenant();
  const task = await apiOk<Task>('POST', '/tasks', { type: 'fail', tenant: tenant.name, max_attempts: 1, payload: { why: 'a11y' } });
  const deadline = Date.now() + 20_000;
  while ((await apiOk<Task>('GET', `/tasks/${task.id}`)).state !== 'dead') {
    if (Date.now() > deadline) throw new Error(`task ${task.id} did not die`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return task.id;
}

const PAGES: { path: (id: number) => string; title: string; heading: string | RegExp }[] = [
  { path: () => '/', title: 'Overview', heading: 'Overview' },
  { path: () => '/tasks', title: 'Tasks', heading: 'Tasks' },
  { path: (id) => `/tasks/${id}`, title: 'Task #', heading: /^Task #\d+/ },
  { path: () => '/dead-letters', title: 'Dead letters', heading: 'Dead letters' },
  { path: () => '/analytics', title: 'Analytics', heading: 'Analytics' },
  { path: () => '/workers', title: 'Workers', heading: 'Workers' },
  { path: () => '/task-types', title: 'Task types', heading: 'Task types' },
  { path: () => '/tenants', title: 'Tenants', heading: 'Tenants' },
  { path: () => '/api-keys', title: 'API keys', heading: 'API keys' },
  { path: () => '/schedules', title: 'Schedules', heading: 'Schedules' },
];

async function expectNoViolations(page: Page, where: string, within?: string): Promise<void> {
  let builder = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']);
  // A modal's backdrop dims the page behind it on purpose: check the dialog itself.
  if (within) builder = builder.include(within);
  const results = await builder.analyze();
  const found = results.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.any[0]?.message ?? ''}`).join(' | ')}`);
  expect(found, `axe violations on ${where}`).toEqual([]);
}

for (const scheme of ['light', 'dark'] as const) {
  test(`every page passes axe-core in ${scheme} mode, with one h1 and its own title`, async ({ page }) => {
    test.setTimeout(90_000);
    const id = await deadTask();
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(`${baseURL()}/login`);
    await expect(page).toHaveTitle('Sign in · Skiplock');
    await expectNoViolations(page, `/login (${scheme})`);
    await login(page);
    for (const p of PAGES) {
      await page.goto(`${baseURL()}${p.path(id)}`);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText(p.heading);
      await expect(page.getByRole('heading', { level: 1 })).toHaveCount(1);
      await expect(page).toHaveTitle(new RegExp(`^${p.title.replace('#', '#\\d*')}.* · Skiplock$`));
      // Let the first data arrive (bounded: the event stream never goes idle).
      await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => undefined);
      await expect(page.getByLabel(/Loading page/)).toHaveCount(0);
      if (p.path(id).startsWith('/tasks/')) {
        await page.getByTestId('traceback').first().locator('summary').click();
      }
      await expectNoViolations(page, `${p.path(id)} (${scheme})`);
    }
  });
}

test('confirm dialogs name their close button and focus the harmless choice first', async ({ page }) => {
  const { tenant } = await createTenant();
  await login(page);
  await page.goto(`${baseURL()}/tenants`);
  await page.locator(`tr[data-tenant="${tenant.name}"]`).getByRole('button', { name: `Pause ${tenant.name}` }).click();
  const dialog = page.getByRole('dialog', { name: `Pause ${tenant.name}?` });
  await expect(dialog.getByRole('button', { name: 'Close' })).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Keep as is' })).toBeFocused();
  await expectNoViolations(page, 'the pause dialog', '[role="dialog"]');
});

test('at 390 px the header fits and Sign out is reachable', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await login(page);
  for (const path of ['/', '/tasks', '/tenants']) {
    await page.goto(`${baseURL()}${path}`);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    const header = page.locator('header');
    const box = await header.boundingBox();
    expect(box?.width ?? 999).toBeLessThanOrEqual(390);
    const widest = await header.evaluate((el) => el.scrollWidth);
    expect(widest, `header content on ${path}`).toBeLessThanOrEqual(390);
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeInViewport();
  }
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
});
