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
  process.env.E2E_BASE_URL = baseURL;
  process.env.E2E_ADMIN_KEY = adminKey;
  process.env.E2E_SERVER_LOG = logFile;
  return stop;
}
