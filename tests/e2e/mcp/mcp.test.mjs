// End-to-end tests of the MCP door with real peers: the official
// TypeScript SDK client talks to countersign, which fronts
// server-filesystem (stdio, spawned by the gateway) and server-everything
// (Streamable HTTP). Run: node --test tests/e2e/mcp/
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, CreateTaskResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

import { AGENT, ALICE, BINARY, BOB, Setup, sleep } from './harness.mjs';

const setup = new Setup();
before(async () => {
  await setup.start({ holdTimeout: '60s', shortHold: '2s' });
});
after(async () => {
  await setup.stop();
});

function text(result) {
  return (result.content || []).map((block) => block.text || '').join('\n');
}

describe('sessions and initialization', () => {
  test('the SDK client initializes with 2025-11-25 and gets a session', async () => {
    const { client, transport } = await setup.client('files');
    assert.ok(transport.sessionId, 'Mcp-Session-Id was returned');
    assert.equal(client.getServerVersion().name, 'secure-filesystem-server');
    assert.ok(client.getServerCapabilities().tools);
    await client.ping();
    await client.close();
  });

  test('2025-06-18 is negotiated when asked; unknown versions get the newest', async () => {
    const { init } = await setup.rawSession('files', AGENT, '2025-06-18');
    assert.equal(init.status, 200);
    assert.equal(init.body.result.protocolVersion, '2025-06-18');
    const { init: other } = await setup.rawSession('files', AGENT, '1999-01-01');
    assert.equal(other.body.result.protocolVersion, '2025-11-25');
  });

  test('requests need a session; another identity cannot use it; DELETE ends it', async () => {
    const { session } = await setup.rawSession('files');
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
    const missing = await setup.raw('files', { body: ping });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, -32600);
    const ok = await setup.raw('files', { body: ping, headers: { 'Mcp-Session-Id': session } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { jsonrpc: '2.0', id: 2, result: {} });
    const stolen = await setup.raw('files', { body: ping, token: ALICE, headers: { 'Mcp-Session-Id': session } });
    assert.equal(stolen.status, 404);
    const deleted = await setup.raw('files', { method: 'DELETE', headers: { 'Mcp-Session-Id': session } });
    assert.equal(deleted.status, 200);
    const after = await setup.raw('files', { body: ping, headers: { 'Mcp-Session-Id': session } });
    assert.equal(after.status, 404);
  });

  test('authentication, Origin and MCP-Protocol-Version are checked', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const anonymous = await setup.raw('files', { body, token: null });
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate'), /Bearer/);
    const wrong = await setup.raw('files', { body, token: 'not-a-key' });
    assert.equal(wrong.status, 401);
    const evil = await setup.raw('files', { body, headers: { Origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
    const { session } = await setup.rawSession('files');
    const inspector = await setup.raw('files', {
      body,
      headers: { Origin: 'http://localhost:6274', 'Mcp-Session-Id': session },
    });
    assert.equal(inspector.status, 200);
    const badVersion = await setup.raw('files', {
      body,
      headers: { 'MCP-Protocol-Version': '1999-01-01', 'Mcp-Session-Id': session },
    });
    assert.equal(badVersion.status, 400);
    const unknownTarget = await setup.raw('nope', { body });
    assert.equal(unknownTarget.status, 404);
  });

  test('GET opens the standalone stream; a second one conflicts', async () => {
    const { session } = await setup.rawSession('files');
    const controller = new AbortController();
    const stream = await fetch(setup.endpoint('files'), {
      headers: { Authorization: `Bearer ${AGENT}`, Accept: 'text/event-stream', 'Mcp-Session-Id': session },
      signal: controller.signal,
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type'), /text\/event-stream/);
    const second = await fetch(setup.endpoint('files'), {
      headers: { Authorization: `Bearer ${AGENT}`, Accept: 'text/event-stream', 'Mcp-Session-Id': session },
    });
    assert.equal(second.status, 409);
    controller.abort();
  });
});

describe('malformed input gets JSON-RPC errors', () => {
  test('parse errors, invalid requests, batches, unknown methods, huge messages', async () => {
    const { session } = await setup.rawSession('files');
    const headers = { 'Mcp-Session-Id': session };
    const parse = await setup.raw('files', { body: '{"jsonrpc": "2.0", "id": 1, "method": ', headers });
    assert.equal(parse.status, 400);
    assert.equal(parse.body.error.code, -32700);
    assert.equal(parse.body.id, null);
    const invalid = await setup.raw('files', { body: JSON.stringify({ jsonrpc: '1.0', id: 5, method: 'x' }), headers });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.error.code, -32600);
    assert.equal(invalid.body.id, 5);
    const notObject = await setup.raw('files', { body: '"hello"', headers });
    assert.equal(notObject.body.error.code, -32600);
    const batch = await setup.raw('files', {
      body: JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'ping' }]),
      headers,
    });
    assert.equal(batch.status, 400);
    assert.equal(batch.body.error.code, -32600);
    const unknown = await setup.raw('files', { body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'no/such' }), headers });
    assert.equal(unknown.status, 200);
    assert.equal(unknown.body.id, 9);
    assert.equal(unknown.body.error.code, -32601);
    const noName = await setup.raw('files', {
      body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { arguments: {} } }),
      headers,
    });
    assert.equal(noName.body.error.code, -32602);
    const huge = await setup.raw('everything', { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(100000) } }) });
    assert.equal(huge.status, 413);
    const wrongType = await setup.raw('files', { body: '{}', headers: { ...headers, 'Content-Type': 'text/plain' } });
    assert.equal(wrongType.status, 415);
    // The gateway still serves after all that.
    const ping = await setup.raw('files', { body: JSON.stringify({ jsonrpc: '2.0', id: 11, method: 'ping' }), headers });
    assert.equal(ping.status, 200);
  });
});

