// Starts real peers for the MCP door's end-to-end tests: the countersign
// binary, server-everything over Streamable HTTP, and (spawned by the
// gateway itself) server-filesystem over stdio. Each Setup gets its own
// temporary directory; nothing is shared between test files.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BINARY = process.env.COUNTERSIGN_BINARY || join(ROOT, 'build', 'countersign');
const MODULES = join(ROOT, 'node_modules', '@modelcontextprotocol');
export const FILESYSTEM_SERVER = join(MODULES, 'server-filesystem', 'dist', 'index.js');
export const EVERYTHING_SERVER = join(MODULES, 'server-everything', 'dist', 'index.js');
export const FRAGILE_SERVER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fragile-server.mjs');

// The quickstart's demo keys (README.md): hashes only in the config.
export const AGENT = 'demo-agent-key';
export const ALICE = 'demo-alice-key';
export const BOB = 'demo-bob-key';
const IDENTITY = `
identity:
  api_keys:
    - {name: agent, key_sha256: 8cfbbed0d818a803eddf3db2193bd492460b2db9999d03775a023dd8f90d04a6, subject: "agent:deploy-bot", kind: agent, groups: [agents], on_behalf_of: dana@example.com}
    - {name: alice, key_sha256: 6e5d35a55b80d29164c5e6576b4dbe50836237a17b5b4af841b091e25f6132b4, subject: alice@example.com, kind: human, groups: [sre]}
    - {name: bob, key_sha256: e333787ace7ad5caeecbf0a3e6fe4fab78f03d12a1e10ca304a70bcb0591d23e, subject: bob@example.com, kind: human, groups: [sre-leads]}
`;

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
    server.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitForLine(child, pattern, what, timeoutMs = 20000) {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolveLine(match);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${seen}`));
    });
  });
}

export class Setup {
  constructor() {
    this.directory = mkdtempSync(join(tmpdir(), 'countersign-mcp-'));
    this.sandbox = join(this.directory, 'sandbox');
    mkdirSync(this.sandbox);
    this.children = [];
    this.gatewayOutput = [];
  }

  async start({ holdTimeout = '60s', shortHold = '2s' } = {}) {
    // server-everything over Streamable HTTP, with a fake secret in its environment.
    this.everythingPort = await freePort();
    const everything = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], {
      env: { ...process.env, PORT: String(this.everythingPort), FAKE_SERVICE_API_TOKEN: 'sk-live-abcdefghijklmnop1234' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(everything);
    await waitForLine(everything, /listening on port/, 'server-everything');

    const config = `
listen: 127.0.0.1:0
storage: {sqlite: gateway.db}
${IDENTITY}
targets:
  files:
    door: mcp
    hold_timeout: ${holdTimeout}
    mcp:
      stdio:
        command: ${JSON.stringify(process.execPath)}
        args: [${JSON.stringify(FILESYSTEM_SERVER)}, ${JSON.stringify(this.sandbox)}]
      progress_interval: 500ms
      allowed_origins: [http://localhost:6274]
  files-short:
    door: mcp
    hold_timeout: ${shortHold}
    mcp:
      stdio:
        command: ${JSON.stringify(process.execPath)}
        args: [${JSON.stringify(FILESYSTEM_SERVER)}, ${JSON.stringify(this.sandbox)}]
      deny_as: tool_error
  fragile:
    door: mcp
    mcp:
      stdio:
        command: ${JSON.stringify(process.execPath)}
        args: [${JSON.stringify(FRAGILE_SERVER)}]
        env: {FRAGILE_STARTS: env:COUNTERSIGN_E2E_FRAGILE_STARTS}
  everything:
    door: mcp
    mcp:
      http: {url: "http://127.0.0.1:${this.everythingPort}/mcp"}
      max_message_bytes: 65536
policy:
  default: deny
  rules:
    - id: fs-reads
      match: {door: mcp, target: [files, files-short], verb: ["tools/call:read_*", "tools/call:list_*", "tools/call:get_file_info", "tools/call:directory_tree", "tools/call:search_files"]}
      effect: allow
    - id: fs-no-media
      match: {door: mcp, verb: "tools/call:read_media_file"}
      effect: deny
      reason: Agents may not read media files
    - id: fs-writes
      match: {door: mcp, target: [files, files-short], verb: ["tools/call:write_file", "tools/call:edit_file", "tools/call:move_file"]}
      effect: review
      reason: File changes need an SRE
      review:
        steps: [{approvers: [group:sre], quorum: 1}]
        expires_after: 1h
    - id: fs-forbidden-path
      match: {door: mcp, verb: "tools/call:write_file"}
      when: "action.params.path.contains('forbidden')"
      effect: deny
      reason: Nothing may be written to forbidden paths
    - id: fragile-tools
      match: {door: mcp, target: fragile}
      effect: allow
    - id: everything-tools
      match: {door: mcp, target: everything, verb: ["tools/call:echo", "tools/call:get-sum", "tools/call:trigger-long-running-operation", "tools/call:get-structured-content", "tools/call:simulate-research-query"]}
      effect: allow
    - id: everything-env-masked
      match: {door: mcp, target: everything, verb: "tools/call:get-env"}
      effect: allow
      mask: default
`;
    this.configPath = join(this.directory, 'config.yaml');
    writeFileSync(this.configPath, config);
    this.fragileStarts = join(this.directory, 'fragile-starts');
    const gateway = spawn(BINARY, ['serve', '--config', this.configPath, '--listen', '127.0.0.1:0'], {
      env: { ...process.env, COUNTERSIGN_E2E_FRAGILE_STARTS: this.fragileStarts },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.gateway = gateway;
    this.children.push(gateway);
    gateway.stdout.on('data', (chunk) => this.gatewayOutput.push(chunk.toString()));
    gateway.stderr.on('data', (chunk) => this.gatewayOutput.push(chunk.toString()));
    const match = await waitForLine(gateway, /listening on (http:\/\/[0-9.:]+)/, 'countersign');
    this.url = match[1];
    return this;
  }

  async stop() {
    for (const child of this.children.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
      }
    }
    rmSync(this.directory, { recursive: true, force: true });
  }

  endpoint(target) {
    return `${this.url}/mcp/${target}`;
  }

  async client(target, token = AGENT, name = 'e2e') {
    const transport = new StreamableHTTPClientTransport(new URL(this.endpoint(target)), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
    await client.connect(transport);
    return { client, transport };
  }

  async api(method, path, token, body) {
    const response = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, body: json };
  }

  // The newest pending review for `verb`, waiting for it to appear.
  async pendingReview(verb, timeoutMs = 10000) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const { body } = await this.api('GET', '/v1/reviews?state=pending', ALICE);
      const found = (body.reviews || []).find((review) => review.action.verb === verb);
      if (found) return found;
      await sleep(100);
    }
    throw new Error(`no pending review for ${verb}`);
  }

  // Raw POST to the MCP endpoint, for what the SDK would never send.
  async raw(target, { body, headers = {}, token = AGENT, method = 'POST' } = {}) {
    const response = await fetch(this.endpoint(target), {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        ...headers,
      },
      body,
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, headers: response.headers, body: json };
  }

  async rawSession(target, token = AGENT, protocolVersion = '2025-06-18') {
    const init = await this.raw(target, {
      token,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    return { session: init.headers.get('mcp-session-id'), init };
  }
}
