// Shared by the web UI's browser tests: a real gateway on a free loopback
// port (the quickstart configuration in a temporary directory) and Debian's
// Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BINARY = process.env.COUNTERSIGN_BINARY || join(ROOT, 'build', 'countersign');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const KEYS = {
  agent: 'demo-agent-key', alice: 'demo-alice-key', bob: 'demo-bob-key', dana: 'demo-dana-key',
};

export async function startGateway() {
  const directory = mkdtempSync(join(tmpdir(), 'countersign-ui-'));
  mkdirSync(join(directory, 'secrets'));
  copyFileSync(join(ROOT, 'examples', 'secrets', 'deploy-token'), join(directory, 'secrets', 'deploy-token'));
  const config = join(directory, 'config.yaml');
  writeFileSync(config, readFileSync(join(ROOT, 'examples', 'quickstart.yaml')));
  const child = spawn(BINARY, ['serve', '--config', config, '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error('gateway did not start: ' + output.join(''))), 15000);
    lines.on('line', (line) => {
      output.push(line);
      const match = line.match(/listening on (http:\/\/[0-9.:]+)/);
      if (match) { clearTimeout(timer); resolveUrl(match[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`gateway exited ${code}: ${output.join('\n')}`)); });
  });
  return {
    url,
    output,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((done) => { if (child.exitCode !== null) done(); else child.once('exit', done); });
      rmSync(directory, { recursive: true, force: true });
    },
    // The API as a client with a key would use it.
    async api(method, path, key, body) {
      const response = await fetch(url + path, {
        method,
        headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: response.status, json, text };
    },
  };
}

// Playwright starts Chromium with a fresh temporary --user-data-dir each time.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-dev-shm-usage'],
  });
}

// Signs in through the login page, as a person would.
export async function login(page, gatewayUrl, key, path = '/ui/') {
  await page.goto(gatewayUrl + path);
  await page.locator('#api-key').waitFor();
  await page.fill('#api-key', key);
  await page.press('#api-key', 'Enter');
  await page.locator('#who-name').filter({ hasText: /@/ }).waitFor();
}