describe('governed tool calls (filesystem over stdio)', () => {
  test('tools/list hides outright denied tools and marks reviewed ones', async () => {
    const { client } = await setup.client('files');
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    assert.ok(names.includes('read_text_file'));
    assert.ok(names.includes('write_file'));
    assert.ok(!names.includes('read_media_file'), 'denied outright');
    assert.ok(!names.includes('create_directory'), 'default deny, no rule allows it');
    const write = tools.find((tool) => tool.name === 'write_file');
    assert.match(write.description, /approval/);
    await client.close();
  });

  test('an allowed call passes through', async () => {
    writeFileSync(join(setup.sandbox, 'hello.txt'), 'hello from the sandbox');
    const { client } = await setup.client('files');
    const result = await client.callTool({ name: 'read_text_file', arguments: { path: join(setup.sandbox, 'hello.txt') } });
    assert.equal(text(result), 'hello from the sandbox');
    await client.close();
  });

  test('a denied call never reaches the server', async () => {
    const { client } = await setup.client('files');
    const target = join(setup.sandbox, 'forbidden.txt');
    await assert.rejects(
      client.callTool({ name: 'write_file', arguments: { path: target, content: 'nope' } }),
      (error) => {
        assert.ok(error instanceof McpError);
        assert.equal(error.code, -32003);
        assert.match(error.message, /fs-forbidden-path/);
        return true;
      },
    );
    const directory = join(setup.sandbox, 'made-by-agent');
    await assert.rejects(client.callTool({ name: 'create_directory', arguments: { path: directory } }), /denied/);
    await sleep(300);
    assert.ok(!existsSync(target), 'no file was written');
    assert.ok(!existsSync(directory), 'no directory was made');
    await client.close();
  });

  test('deny_as: tool_error answers with a tool error result', async () => {
    const { client } = await setup.client('files-short');
    const result = await client.callTool({ name: 'create_directory', arguments: { path: join(setup.sandbox, 'x') } });
    assert.equal(result.isError, true);
    assert.match(text(result), /denied/);
    assert.ok(!existsSync(join(setup.sandbox, 'x')));
    await client.close();
  });

  test('a reviewed call is held with progress, approved, and runs with exactly the approved content', async () => {
    const { client } = await setup.client('files');
    const path = join(setup.sandbox, 'approved.txt');
    const progress = [];
    const call = client.callTool({ name: 'write_file', arguments: { path, content: 'exactly this' } }, undefined, {
      onprogress: (update) => progress.push(update),
      timeout: 60000,
    });
    const review = await setup.pendingReview('tools/call:write_file');
    assert.equal(review.action.door, 'mcp');
    assert.equal(review.action.target, 'files');
    await sleep(700);
    assert.ok(!existsSync(path), 'nothing written while pending');
    assert.ok(progress.length >= 1, 'progress notifications arrived');
    assert.match(progress[0].message, new RegExp(review.id));
    assert.match(progress[0].message, /\/v1\/reviews\//);
    // The agent's own principal cannot approve; a human SRE can.
    const { status } = await setup.api('POST', `/v1/reviews/${review.id}/approve`, AGENT, {});
    assert.equal(status, 403);
    const approved = await setup.api('POST', `/v1/reviews/${review.id}/approve`, ALICE, { reason: 'ok' });
    assert.equal(approved.status, 200);
    const result = await call;
    assert.notEqual(result.isError, true, text(result));
    assert.match(text(result), /Successfully wrote/);
    assert.equal(readFileSync(path, 'utf8'), 'exactly this');
    assert.equal(result._meta.countersign.review_id, review.id);
    const after = await setup.api('GET', `/v1/reviews/${review.id}`, ALICE);
    assert.equal(after.body.state, 'executed');
    await client.close();
  });

  test('a rejected call returns a tool error with the reason and writes nothing', async () => {
    const { client } = await setup.client('files');
    const path = join(setup.sandbox, 'rejected.txt');
    const call = client.callTool({ name: 'write_file', arguments: { path, content: 'no' } });
    const review = await setup.pendingReview('tools/call:write_file');
    await setup.api('POST', `/v1/reviews/${review.id}/reject`, ALICE, { reason: 'not in this sandbox' });
    const result = await call;
    assert.equal(result.isError, true);
    assert.match(text(result), /rejected/);
    assert.match(text(result), /not in this sandbox/);
    assert.ok(!existsSync(path));
    await client.close();
  });

  test('a hold timeout names the review; the identical call after approval runs once', async () => {
    const { client } = await setup.client('files-short');
    const path = join(setup.sandbox, 'later.txt');
    const request = { name: 'write_file', arguments: { path, content: 'after approval' } };
    const started = Date.now();
    const first = await client.callTool(request);
    assert.ok(Date.now() - started >= 1800, 'held for hold_timeout');
    assert.equal(first.isError, true);
    const review = await setup.pendingReview('tools/call:write_file');
    assert.match(text(first), new RegExp(`pending review ${review.id}`));
    assert.ok(!existsSync(path));
    await setup.api('POST', `/v1/reviews/${review.id}/approve`, ALICE, {});
    const second = await client.callTool(request);
    assert.notEqual(second.isError, true, text(second));
    assert.equal(readFileSync(path, 'utf8'), 'after approval');
    // The approval was for one run: the same call again opens a new review.
    const third = await client.callTool(request);
    assert.equal(third.isError, true);
    assert.doesNotMatch(text(third), new RegExp(review.id));
    await client.close();
  });

  test('a changed argument is a different action: the approval does not cover it', async () => {
    const { client } = await setup.client('files-short');
    const path = join(setup.sandbox, 'bound.txt');
    const first = await client.callTool({ name: 'write_file', arguments: { path, content: 'v1' } });
    assert.equal(first.isError, true);
    const review = await setup.pendingReview('tools/call:write_file');
    await setup.api('POST', `/v1/reviews/${review.id}/approve`, ALICE, {});
    const changed = await client.callTool({ name: 'write_file', arguments: { path, content: 'v2' } });
    assert.equal(changed.isError, true);
    assert.ok(!existsSync(path));
    await client.close();
  });

  test('cancelling a held call cancels its review', async () => {
    const { client } = await setup.client('files');
    const controller = new AbortController();
    const call = client.callTool(
      { name: 'move_file', arguments: { source: join(setup.sandbox, 'hello.txt'), destination: join(setup.sandbox, 'moved.txt') } },
      undefined,
      { signal: controller.signal },
    );
    const review = await setup.pendingReview('tools/call:move_file');
    controller.abort('changed my mind');
    await assert.rejects(call);
    let state;
    for (let i = 0; i < 50 && state !== 'cancelled'; ++i) {
      await sleep(100);
      state = (await setup.api('GET', `/v1/reviews/${review.id}`, ALICE)).body.state;
    }
    assert.equal(state, 'cancelled');
    assert.ok(existsSync(join(setup.sandbox, 'hello.txt')));
    await client.close();
  });
});

describe('MCP tasks (2025-11-25)', () => {
  const rpc = (id, method, params) => JSON.stringify({ jsonrpc: '2.0', id, method, params });

  test('the tasks capability is offered for 2025-11-25 only; tools may run as tasks', async () => {
    const { init: current } = await setup.rawSession('files', AGENT, '2025-11-25');
    assert.deepEqual(current.body.result.capabilities.tasks, {
      list: {},
      cancel: {},
      requests: { tools: { call: {} } },
    });
    const { session: older, init: old } = await setup.rawSession('files', AGENT, '2025-06-18');
    assert.equal(old.body.result.capabilities.tasks, undefined);
    const refused = await setup.raw('files', {
      body: rpc(2, 'tasks/list', {}),
      headers: { 'Mcp-Session-Id': older, 'MCP-Protocol-Version': '2025-06-18' },
    });
    assert.equal(refused.body.error.code, -32601);
    const { client } = await setup.client('files');
    const { tools } = await client.listTools();
    assert.equal(tools.find((tool) => tool.name === 'write_file').execution.taskSupport, 'optional');
    await client.close();
  });

  test('a task-augmented write_file completes after approval with exactly the approved content', async () => {
    const { client } = await setup.client('files');
    const path = join(setup.sandbox, 'task-approved.txt');
    const stream = client.experimental.tasks.callToolStream(
      { name: 'write_file', arguments: { path, content: 'approved via a task' } },
      undefined,
      { task: { ttl: 600000 }, timeout: 60000 },
    );
    const first = await stream.next();
    assert.equal(first.value.type, 'taskCreated');
    const created = first.value.task;
    assert.equal(created.status, 'working');
    assert.equal(created.ttl, 600000);
    const review = await setup.pendingReview('tools/call:write_file');
    assert.match(created.statusMessage, new RegExp(review.id));
    const polled = await client.experimental.tasks.getTask(created.taskId);
    assert.equal(polled.status, 'working');
    const listed = await client.experimental.tasks.listTasks();
    assert.ok(listed.tasks.some((task) => task.taskId === created.taskId));
    await sleep(300);
    assert.ok(!existsSync(path), 'nothing written while pending');
    const approved = await setup.api('POST', `/v1/reviews/${review.id}/approve`, ALICE, { reason: 'fine' });
    assert.equal(approved.status, 200);
    let last;
    for await (const message of stream) last = message;
    assert.equal(last.type, 'result', JSON.stringify(last));
    assert.notEqual(last.result.isError, true, text(last.result));
    assert.match(text(last.result), /Successfully wrote/);
    assert.equal(last.result._meta['io.modelcontextprotocol/related-task'].taskId, created.taskId);
    assert.equal(last.result._meta.countersign.review_id, review.id);
    assert.equal(readFileSync(path, 'utf8'), 'approved via a task');
    const done = await client.experimental.tasks.getTask(created.taskId);
    assert.equal(done.status, 'completed');
    // The result stays available, and cancelling a finished task is refused.
    const again = await client.experimental.tasks.getTaskResult(created.taskId, CallToolResultSchema);
    assert.match(text(again), /Successfully wrote/);
    await assert.rejects(client.experimental.tasks.cancelTask(created.taskId), (error) => error.code === -32602);
    assert.equal((await setup.api('GET', `/v1/reviews/${review.id}`, ALICE)).body.state, 'executed');
    await client.close();
  });

  test('cancelling a task cancels its review; nothing runs', async () => {
    writeFileSync(join(setup.sandbox, 'keep.txt'), 'keep me');
    const { client, transport } = await setup.client('files');
    const created = await client.request(
      {
        method: 'tools/call',
        params: {
          name: 'move_file',
          arguments: { source: join(setup.sandbox, 'keep.txt'), destination: join(setup.sandbox, 'gone.txt') },
          task: {},
        },
      },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    const review = await setup.pendingReview('tools/call:move_file');
    // tasks/result blocks while the task runs; it ends with the cancellation.
    const waiting = client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    const cancelled = await client.experimental.tasks.cancelTask(taskId);
    assert.equal(cancelled.status, 'cancelled');
    assert.match(cancelled.statusMessage, new RegExp(`review ${review.id} was cancelled`));
    const result = await waiting;
    assert.equal(result.isError, true);
    assert.equal((await setup.api('GET', `/v1/reviews/${review.id}`, ALICE)).body.state, 'cancelled');
    await assert.rejects(client.experimental.tasks.cancelTask(taskId), (error) => error.code === -32602);
    await sleep(300);
    assert.ok(existsSync(join(setup.sandbox, 'keep.txt')));
    assert.ok(!existsSync(join(setup.sandbox, 'gone.txt')));
    // Tasks belong to their session.
    const { session: other } = await setup.rawSession('files', AGENT, '2025-11-25');
    const foreign = await setup.raw('files', {
      body: rpc(3, 'tasks/get', { taskId }),
      headers: { 'Mcp-Session-Id': other },
    });
    assert.equal(foreign.body.error.code, -32602);
    assert.ok(transport.sessionId !== other);
    await client.close();
  });

  test('a rejected task fails with the reason; a denied call creates no task', async () => {
    const { client } = await setup.client('files');
    const path = join(setup.sandbox, 'task-rejected.txt');
    const created = await client.request(
      { method: 'tools/call', params: { name: 'write_file', arguments: { path, content: 'no' }, task: {} } },
      CreateTaskResultSchema,
    );
    const review = await setup.pendingReview('tools/call:write_file');
    await setup.api('POST', `/v1/reviews/${review.id}/reject`, ALICE, { reason: 'not today' });
    const result = await client.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema);
    assert.equal(result.isError, true);
    assert.match(text(result), /not today/);
    const task = await client.experimental.tasks.getTask(created.task.taskId);
    assert.equal(task.status, 'failed');
    assert.ok(!existsSync(path));
    await assert.rejects(
      client.request(
        { method: 'tools/call', params: { name: 'write_file', arguments: { path: join(setup.sandbox, 'forbidden-task.txt'), content: 'x' }, task: {} } },
        CreateTaskResultSchema,
      ),
      (error) => error.code === -32003,
    );
    await client.close();
  });

  test('an allowed call as a task completes with the server result', async () => {
    writeFileSync(join(setup.sandbox, 'task-read.txt'), 'read as a task');
    const { client } = await setup.client('files');
    const messages = [];
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'read_text_file', arguments: { path: join(setup.sandbox, 'task-read.txt') } },
      undefined,
      { task: {} },
    ))
      messages.push(message);
    assert.equal(messages[0].type, 'taskCreated');
    assert.equal(messages.at(-1).type, 'result');
    assert.equal(text(messages.at(-1).result), 'read as a task');
    await client.close();
  });
});

