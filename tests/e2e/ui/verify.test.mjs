// The browser's audit verifier (web/assets/verify.js) against node:crypto
// and a reference RFC 9162 tree: SHA-256, JCS, inclusion proofs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  canonicalJson, concat, leafHash, parseCheckpoint, rootFromInclusionProof, sha256, toHex, verifyChain,
} from '../../../web/assets/verify.js';

const digest = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest());
const leaf = (n) => digest(concat(new Uint8Array([0]), new TextEncoder().encode('leaf ' + n)));
const node = (l, r) => digest(concat(new Uint8Array([1]), l, r));

// RFC 9162 2.1.1 and 2.1.3.1, straight from the text.
function mth(leaves) {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return node(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
function path(m, leaves) {
  if (leaves.length === 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))]
    : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

test('sha256 matches node:crypto', () => {
  for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4097]) {
    const bytes = new Uint8Array(length).map((_, i) => (i * 31 + length) & 0xff);
    assert.equal(toHex(sha256(bytes)), toHex(digest(bytes)), `length ${length}`);
  }
});

test('canonical JSON is RFC 8785', () => {
  assert.equal(canonicalJson({ b: 2, a: [1, 'é', null, true, { d: 1e21, c: -0 }] }),
    '{"a":[1,"é",null,true,{"c":0,"d":1e+21}],"b":2}');
  assert.equal(canonicalJson({ '\u20ac': 1, '\r': 2, 1: 3 }), '{"\\r":2,"1":3,"€":1}');
  assert.equal(canonicalJson('\u2028<>\u001f'), '"\u2028<>\\u001f"');
});

test('inclusion proofs of every leaf of trees up to 33 leaves', () => {
  for (let size = 1; size <= 33; size++) {
    const leaves = Array.from({ length: size }, (_, i) => leaf(i));
    const root = mth(leaves);
    for (let index = 0; index < size; index++) {
      const proof = path(index, leaves);
      assert.equal(toHex(rootFromInclusionProof(index, size, leaves[index], proof)), toHex(root), `${index}/${size}`);
      if (size > 1) {
        assert.notEqual(toHex(rootFromInclusionProof(index, size, leaf(1000), proof)), toHex(root));
        assert.throws(() => rootFromInclusionProof(index, size, leaves[index], proof.slice(1)));
      }
    }
  }
  assert.throws(() => rootFromInclusionProof(5, 5, leaf(0), []));
});

test('the hash chain of docs/audit.md', () => {
  const events = [];
  let previous = '0'.repeat(64);
  for (let index = 0; index < 4; index++) {
    const event = {
      index, time: 1700000000000 + index, time_text: 'x', type: 'review.voted', actor: 'alice@example.com',
      action_digest: '', review_id: 'rv_1', details: { reason: 'ok ' + index, step: 0 }, controls: ['CC6.2'],
    };
    event.previous_hash = previous;
    event.hash = toHex(digest(concat(Buffer.from(previous, 'hex'), leafHash(event))));
    previous = event.hash;
    events.push(event);
  }
  assert.deepEqual(verifyChain(events, '0'.repeat(64)), { ok: true, checked: 4 });
  const tampered = structuredClone(events);
  tampered[2].details.reason = 'changed';
  assert.equal(verifyChain(tampered, '0'.repeat(64)).index, 2);
  assert.equal(verifyChain([events[0], events[2]], '0'.repeat(64)).ok, false);
});

test('checkpoints as JSON or as a signed note', () => {
  const root = sha256(new Uint8Array([1, 2, 3]));
  const base64 = Buffer.from(root).toString('base64');
  assert.equal(parseCheckpoint({ size: 7, root_hash: toHex(root) }).size, 7);
  const note = parseCheckpoint({ note: `countersign.example/audit\n12\n${base64}\n\n— countersign.example/audit AAAA\n` });
  assert.equal(note.size, 12);
  assert.equal(toHex(note.root), toHex(root));
  assert.throws(() => parseCheckpoint({}));
});
