// Starts the real plansmith binary for the tests: a fresh SQLite database in a temp folder,
// an OS-chosen port, the web app from web/dist-e2e (the production build plus the test hooks,
// `npm run build:e2e`). The binary prints its address first thing.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** `metrics.token` of the test servers: /metrics answers to it as a bearer token. */
export const METRICS_TOKEN = 'e2e-metrics-token-0123456789';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(webDir, '..');

export function binaryPath(): string {
  const fromEnv = process.env.PLANSMITH_BIN;
  if (fromEnv) return isAbsolute(fromEnv) ? fromEnv : resolve(repoRoot, fromEnv);
  const target = process.env.CARGO_TARGET_DIR ?? 'target';
  return resolve(repoRoot, target, 'debug', 'plansmith');
}

export interface RunningServer {
  url: string;
  /** The folder holding the database (kept by `stop({ keepData: true })`). */
  dataDir: string;
  stop(options?: { keepData?: boolean }): Promise<void>;
  logs(): string;
}

export interface ServerOptions {
  tokensPerSecond?: number;
  /** Reuse a database folder (to restart a server with the same data). */
  dataDir?: string;
  /** host:port to listen on; default an OS-chosen port. */
  listen?: string;
  /** More `PLANSMITH_*` settings for this server (another support contact, other limits). */
  settings?: Record<string, string>;
}

/** The e2e build: what web/dist has, plus the hooks the tests drive streams with. */
const e2eWebDir = join(webDir, 'dist-e2e');

/** The environment the binary runs with against the database in `dir`: the server and the
 * operator commands (`plansmith users …`) alike. */
function settingsEnv(dir: string): NodeJS.ProcessEnv {
  return {
    // PLANSMITH_BIN is ours, not a setting: the binary rejects unknown PLANSMITH_* keys.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'PLANSMITH_BIN')),
    PLANSMITH_DATABASE_URL: `sqlite://${join(dir, 'db.sqlite')}`,
  };
}

/** Runs an operator command (`plansmith <args>`) on the server's database, with the
 * environment the server has; resolves to what it printed. */
export async function operatorCommand(server: RunningServer, args: string[], timeout = 60_000): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(binaryPath(), args, { cwd: repoRoot, env: settingsEnv(server.dataDir), timeout });
}

/** Gives an account a role the way an operator does: `plansmith users set-role EMAIL ROLE`
 * on the server's database (it takes effect on the account's next request). */
export async function setRole(server: RunningServer, email: string, role: 'admin' | 'member'): Promise<void> {
  await operatorCommand(server, ['users', 'set-role', email, role], 30_000);
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  if (!existsSync(join(e2eWebDir, 'index.html'))) {
    throw new Error(`${e2eWebDir} is missing: build the app for the tests first (npm run build:e2e in web/)`);
  }
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'plansmith-e2e-'));
  const child: ChildProcess = spawn(binaryPath(), ['serve'], {
    cwd: repoRoot,
    env: {
      ...settingsEnv(dir),
      PLANSMITH_LISTEN: options.listen ?? '127.0.0.1:0',
      PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND: String(options.tokensPerSecond ?? 60),
      PLANSMITH_LOG__FORMAT: 'pretty',
      PLANSMITH_LOG__LEVEL: process.env.PLANSMITH_LOG__LEVEL ?? 'warn',
      // Serve the e2e build from disk, whatever the binary embedded.
      PLANSMITH_HTTP__WEB_DIR: e2eWebDir,
      PLANSMITH_SHUTDOWN__GRACE_SECONDS: '1',
      // The Web Vitals test reads /metrics on the main listener with this token.
      PLANSMITH_METRICS__TOKEN: METRICS_TOKEN,
      // Every test registers its own accounts from 127.0.0.1.
      PLANSMITH_AUTH__SIGNUPS_PER_ADDRESS_PER_HOUR: '100000',
      PLANSMITH_AUTH__SIGNUPS_PER_MINUTE: '100000',
      // Test accounts never verify their email; the unverified budget has API tests of its own.
      PLANSMITH_LLM__BUDGETS__UNVERIFIED__MONTHLY_TOKENS: '1000000000',
      ...options.settings,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d) => {
    log += String(d);
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`plansmith did not start within 30 s:\n${log}`)), 30_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${binaryPath()}: ${e.message} (set PLANSMITH_BIN)`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`plansmith exited with ${code} before listening:\n${log}`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      log += `${line}\n`;
      const m = /running at (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1].replace(/\/$/, ''));
      }
    });
  });
  return {
    url,
    dataDir: dir,
    logs: () => log,
    async stop(stopOptions = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      if (!stopOptions.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}