describe('an upstream that dies', () => {
  test('a call in flight fails clearly, the server is restarted, later calls work', async () => {
    const { client } = await setup.client('fragile');
    const first = await client.callTool({ name: 'echo', arguments: { text: 'before' } });
    assert.equal(text(first), 'before');
    await assert.rejects(client.callTool({ name: 'die', arguments: {} }), (error) => {
      assert.equal(error.code, -32001);
      assert.match(error.message, /exited with status 3/);
      return true;
    });
    let after;
    for (let i = 0; i < 50 && !after; ++i) {
      try {
        after = await client.callTool({ name: 'echo', arguments: { text: 'after' } });
      } catch {
        await sleep(200);
      }
    }
    assert.equal(text(after), 'after');
    const starts = readFileSync(setup.fragileStarts, 'utf8').trim().split('\n');
    assert.equal(starts.length, 2, 'restarted once');
    await client.close();
  });

  test('the secret in env: reaches the spawned server, not the gateway config', async () => {
    assert.ok(!readFileSync(setup.configPath, 'utf8').includes(setup.fragileStarts));
  });
});

describe('server-everything over Streamable HTTP', () => {
  test('allowed tools, progress passthrough, masking, tools/list filtering', async () => {
    const { client } = await setup.client('everything');
    assert.equal(client.getServerVersion().name.length > 0, true);
    const echo = await client.callTool({ name: 'echo', arguments: { message: 'hi there' } });
    assert.match(text(echo), /hi there/);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    assert.match(text(sum), /42/);
    const updates = [];
    const long = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      { onprogress: (update) => updates.push(update) },
    );
    assert.match(text(long), /completed/i);
    assert.ok(updates.length >= 1, 'upstream progress reached the client');
    const env = await client.callTool({ name: 'get-env', arguments: {} });
    assert.doesNotMatch(text(env), /sk-live-abcdefghijklmnop1234/);
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    assert.ok(names.includes('echo'));
    assert.ok(!names.includes('trigger-sampling-request'), 'default deny hides it');
    await assert.rejects(client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'x' } }), /denied/);
    const resources = await client.listResources();
    assert.ok(resources.resources.length > 0, 'resources pass through');
    const prompts = await client.listPrompts();
    assert.ok(prompts.prompts.length > 0, 'prompts pass through');
    await client.close();
  });

  test('a tool the server only runs as a task works through the gateway, as a plain call and as a task', async () => {
    const { client } = await setup.client('everything');
    const { tools } = await client.listTools();
    const research = tools.find((tool) => tool.name === 'simulate-research-query');
    assert.ok(research, 'listed');
    assert.equal(research.execution.taskSupport, 'optional', 'the gateway runs it as a task for any client');
    const plain = await client.callTool({ name: 'simulate-research-query', arguments: { topic: 'gateways' } }, undefined, {
      timeout: 30000,
    });
    assert.notEqual(plain.isError, true, text(plain));
    assert.match(text(plain), /gateways/);
    assert.equal(plain._meta?.['io.modelcontextprotocol/related-task'], undefined, "the server's task stays inside");
    let last;
    for await (const message of client.experimental.tasks.callToolStream(
      { name: 'simulate-research-query', arguments: { topic: 'audit logs' } },
      undefined,
      { task: {}, timeout: 30000 },
    ))
      last = message;
    assert.equal(last.type, 'result', JSON.stringify(last));
    assert.match(text(last.result), /audit logs/);
    await client.close();
  });
});

