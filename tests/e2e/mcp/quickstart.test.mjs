// The quickstart configuration's MCP target, as shipped: the gateway fronts
// the official filesystem server on a sandbox; reads pass, writes and moves
// wait for an SRE. The config is copied to a temporary directory with its
// own sandbox, so the repository's examples/ stay untouched.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { AGENT, ALICE, BINARY, ROOT, sleep } from './harness.mjs';

const directory = mkdtempSync(join(tmpdir(), 'countersign-quickstart-mcp-'));
const sandbox = join(directory, 'sandbox');
let gateway;
let url;

before(async () => {
  mkdirSync(sandbox);
  writeFileSync(join(sandbox, 'hello.txt'), 'hello from the quickstart sandbox');
  cpSync(join(ROOT, 'examples', 'secrets'), join(directory, 'secrets'), { recursive: true });
  const config = readFileSync(join(ROOT, 'examples', 'quickstart.yaml'), 'utf8');
  assert.match(config, /\.\.\/node_modules\/@modelcontextprotocol\/server-filesystem/);
  writeFileSync(join(directory, 'quickstart.yaml'), config.replaceAll('../node_modules/', `${join(ROOT, 'node_modules')}/`));
  gateway = spawn(BINARY, ['serve', '--config', join(directory, 'quickstart.yaml'), '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await new Promise((resolve, reject) => {
    let seen = '';
    gateway.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/[0-9.:]+)/);
      if (match) resolve(match[1]);
    });
    gateway.on('exit', (code) => reject(new Error(`gateway exited ${code}: ${seen}`)));
  });
});

after(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway.once('exit', r));
    gateway.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
  }
  rmSync(directory, { recursive: true, force: true });
});

async function api(method, path, body) {
  const response = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${ALICE}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.json();
}

async function pending(verb) {
  for (let i = 0; i < 100; ++i) {
    const { reviews } = await api('GET', '/v1/reviews?state=pending');
    const found = (reviews || []).find((review) => review.action.verb === verb);
    if (found) return found;
    await sleep(100);
  }
  throw new Error(`no pending review for ${verb}`);
}

const text = (result) => (result.content || []).map((block) => block.text || '').join('\n');

test('quickstart: reads pass, writes and moves wait for an SRE', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp/files`), {
    requestInit: { headers: { Authorization: `Bearer ${AGENT}` } },
  });
  const client = new Client({ name: 'quickstart', version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(sandbox, 'hello.txt') } });
  assert.equal(text(read), 'hello from the quickstart sandbox');

  const path = join(sandbox, 'notes.txt');
  const write = client.callTool({ name: 'write_file', arguments: { path, content: 'written after approval' } }, undefined, {
    timeout: 60000,
  });
  const review = await pending('tools/call:write_file');
  assert.equal(review.action.target, 'files');
  await sleep(300);
  assert.ok(!existsSync(path));
  await api('POST', `/v1/reviews/${review.id}/approve`, { reason: 'demo' });
  const written = await write;
  assert.notEqual(written.isError, true, text(written));
  assert.equal(readFileSync(path, 'utf8'), 'written after approval');

  const move = client.callTool(
    { name: 'move_file', arguments: { source: path, destination: join(sandbox, 'moved.txt') } },
    undefined,
    { timeout: 60000 },
  );
  const moveReview = await pending('tools/call:move_file');
  await api('POST', `/v1/reviews/${moveReview.id}/reject`, { reason: 'keep it where it is' });
  const moved = await move;
  assert.equal(moved.isError, true);
  assert.ok(existsSync(path));
  assert.ok(!existsSync(join(sandbox, 'moved.txt')));
  await client.close();
});
