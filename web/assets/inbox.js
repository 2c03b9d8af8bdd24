// Inbox: pending reviews the signed-in person may decide, most urgent and
// newest first, with filters; refreshed live as reviews arrive or change.
import * as api from './api.js';
import { announce, clear, errorBox, h } from './dom.js';
import { byNewest, byUrgency, requesterOf, reviewItem } from './list.js';

const STATES = ['pending', 'approved', 'rejected', 'expired', 'cancelled', 'executed', 'failed'];

function readFilters() {
  const params = new URLSearchParams(location.search);
  return {
    state: params.has('state') ? params.get('state') : 'pending',
    target: params.get('target') || '',
    requester: params.get('requester') || '',
    mine: params.get('all') !== '1',
    sort: params.get('sort') === 'newest' ? 'newest' : 'urgent',
  };
}

function writeFilters(filters) {
  const params = new URLSearchParams();
  if (filters.state !== 'pending') params.set('state', filters.state);
  if (filters.target) params.set('target', filters.target);
  if (filters.requester) params.set('requester', filters.requester);
  if (!filters.mine) params.set('all', '1');
  if (filters.sort !== 'urgent') params.set('sort', filters.sort);
  const search = params.toString();
  history.replaceState(null, '', '/ui/inbox' + (search ? '?' + search : ''));
}

export function inboxView(main, context) {
  const filters = readFilters();
  let reviews = [];
  let seen = null;
  let disposed = false;
  let timer = null;

  const heading = h('h1', null, 'Inbox');
  const stateSelect = h('select', { id: 'f-state', name: 'state' },
    h('option', { value: '' }, 'any state'),
    STATES.map((state) => h('option', { value: state }, state)));
  stateSelect.value = filters.state;
  const targetSelect = h('select', { id: 'f-target', name: 'target' }, h('option', { value: '' }, 'all targets'));
  const requesterInput = h('input', {
    id: 'f-requester', name: 'requester', type: 'search', placeholder: 'subject, or me',
    value: filters.requester, autocomplete: 'off',
  });
  const mineBox = h('input', { id: 'f-mine', name: 'mine', type: 'checkbox' });
  mineBox.checked = filters.mine;
  const sortSelect = h('select', { id: 'f-sort', name: 'sort' },
    h('option', { value: 'urgent' }, 'most urgent first'),
    h('option', { value: 'newest' }, 'newest first'));
  sortSelect.value = filters.sort;
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter reviews' },
    h('div', { class: 'filter' }, h('label', { for: 'f-state' }, 'State'), stateSelect),
    h('div', { class: 'filter' }, h('label', { for: 'f-target' }, 'Target'), targetSelect),
    h('div', { class: 'filter' }, h('label', { for: 'f-requester' }, 'Requester'), requesterInput),
    h('div', { class: 'filter' }, h('label', { for: 'f-sort' }, 'Order'), sortSelect),
    h('div', { class: 'filter check' }, mineBox, h('label', { for: 'f-mine' }, 'Only what I may decide')));
  const status = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const list = h('ul', { class: 'items', 'aria-label': 'Reviews' });
  const problem = h('div');
  main.append(heading, form, problem, status, list);

  const update = () => {
    filters.state = stateSelect.value;
    filters.target = targetSelect.value;
    filters.requester = requesterInput.value.trim();
    filters.mine = mineBox.checked;
    filters.sort = sortSelect.value;
    writeFilters(filters);
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); update(); load(); });
  for (const control of [stateSelect, mineBox, requesterInput]) {
    control.addEventListener('change', () => { update(); load(); });
  }
  for (const control of [targetSelect, sortSelect]) {
    control.addEventListener('change', () => { update(); draw(); });
  }

  function draw() {
    const now = Date.now();
    const targets = [...new Set(reviews.map((review) => review.action.target))].sort();
    if (filters.target && !targets.includes(filters.target)) targets.push(filters.target);
    const chosen = filters.target;
    clear(targetSelect).append(h('option', { value: '' }, 'all targets'),
      targets.map((target) => h('option', { value: target }, target)));
    targetSelect.value = chosen;
    let shown = reviews.filter((review) => !filters.target || review.action.target === filters.target);
    if (filters.mine) shown = shown.filter((review) => review.viewer && review.viewer.may_vote);
    shown.sort(filters.sort === 'newest' ? byNewest : byUrgency);
    clear(list);
    for (const review of shown) list.append(reviewItem(review, now, { fresh: seen && !seen.has(review.id) }));
    if (shown.length === 0) {
      status.textContent = filters.mine && filters.state === 'pending'
        ? 'Nothing is waiting for your decision.' : 'No reviews match these filters.';
    } else {
      status.textContent = `${shown.length} review${shown.length === 1 ? '' : 's'}` +
        (filters.mine ? ' you may decide' : '');
    }
  }

  async function load() {
    try {
      const fetched = await api.listReviews({ state: filters.state, requester: filters.requester });
      if (disposed) return;
      const before = seen;
      reviews = fetched;
      if (before) {
        const arrived = reviews.filter((review) => !before.has(review.id) &&
          (!filters.mine || (review.viewer && review.viewer.may_vote)));
        if (arrived.length === 1) {
          announce(`New review: ${arrived[0].action.verb} on ${arrived[0].action.target} from ${requesterOf(arrived[0])}`);
        } else if (arrived.length > 1) announce(`${arrived.length} new reviews`);
      }
      clear(problem);
      draw();
      seen = new Set([...(before || []), ...reviews.map((review) => review.id)]);
    } catch (error) {
      if (!disposed && error.status !== 401) clear(problem).append(errorBox(error));
    }
  }

  let pending = null;
  load();
  timer = setInterval(draw, 15000);  // times waiting and left
  return {
    onReview() {
      clearTimeout(pending);
      pending = setTimeout(load, 150);
    },
    dispose() {
      disposed = true;
      clearInterval(timer);
      clearTimeout(pending);
    },
  };
}