describe('countersign mcp-stdio', () => {
  test('a stdio client reaches the gateway through the bridge', async () => {
    const transport = new StdioClientTransport({
      command: BINARY,
      args: ['mcp-stdio', '--url', setup.endpoint('files')],
      env: { ...process.env, COUNTERSIGN_TOKEN: AGENT },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'desktop', version: '1.0.0' }, { capabilities: {} });
    await client.connect(transport);
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === 'read_text_file'));
    assert.ok(!tools.some((tool) => tool.name === 'read_media_file'));
    writeFileSync(join(setup.sandbox, 'bridge.txt'), 'via the bridge');
    const result = await client.callTool({ name: 'read_text_file', arguments: { path: join(setup.sandbox, 'bridge.txt') } });
    assert.equal(text(result), 'via the bridge');
    await assert.rejects(client.callTool({ name: 'create_directory', arguments: { path: join(setup.sandbox, 'y') } }), /denied/);
    await client.close();
  });

  test('a bad line gets a parse error; stdin closing ends the bridge', async () => {
    const child = spawn(BINARY, ['mcp-stdio', '--url', setup.endpoint('files'), '--token', AGENT]);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stdin.write('this is not json\n');
    child.stdin.end();
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0);
    const message = JSON.parse(out.trim().split('\n')[0]);
    assert.equal(message.error.code, -32700);
  });
});

