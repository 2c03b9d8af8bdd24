// countersign masking vs redact-pii (npm, pinned in package.json), same
// machine, same run, same documents:
//   - throughput (MB/s) and per-document latency for 1 KB, 10 KB and 1 MB
//     documents without findings, with few findings and with dense findings;
//   - recall on the labeled corpus (tests/corpus/mask_corpus.jsonl): the share
//     of planted values that no longer appear in the output, over every type,
//     and over the types redact-pii claims to cover.
//
//   npm ci && node bench/mask_compare.mjs [--build DIR] [--min-time SECONDS] [--keep DOCS]
//
// DIR holds the mask_bench and countersign binaries (default build/); with
// --keep the generated documents stay in DOCS (for profiling mask_bench
// with MASK_BENCH_DIR=DOCS).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { faker } from '@faker-js/faker';

const require = createRequire(import.meta.url);
const { SyncRedactor } = require('redact-pii');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const BUILD = resolve(option('--build', join(ROOT, 'build')));
const MIN_TIME = Number(option('--min-time', 1));

// ---------------------------------------------------------------------------
// Documents: clean text (log lines with timestamps, UUIDs, versions, prose),
// few findings (one planted value per KiB), dense (the corpus's text documents).
faker.seed(7);
const corpus = readFileSync(join(ROOT, 'tests/corpus/mask_corpus.jsonl'), 'utf8')
  .split('\n').filter(Boolean).map((line) => JSON.parse(line));

function cleanChunk() {
  return faker.helpers.arrayElement([
    () => `${faker.date.recent().toISOString()} INFO [${faker.hacker.noun()}] ${faker.hacker.phrase()} request=${faker.string.uuid()} took ${faker.number.int(999)}ms\n`,
    () => `${faker.lorem.paragraph()}\n`,
    () => `deploy ${faker.system.semver()} of ${faker.word.noun()} to ${faker.location.countryCode()}-${faker.number.int(9)}: ${faker.number.int(400)} files, ${faker.number.int(99)}% cached\n`,
  ])();
}
const textPlants = [];
for (const doc of corpus) {
  if (doc.kind === 'json') continue;
  for (const label of doc.labels) {
    const context = doc.text.slice(Math.max(0, label.start - 24), label.end);
    if (!context.includes('\n')) textPlants.push(context);
  }
}
function build(density, size) {
  let out = '';
  let plant = 0;
  const denseDocs = corpus.filter((d) => d.kind !== 'json');
  let cursor = 0;
  while (Buffer.byteLength(out) < size) {
    if (density === 'dense') {
      out += denseDocs[cursor++ % denseDocs.length].text + '\n';
    } else {
      const before = Math.floor(Buffer.byteLength(out) / 1024);
      out += cleanChunk();
      if (density === 'few' && Math.floor(Buffer.byteLength(out) / 1024) > before - 1 && plant <= before) {
        out += textPlants[plant++ % textPlants.length] + '\n';
      }
    }
  }
  return Buffer.from(out).subarray(0, size).toString('utf8').replace(/\uFFFD$/, '');
}

const sizes = [['1k', 1024], ['10k', 10 * 1024], ['1m', 1024 * 1024]];
const densities = ['clean', 'few', 'dense'];
const KEEP = option('--keep', null);
const dir = KEEP ? resolve(KEEP) : mkdtempSync(join(tmpdir(), 'mask-bench-'));
mkdirSync(dir, { recursive: true });
const docs = {};
for (const density of densities)
  for (const [name, size] of sizes) {
    docs[`${density}_${name}`] = build(density, size);
    writeFileSync(join(dir, `${density}_${name}.txt`), docs[`${density}_${name}`]);
  }

// ---------------------------------------------------------------------------
// countersign: Google Benchmark on the same files.
const bench = JSON.parse(execFileSync(join(BUILD, 'mask_bench'), [
  '--benchmark_format=json', `--benchmark_min_time=${MIN_TIME}`, '--benchmark_filter=BM_MaskText',
], { env: { ...process.env, MASK_BENCH_DIR: dir }, maxBuffer: 64 << 20 }).toString());
const ours = {};
for (const b of bench.benchmarks) {
  const [, density, name] = b.name.split('/');
  const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1 }[b.time_unit];
  // CPU time: other processes on the machine do not count against either side.
  const seconds = b.cpu_time * unit;
  ours[`${density}_${name}`] = { seconds, mbps: b.bytes / seconds / 1e6, findings: b.findings };
}

