/** The cost of an open tab: at most one API call a second under any event rate,
 * compressed and long-cached assets, pages loaded on demand. */
import { expect, test } from '@playwright/test';
import { apiOk, baseURL, createTenant, expectLive, login } from './helpers';

test('a tab makes at most one API call a second during an event burst', async ({ page }) => {
  const { tenant } = await createTenant();
  await login(page);
  await page.goto(`${baseURL()}/`);
  await expectLive(page);
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();

  const calls: number[] = [];
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path.startsWith('/api/') && !path.startsWith('/api/sse/')) calls.push(Date.now());
  });
  let events = 0;
  await page.exposeFunction('__countEvent', () => {
    events += 1;
  });
  // Count the task events this tab receives, from its own stream.
  await page.evaluate(() => {
    const source = new EventSource('api/sse/events');
    source.addEventListener('task', () => (window as unknown as { __countEvent: () => void }).__countEvent());
  });

  const started = Date.now();
  const batch = await apiOk<{ items: { id: number }[] }>('POST', '/tasks/batch', {
    tasks: Array.from({ length: 400 }, (_, n) => ({ type: 'noop', tenant: tenant.name, payload: { n } })),
  });
  // The burst: every task runs (events for each), until all have succeeded.
  await expect
    .poll(async () => (await apiOk<{ total: number }>('GET', `/tasks/count?tenant=${tenant.name}&state=succeeded`)).total, { timeout: 30_000 })
    .toBe(batch.items.length);
  await expect.poll(() => events, { timeout: 10_000 }).toBeGreaterThanOrEqual(400);
  const seconds = (Date.now() - started) / 1000;
  const during = calls.filter((t) => t >= started).length;
  // One call a second, plus the one a tick may start at once.
  expect(during, `${during} API calls in ${seconds.toFixed(1)} s while ${events} events arrived`).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  expect(events).toBeGreaterThan(during * 5); // far more events than calls: they were coalesced
});

test('assets are gzip-compressed and cached for a year; pages load on demand', async ({ page, request }) => {
  const scripts: string[] = [];
  page.on('request', (req) => {
    if (req.resourceType() === 'script') scripts.push(new URL(req.url()).pathname);
  });
  await page.goto(`${baseURL()}/login`);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  const atLogin = new Set(scripts);
  const entry = [...atLogin].find((p) => p.startsWith('/assets/') && p.endsWith('.js'));
  expect(entry).toBeTruthy();

  const res = await request.get(`${baseURL()}${entry}`, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(res.headers()['content-encoding']).toBe('gzip');
  expect(res.headers()['cache-control']).toBe('public, max-age=31536000, immutable');

  await login(page);
  await page.goto(`${baseURL()}/analytics`);
  await expect(page.getByRole('heading', { level: 1, name: 'Analytics' })).toBeVisible();
  const later = scripts.filter((p) => !atLogin.has(p));
  expect(later.length, 'the analytics page brought its own code').toBeGreaterThan(0);
});