describe('tool definition changes', () => {
  test('a tool whose definition changes between listings is audited', async () => {
    const { client } = await setup.client('fragile');
    const before = await client.listTools();
    assert.equal(before.tools.find((tool) => tool.name === 'echo').description, 'Echoes its text');
    await client.callTool({ name: 'redefine', arguments: {} });
    const after = await client.listTools();
    assert.match(after.tools.find((tool) => tool.name === 'echo').description, /somewhere else/);
    const { body } = await setup.api('GET', '/v1/audit/events?type=mcp.tool_changed&limit=100', BOB);
    const changes = (body.events || []).filter((event) => event.type === 'mcp.tool_changed');
    const echo = changes.find((event) => event.details.tool === 'echo' && event.details.target === 'fragile');
    assert.ok(echo, JSON.stringify(body));
    assert.equal(echo.details.change, 'changed');
    assert.notEqual(echo.details.fingerprint, echo.details.fingerprint_before);
    await client.close();
  });
});

describe('audit', () => {
  test('tool calls are audited through the gateway', async () => {
    const { body } = await setup.api('GET', '/v1/audit/events?limit=1000', BOB);
    const events = body.events || [];
    const executed = events.filter((event) => event.type === 'action.executed');
    assert.ok(executed.some((event) => JSON.stringify(event).includes('tools/call:read_text_file')));
  });
});
