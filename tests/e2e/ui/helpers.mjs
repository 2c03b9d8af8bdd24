// Shared by the web UI's browser tests: a real gateway on a free loopback
// port (the quickstart configuration in a temporary directory) and Debian's
// Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BINARY = process.env.COUNTERSIGN_BINARY || join(ROOT, 'build', 'countersign');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const KEYS = {
  agent: 'demo-agent-key', alice: 'demo-alice-key', bob: 'demo-bob-key', dana: 'demo-dana-key',
};

// Every child process this file starts, killed when the test process ends
// however it ends, so that `node --test` never waits on a stray gateway.
const children = new Set();
process.on('exit', () => { for (const child of children) child.kill('SIGKILL'); });

// Rejects with a clear message when `promise` takes longer than `ms`.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Starts a child process and waits for a line of its stdout to match
// `ready`; stop() ends it (SIGTERM, SIGKILL after 5 s) and waits for it.
export async function startProcess(command, args, ready, { what = command, env, timeout = 15000 } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, env: env ?? process.env });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const output = [];
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  let match;
  try {
    match = await new Promise((resolveMatch, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeout} ms: ${output.join('')}`)), timeout);
      lines.on('line', (line) => {
        output.push(line + '\n');
        const found = line.match(ready);
        if (found) { clearTimeout(timer); resolveMatch(found); }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (${code ?? signal}) before it was ready: ${output.join('')}`));
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    match,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => { child.once('exit', done); });
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// A free TCP port on loopback (for a peer that must know the gateway's
// address before the gateway starts).
export async function freePort() {
  const server = createServer();
  await new Promise((done) => { server.listen(0, '127.0.0.1', done); });
  const { port } = server.address();
  await new Promise((done) => { server.close(done); });
  return port;
}

// A gateway on the quickstart configuration in a temporary directory.
// `configure(yaml, directory)` may rewrite the configuration first.
export async function startGateway({ configure, port = 0 } = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'countersign-ui-'));
  mkdirSync(join(directory, 'secrets'));
  copyFileSync(join(ROOT, 'examples', 'secrets', 'deploy-token'), join(directory, 'secrets', 'deploy-token'));
  const config = join(directory, 'config.yaml');
  let yaml = readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8');
  if (configure) yaml = configure(yaml, directory);
  writeFileSync(config, yaml);
  let server;
  try {
    server = await startProcess(BINARY, ['serve', '--config', config, '--listen', `127.0.0.1:${port}`],
      /listening on (https?:\/\/[0-9.:]+)/, { what: 'the gateway' });
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const url = server.match[1];
  return {
    url,
    output: server.output,
    directory,
    async stop() {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
    // The API as a client with a key would use it; never waits longer than
    // `timeout` ms for an answer.
    async api(method, path, key, body, timeout = 90000) {
      const response = await fetch(url + path, {
        method,
        headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeout),
      });
      const text = await response.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: response.status, json, text };
    },
  };
}

// Playwright starts Chromium with a fresh temporary --user-data-dir each time
// and kills it when this process exits. Every action and wait of a page
// gives up after 15 s (with a message saying what it waited for).
export async function launchBrowser() {
  const browser = await chromium.launch({
    timeout: 30000,
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-dev-shm-usage'],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(15000);
    return context;
  };
  return browser;
}

// Closes the browser, and ends it by force when closing takes too long.
export async function closeBrowser(browser) {
  if (!browser) return;
  try {
    await withTimeout(browser.close(), 10000, 'closing Chromium');
  } catch {
    browser.process?.()?.kill('SIGKILL');
  }
}

// Signs in through the login page, as a person would.
export async function login(page, gatewayUrl, key, path = '/ui/') {
  await page.goto(gatewayUrl + path);
  await page.locator('#api-key').waitFor();
  await page.fill('#api-key', key);
  await page.press('#api-key', 'Enter');
  await page.locator('#who-name').filter({ hasText: /@/ }).waitFor();
}
