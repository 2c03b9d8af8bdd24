// Audit: search events with the filters of GET /v1/audit/events; check the
// hash chain of what is shown; verify an event's inclusion against the
// latest signed checkpoint when the gateway offers checkpoints and proofs.
import * as api from './api.js';
import { clear, errorBox, h, link, maskedText, reviewPath, timeElement } from './dom.js';
import { decodeHash, leafHash, parseCheckpoint, parseProof, rootFromInclusionProof, toHex, verifyChain } from './verify.js';

const TYPES = ['action.decided', 'action.executed', 'auth.failed', 'grant.issued', 'review.created',
  'review.voted', 'review.step_passed', 'review.approved', 'review.rejected', 'review.escalated',
  'review.cancelled', 'review.expired', 'review.executed'];
const FIELDS = ['actor', 'type', 'verb', 'review_id', 'q', 'from', 'to'];

function toMillis(local) {
  if (!local) return '';
  const time = new Date(local).getTime();
  return Number.isFinite(time) ? String(time) : '';
}

function fromMillis(text) {
  if (!/^\d+$/.test(text || '')) return '';
  const date = new Date(Number(text));
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function auditView(main) {
  let disposed = false;
  const params = new URLSearchParams(location.search);
  const inputs = {
    actor: h('input', { id: 'a-actor', name: 'actor', type: 'search', autocomplete: 'off', value: params.get('actor') || '' }),
    type: h('select', { id: 'a-type', name: 'type' }, h('option', { value: '' }, 'any type'),
      TYPES.map((type) => h('option', { value: type }, type))),
    verb: h('input', { id: 'a-verb', name: 'verb', type: 'search', autocomplete: 'off', value: params.get('verb') || '' }),
    review_id: h('input', { id: 'a-review', name: 'review_id', type: 'search', autocomplete: 'off', value: params.get('review_id') || '' }),
    q: h('input', { id: 'a-q', name: 'q', type: 'search', autocomplete: 'off', value: params.get('q') || '' }),
    from: h('input', { id: 'a-from', name: 'from', type: 'datetime-local', value: fromMillis(params.get('from')) }),
    to: h('input', { id: 'a-to', name: 'to', type: 'datetime-local', value: fromMillis(params.get('to')) }),
  };
  inputs.type.value = params.get('type') || '';
  const labels = { actor: 'Actor', type: 'Type', verb: 'Verb', review_id: 'Review', q: 'Text', from: 'From', to: 'To' };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search the audit log' },
    FIELDS.map((name) => h('div', { class: 'filter' }, h('label', { for: inputs[name].id }, labels[name]), inputs[name])),
    h('div', { class: 'filter' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  const logStatus = h('div', { class: 'card log-status', 'aria-live': 'polite' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const problem = h('div');
  const list = h('ol', { class: 'events', 'aria-label': 'Audit events' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  main.append(h('h1', null, 'Audit log'), logStatus, form, problem, status, list, more);

  let events = [];
  let cursor = null;
  let checkpoint = null;   // parsed latest checkpoint, or null
  let checkpointError = null;
  let chainNote = null;

  function filters() {
    const out = {};
    for (const name of FIELDS) {
      const value = name === 'from' || name === 'to' ? toMillis(inputs[name].value) : inputs[name].value.trim();
      if (value) out[name] = value;
    }
    return out;
  }

  // The audit API may lack checkpoints altogether (404 "no such endpoint"),
  // or not have issued the first one yet (404 with its own message).
  const missingEndpoint = (error) => error && (error.status === 405 ||
    (error.status === 404 && /no such endpoint/i.test(error.message)));

  async function loadCheckpoint() {
    try {
      checkpoint = parseCheckpoint(await api.get('/v1/audit/checkpoint?format=json'));
      checkpointError = null;
    } catch (error) {
      checkpoint = null;
      checkpointError = error;
    }
  }

  // Until a checkpoint exists, look again now and then.
  const retry = setInterval(async () => {
    if (checkpoint || missingEndpoint(checkpointError)) return;
    await loadCheckpoint();
    if (checkpoint && !disposed) draw();
  }, 5000);

  function drawStatus() {
    clear(logStatus).append(h('h2', null, 'Log verification'));
    if (chainNote) logStatus.append(chainNote);
    if (checkpoint) {
      logStatus.append(h('p', null, h('span', { class: 'badge state-approved' }, 'checkpoint'),
        ` Latest signed checkpoint: ${checkpoint.size} events`,
        checkpoint.time ? [', ', timeElement(checkpoint.time)] : '',
        checkpoint.signedBy ? `, signed by ${checkpoint.signedBy}` : '', ', root ',
        h('code', { class: 'digest' }, toHex(checkpoint.root)), '.'),
      h('p', { class: 'muted small' }, 'Use “verify inclusion” on an event to check, in this browser, that the checkpoint commits to it.'));
    } else if (missingEndpoint(checkpointError)) {
      logStatus.append(h('p', { class: 'muted' }, 'Inclusion proofs are unavailable: this gateway does not offer signed checkpoints. ',
        'The hash chain above is still checked in this browser.'));
    } else if (checkpointError && checkpointError.status === 404) {
      logStatus.append(h('p', { class: 'muted' }, 'No signed checkpoint yet: ', checkpointError.message,
        '. This page looks again every few seconds.'));
    } else if (checkpointError) {
      logStatus.append(h('p', { class: 'muted' }, 'The latest checkpoint could not be read: ' + checkpointError.message));
    }
  }

  async function verifyInclusion(event, output, button) {
    button.disabled = true;
    clear(output).append('checking…');
    try {
      await loadCheckpoint();
      if (!checkpoint) throw new Error('no checkpoint is available');
      if (event.index >= checkpoint.size) {
        clear(output).append(h('span', { class: 'badge state-pending' }, 'not yet'),
          ` The latest checkpoint covers events 0–${checkpoint.size - 1}; this one comes later.`);
        return;
      }
      const answer = await api.get('/v1/audit/proof' + api.query({ index: event.index, size: checkpoint.size }));
      const proof = parseProof(answer);
      const leaf = leafHash(event);
      if (answer.leaf_hash && toHex(decodeHash(answer.leaf_hash)) !== toHex(leaf)) {
        throw new Error("the event's content does not match the leaf the gateway proves");
      }
      const root = rootFromInclusionProof(event.index, checkpoint.size, leaf, proof);
      if (toHex(root) !== toHex(checkpoint.root)) throw new Error('the proof leads to a different root');
      clear(output).append(h('span', { class: 'badge state-approved' }, 'included'),
        ` in the checkpoint of ${checkpoint.size} events (${proof.length} proof hashes).`);
    } catch (error) {
      clear(output).append(h('span', { class: 'badge state-rejected' }, 'NOT verified'), ' ', error.message);
    } finally {
      button.disabled = false;
    }
  }

  function eventItem(event) {
    const output = h('span', { class: 'verify-result', 'aria-live': 'polite' });
    const button = h('button', { type: 'button', class: 'small-button' }, 'verify inclusion');
    button.addEventListener('click', () => verifyInclusion(event, output, button));
    const verify = checkpoint ? [button, ' ', output]
      : h('span', { class: 'muted small' }, 'verify inclusion: unavailable');
    return h('li', { class: 'event' },
      h('div', { class: 'event-head' },
        h('span', { class: 'event-index' }, '#' + event.index), ' ',
        timeElement(event.time), ' ',
        h('span', { class: 'event-type' }, event.type), ' ',
        h('span', { class: 'event-actor' }, event.actor),
        event.review_id ? [' ', link(reviewPath(event.review_id), event.review_id)] : null),
      h('pre', { class: 'event-details' }, maskedText(JSON.stringify(event.details, null, 1))),
      h('div', { class: 'event-foot' }, h('code', { class: 'digest', title: 'hash' }, event.hash), ' ', verify));
  }

  function checkChain() {
    if (!events.length) { chainNote = null; return; }
    // Contiguous indexes only: the chain links each event to the one before.
    const contiguous = events.every((event, i) => i === 0 || event.index === events[i - 1].index + 1);
    const first = events[0];
    const previous = first.index === 0 ? '0'.repeat(64) : null;
    let result;
    try {
      result = contiguous ? verifyChain(events, previous)
        : events.reduce((acc, event) => (acc.ok ? verifyChain([event], null) : acc), { ok: true });
    } catch (error) {
      result = { ok: false, problem: error.message };
    }
    chainNote = result.ok
      ? h('p', null, h('span', { class: 'badge state-approved' }, 'intact'),
        contiguous ? ` Hash chain checked in this browser for the ${events.length} events shown.`
          : ` Each event shown matches its hash (the filter leaves gaps, so links are not checked).`)
      : h('p', null, h('span', { class: 'badge state-rejected' }, 'NOT intact'),
        ` event ${result.index ?? '?'}: ${result.problem}`);
  }

  function draw() {
    checkChain();
    drawStatus();
    clear(list);
    for (const event of events) list.append(eventItem(event));
    status.textContent = events.length ? `${events.length} event${events.length === 1 ? '' : 's'}${cursor ? ' (more available)' : ''}` : 'No events match.';
    more.hidden = !cursor;
  }

  async function search(append) {
    const query = filters();
    if (!append) {
      const search = new URLSearchParams(query).toString();
      history.replaceState(null, '', '/ui/audit' + (search ? '?' + search : ''));
    }
    try {
      const page = await api.get('/v1/audit/events' + api.query({ ...query, limit: 200, cursor: append ? cursor : undefined }));
      if (disposed) return;
      events = append ? events.concat(page.events) : page.events;
      cursor = page.next_cursor || null;
      clear(problem);
      draw();
    } catch (error) {
      if (!disposed && error.status !== 401) clear(problem).append(errorBox(error));
    }
  }

  form.addEventListener('submit', (event) => { event.preventDefault(); search(false); });
  more.addEventListener('click', () => search(true));
  (async () => {
    await loadCheckpoint();
    await search(false);
  })();
  return { dispose() { disposed = true; clearInterval(retry); } };
}
