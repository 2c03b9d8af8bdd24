// Load client for the MCP door benchmark: allowed tools/call round trips
// (server-everything's `echo`) over Streamable HTTP, directly to the
// server and through countersign, at several concurrency levels, in one
// run. Rounds alternate between the two endpoints so that both see the same
// machine conditions; each client is its own MCP session on a kept-alive
// connection.
//
//   node bench/mcp/load.mjs --direct URL --gateway URL --token KEY
//        [--clients 1,16] [--seconds 3] [--rounds 3]
import { Agent, request } from 'node:http';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((part) => {
      const [key, ...rest] = part.trim().split(' ');
      return [key, rest.join(' ')];
    }),
);
const endpoints = { direct: args.direct, gateway: args.gateway };
const token = args.token;
const levels = (args.clients || '1,16').split(',').map(Number);
const seconds = Number(args.seconds || 3);
const rounds = Number(args.rounds || 3);

class Session {
  constructor(url, auth) {
    this.url = url;
    this.auth = auth;
    this.agent = new Agent({ keepAlive: true, maxSockets: 1 });
    this.nextId = 1;
  }
  post(message) {
    const headers = {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2025-06-18',
    };
    if (this.auth) headers.Authorization = `Bearer ${this.auth}`;
    if (this.session) headers['Mcp-Session-Id'] = this.session;
    return this.send('POST', headers, JSON.stringify(message)).then(({ status, headers: answer, body }) => {
      if (!this.session && answer['mcp-session-id']) this.session = answer['mcp-session-id'];
      if (message.id === undefined) return null;
      if (status !== 200) throw new Error(`HTTP ${status}: ${body}`);
      if (!(answer['content-type'] || '').includes('text/event-stream')) return JSON.parse(body);
      for (const line of body.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (!data) continue;
        const parsed = JSON.parse(data);
        if (parsed.id === message.id) return parsed;
      }
      throw new Error(`no response in ${body}`);
    });
  }
  send(method, headers, body) {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { method, headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  async open() {
    const init = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
    });
    if (init.error) throw new Error(JSON.stringify(init.error));
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }
  async call() {
    const answer = await this.post({
      jsonrpc: '2.0',
      id: this.nextId++,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'benchmark' } },
    });
    if (answer.error || answer.result?.isError) throw new Error(JSON.stringify(answer));
  }
  async close() {
    if (this.session) {
      const headers = { 'Mcp-Session-Id': this.session };
      if (this.auth) headers.Authorization = `Bearer ${this.auth}`;
      await this.send('DELETE', headers, undefined).catch(() => {});
    }
    this.agent.destroy();
  }
}

async function measure(name, clients) {
  const sessions = [];
  for (let i = 0; i < clients; ++i) {
    const session = new Session(endpoints[name], name === 'gateway' ? token : null);
    await session.open();
    sessions.push(session);
  }
  for (const session of sessions) await session.call();  // warm up
  const latencies = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    sessions.map(async (session) => {
      while (performance.now() < until) {
        const started = performance.now();
        await session.call();
        latencies.push(performance.now() - started);
      }
    }),
  );
  await Promise.all(sessions.map((session) => session.close()));
  return latencies;
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const rows = [];
for (const clients of levels) {
  const all = { direct: [], gateway: [] };
  for (let round = 0; round < rounds; ++round)
    for (const name of round % 2 ? ['gateway', 'direct'] : ['direct', 'gateway'])
      all[name].push(...(await measure(name, clients)));
  const stats = {};
  for (const name of ['direct', 'gateway']) {
    const sorted = all[name].sort((a, b) => a - b);
    stats[name] = {
      rps: sorted.length / (rounds * seconds),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      calls: sorted.length,
    };
  }
  rows.push({ clients, ...stats });
}

console.log('clients  endpoint   calls/s    median ms   p99 ms   calls');
for (const row of rows)
  for (const name of ['direct', 'gateway'])
    console.log(
      `${String(row.clients).padStart(7)}  ${name.padEnd(8)} ${row[name].rps.toFixed(0).padStart(9)}  ${row[name].p50
        .toFixed(3)
        .padStart(10)}  ${row[name].p99.toFixed(3).padStart(7)}  ${String(row[name].calls).padStart(6)}`,
    );
console.log('');
console.log('clients  throughput gateway/direct   added median ms   added p99 ms');
for (const row of rows)
  console.log(
    `${String(row.clients).padStart(7)}  ${(row.gateway.rps / row.direct.rps).toFixed(2).padStart(26)}x  ${(
      row.gateway.p50 - row.direct.p50
    )
      .toFixed(3)
      .padStart(16)}  ${(row.gateway.p99 - row.direct.p99).toFixed(3).padStart(13)}`,
  );
console.log(JSON.stringify({ results: rows }));
