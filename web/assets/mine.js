// My requests: what I, or agents acting for me, asked for.
import * as api from './api.js';
import { clear, errorBox, h } from './dom.js';
import { byNewest, reviewItem } from './list.js';

export function mineView(main) {
  let disposed = false;
  const status = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Loading…');
  const list = h('ul', { class: 'items', 'aria-label': 'My requests' });
  const problem = h('div');
  main.append(h('h1', null, 'My requests'),
    h('p', { class: 'muted' }, 'Reviews you asked for, or that agents acting on your behalf asked for.'),
    problem, status, list);
  let reviews = [];
  function draw() {
    const now = Date.now();
    clear(list);
    for (const review of reviews) list.append(reviewItem(review, now));
    status.textContent = reviews.length ? `${reviews.length} request${reviews.length === 1 ? '' : 's'}` : 'You have no requests.';
  }
  async function load() {
    try {
      const fetched = await api.listReviews({ requester: 'me' });
      if (disposed) return;
      reviews = fetched.sort(byNewest);
      clear(problem);
      draw();
    } catch (error) {
      if (!disposed && error.status !== 401) clear(problem).append(errorBox(error));
    }
  }
  load();
  const timer = setInterval(draw, 15000);
  let pending = null;
  return {
    onReview() { clearTimeout(pending); pending = setTimeout(load, 150); },
    dispose() { disposed = true; clearInterval(timer); clearTimeout(pending); },
  };
}