// redact-pii: the same documents, timed in-process.
const redactor = new SyncRedactor();
const peer = {};
for (const [key, text] of Object.entries(docs)) {
  redactor.redact(text);  // warm-up
  let iterations = 0;
  const start = process.cpuUsage();
  let elapsed = 0;
  do {
    redactor.redact(text);
    iterations++;
    const used = process.cpuUsage(start);
    elapsed = (used.user + used.system) / 1e6;  // CPU seconds, like the C++ side
  } while (elapsed < MIN_TIME && iterations < 100000);
  const seconds = elapsed / iterations;
  peer[key] = { seconds, mbps: Buffer.byteLength(text) / seconds / 1e6 };
}

// ---------------------------------------------------------------------------
// Recall on the corpus, text mode for both: a planted value counts as caught
// when it no longer appears in the output. JSON documents are masked as text
// here (redact-pii has no JSON mode), so values appear JSON-escaped.
const PEER_TYPES = new Set(['email', 'phone', 'credit_card', 'us_ssn', 'ipv4', 'password']);
function plantedInText(doc, label) {
  if (doc.kind !== 'json') return doc.text.slice(label.start, label.end);
  if (label.type === 'secret_key') return null;
  // Find the decoded value by its pointer, then its escaped form in the text.
  let value = JSON.parse(doc.text);
  for (const part of label.path.split('/').slice(1)) value = value[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  const raw = typeof value === 'string' ? Buffer.from(value).subarray(label.start, label.end).toString() : String(value);
  return JSON.stringify(raw).slice(1, -1);
}
const separator = '\n\u0000\n';
const texts = corpus.map((d) => d.text);
const oursOutput = execFileSync(join(BUILD, 'countersign'), ['mask', '--text'], { input: texts.join(separator), maxBuffer: 256 << 20 }).toString().split(separator);
const peerStart = process.hrtime.bigint();
const peerOutput = texts.map((t) => redactor.redact(t));
const peerCorpusSeconds = Number(process.hrtime.bigint() - peerStart) / 1e9;
const recall = { ours: { all: [0, 0], peer_types: [0, 0] }, peer: { all: [0, 0], peer_types: [0, 0] }, by_type: {} };
corpus.forEach((doc, i) => {
  for (const label of doc.labels) {
    const value = plantedInText(doc, label);
    if (!value || value.length < 6) continue;
    const row = (recall.by_type[label.type] ??= { planted: 0, ours: 0, peer: 0 });
    row.planted++;
    const oursCaught = !oursOutput[i].includes(value);
    const peerCaught = !peerOutput[i].includes(value);
    row.ours += oursCaught;
    row.peer += peerCaught;
    for (const [who, caught] of [['ours', oursCaught], ['peer', peerCaught]]) {
      recall[who].all[0] += caught; recall[who].all[1]++;
      if (PEER_TYPES.has(label.type)) { recall[who].peer_types[0] += caught; recall[who].peer_types[1]++; }
    }
  }
});

// ---------------------------------------------------------------------------
const fmtTime = (s) => (s < 1e-3 ? `${(s * 1e6).toFixed(2)} µs` : s < 1 ? `${(s * 1e3).toFixed(2)} ms` : `${s.toFixed(2)} s`);
console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; one thread each, CPU time; node ${process.version}`);
console.log(`redact-pii ${require('redact-pii/package.json').version}, countersign mask (Vectorscan)\n`);
console.log('document      size   countersign MB/s  latency     redact-pii MB/s  latency     speed-up  findings');
for (const density of densities)
  for (const [name] of sizes) {
    const key = `${density}_${name}`;
    const o = ours[key], p = peer[key];
    console.log(`${density.padEnd(8)} ${name.padStart(8)}   ${o.mbps.toFixed(1).padStart(14)}  ${fmtTime(o.seconds).padStart(10)}  ${p.mbps.toFixed(2).padStart(14)}  ${fmtTime(p.seconds).padStart(10)}  ${(p.seconds / o.seconds).toFixed(0).padStart(7)}x  ${o.findings}`);
  }
const pct = ([a, b]) => `${(a / b).toFixed(4)} (${a}/${b})`;
console.log(`\nrecall on the corpus (${corpus.length} documents, text mode, planted value gone from the output):`);
console.log(`  all types:                 countersign ${pct(recall.ours.all)}   redact-pii ${pct(recall.peer.all)}`);
console.log(`  redact-pii's own types*:   countersign ${pct(recall.ours.peer_types)}   redact-pii ${pct(recall.peer.peer_types)}`);
console.log('  * email, phone, credit_card, us_ssn, ipv4, password');
console.log(`  redact-pii on the whole corpus: ${peerCorpusSeconds.toFixed(2)} s`);
console.log('\nper type (planted / caught by countersign / caught by redact-pii):');
for (const [type, row] of Object.entries(recall.by_type).sort())
  console.log(`  ${type.padEnd(26)} ${String(row.planted).padStart(5)} ${String(row.ours).padStart(6)} ${String(row.peer).padStart(6)}`);
if (!KEEP) rmSync(dir, { recursive: true, force: true });
