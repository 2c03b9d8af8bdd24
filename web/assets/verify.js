// Checks the audit log in the browser, trusting nothing but the maths:
// RFC 8785 (JCS) canonical JSON, SHA-256 (here in plain JavaScript, since
// WebCrypto exists only on https pages), the hash chain of docs/audit.md and
// RFC 9162 inclusion proofs against a checkpoint's root.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256(bytes) {
  const length = bytes.length;
  const padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
  view.setUint32(padded.length - 4, (length << 3) >>> 0);
  const state = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = state;
    for (let i = 0; i < 64; i++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + s1 + ch + K[i] + w[i]) >>> 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, state[i]);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error('not hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

function fromBase64(text) {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

// A 32-byte hash given as hex or base64.
export function decodeHash(text) {
  if (typeof text !== 'string') throw new Error('a hash must be a string');
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? fromHex(text) : fromBase64(text);
  if (bytes.length !== 32) throw new Error('a hash must be 32 bytes');
  return bytes;
}

// RFC 8785: ECMAScript serialization of primitives (which is what
// JSON.stringify does), object members sorted by UTF-16 code units.
export function canonicalJson(value) {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('not a JSON number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((key) => JSON.stringify(key) + ':' + canonicalJson(value[key])).join(',') + '}';
}

const encoder = new TextEncoder();

// The event as hashed: without previous_hash and hash (docs/audit.md).
export function leafHash(event) {
  const body = {};
  for (const [key, value] of Object.entries(event)) {
    if (key !== 'previous_hash' && key !== 'hash') body[key] = value;
  }
  return sha256(concat(new Uint8Array([0]), encoder.encode(canonicalJson(body))));
}

// Checks each event's hash against its content and its predecessor.
// `previous` is the hash expected before the first event (64 zeros for
// index 0), or null when unknown. Returns {ok, checked, problem?, index?}.
export function verifyChain(events, previous) {
  let expected = previous;
  for (const event of events) {
    if (expected !== null && event.previous_hash !== expected) {
      return { ok: false, checked: events.length, index: event.index, problem: 'previous_hash does not link to the event before' };
    }
    const hash = toHex(sha256(concat(fromHex(event.previous_hash), leafHash(event))));
    if (hash !== event.hash) {
      return { ok: false, checked: events.length, index: event.index, problem: "hash does not match the event's content" };
    }
    expected = event.hash;
  }
  return { ok: true, checked: events.length };
}

// RFC 9162 section 2.1.3.2: the root an inclusion proof leads to.
export function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(index < size)) throw new Error(`index ${index} is not below tree size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error('the proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = sha256(concat(new Uint8Array([1]), p, r));
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = sha256(concat(new Uint8Array([1]), r, p));
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is shorter than the tree is deep');
  return r;
}

// Reads a checkpoint answer: JSON fields, or the signed note's body
// (origin, size, base64 root).
export function parseCheckpoint(data) {
  const out = { size: null, root: null, note: null, origin: null };
  if (data && typeof data === 'object') {
    out.size = data.size ?? data.tree_size ?? null;
    const root = data.root_hash ?? data.root ?? data.hash ?? null;
    if (root) out.root = decodeHash(root);
    out.note = data.note ?? data.checkpoint ?? data.signed_note ?? null;
    out.origin = data.origin ?? null;
    out.time = data.time ?? data.timestamp ?? null;
    out.signedBy = data.signed_by ?? null;
  }
  if ((out.size === null || !out.root) && typeof out.note === 'string') {
    const lines = out.note.split('\n');
    out.origin = out.origin ?? lines[0];
    out.size = out.size ?? Number(lines[1]);
    out.root = out.root ?? decodeHash(lines[2]);
  }
  if (out.size === null || !out.root) throw new Error('the checkpoint names no tree size or root');
  out.size = Number(out.size);
  return out;
}

export function parseProof(data) {
  const list = data.proof ?? data.inclusion_proof ?? data.audit_path ?? data.path ?? data.hashes;
  if (!Array.isArray(list)) throw new Error('the proof answer holds no list of hashes');
  return list.map(decodeHash);
}
