/**
 * Starts one real engine for the whole run: `skiplock serve` on a free port, a fresh
 * SQLite file in a temp dir, and a random bootstrap admin key. Tests read the address
 * and key from the environment; the returned function stops the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess, logFile: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`skiplock serve exited with ${child.exitCode}; see ${logFile}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`skiplock serve did not become healthy within ${timeoutMs} ms; see ${logFile}`);
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(repo, 'engine', 'skiplock', 'web', 'static', 'index.html'))) {
    throw new Error('The dashboard is not built: run `make frontend-build` first.');
  }
  const binary = process.env.SKIPLOCK_BIN ?? join(repo, '.venv', 'bin', 'skiplock');
  const dir = mkdtempSync(join(tmpdir(), 'skiplock-e2e-'));
  const port = await freePort();
  const adminKey = `sk_e2eadmin_${randomBytes(16).toString('hex')}`;
  const logFile = join(dir, 'serve.log');
  const log = openSync(logFile, 'a');

  const child = spawn(binary, ['serve'], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      SKIPLOCK_DATABASE_URL: `sqlite:///${join(dir, 'e2e.db')}`,
      SKIPLOCK_ADMIN_KEY: adminKey,
      SKIPLOCK_PORT: String(port),
      SKIPLOCK_HOST: '127.0.0.1',
      SKIPLOCK_WORKERS: '4',
      // Like `make run`: the suite seeds and clears demo data from the header.
      SKIPLOCK_DEMO: 'true',
    },
  });

  const baseURL = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => {
        const timer = setTimeout(() => {
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
          r(undefined);
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          r(undefined);
        });
      });
    }
    if (!process.env.E2E_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  };

  try {
    // Ready, not just alive: serve answers /api/health while it still waits for its database.
    await waitForHealth(`${baseURL}/api/ready`, child, logFile);
  } catch (err) {
    process.env.E2E_KEEP_TMP = '1';
    await stop();
    throw err;
  }
  try {
    // The screenshots for the docs show the demo data alone.
    if (process.env.E2E_BACKGROUND !== '0') await seedBackground(baseURL, adminKey);
  } catch (err) {
    process.env.E2E_KEEP_TMP = '1';
    await stop();
    throw err;
  }
  process.env.E2E_BASE_URL = baseURL;
  process.env.E2E_ADMIN_KEY = adminKey;
  process.env.E2E_SERVER_LOG = logFile;
  return stop;
}

/** Tasks every spec runs beside, as on a server in use. */
export const BACKGROUND = { tenant: 'e2e-background', tasks: 3_000, dead: 60 };

/**
 * Every spec runs against a server that already holds thousands of tasks (issue: pages,
 * counts and paging proven at that size, not on an empty database): 3,000 in tenant
 * `e2e-background`, of which 60 die (dead letters with an error). The setup waits until
 * all have finished, so no spec sees their live events.
 */
async function seedBackground(baseURL: string, adminKey: string): Promise<void> {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${baseURL}/api${path}`, {
      method,
      headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`seeding: ${method} ${path} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const { tenant, tasks, dead } = BACKGROUND;
  await call('POST', '/tenants', { name: tenant });
  const every = Math.floor(tasks / dead);
  for (let start = 0; start < tasks; start += 1_000) {
    await call('POST', '/tasks/batch', {
      tasks: Array.from({ length: 1_000 }, (_, k) => {
        const n = start + k;
        return n % every === 0
          ? { type: 'fail', tenant, payload: { order: `BG-${n}` }, max_attempts: 1 }
          : { type: 'noop', tenant, payload: { order: `BG-${n}` } };
      }),
    });
  }
  const unfinished = `/tasks/count?tenant=${tenant}&state=scheduled,queued,running,retrying`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { total } = (await call('GET', unfinished)) as { total: number };
    if (total === 0) break;
    if (Date.now() > deadline) throw new Error(`seeding: ${total} background tasks still unfinished after 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
