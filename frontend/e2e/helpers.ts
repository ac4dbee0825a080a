import { expect, type Page } from '@playwright/test';

export function baseURL(): string {
  const url = process.env.E2E_BASE_URL;
  if (!url) throw new Error('E2E_BASE_URL is unset: global-setup did not run');
  return url;
}

export function adminKey(): string {
  const key = process.env.E2E_ADMIN_KEY;
  if (!key) throw new Error('E2E_ADMIN_KEY is unset: global-setup did not run');
  return key;
}

/** Calls the engine's API directly, as a client program would. */
export async function api<T = unknown>(method: string, path: string, body?: unknown, key = adminKey()): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseURL()}/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

export async function apiOk<T = unknown>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const res = await api<T>(method, path, body, key);
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export interface CreatedTenant {
  tenant: { name: string };
  api_key: string;
}

let counter = 0;
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}${counter}`;
}

export async function createTenant(name = uniqueName('e2e')): Promise<CreatedTenant> {
  return apiOk<CreatedTenant>('POST', '/tenants', { name, weight: 2 });
}

export async function login(page: Page, key = adminKey()): Promise<void> {
  await page.goto(`${baseURL()}/login`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('identity')).toBeVisible();
}

export async function expectLive(page: Page): Promise<void> {
  await expect(page.getByTestId('connection-status')).toHaveText('Live');
}
