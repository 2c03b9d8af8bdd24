// The approver web UI: one page, routed by path under /ui/.
import * as api from './api.js';
import { announce, clear, errorBox, h } from './dom.js';
import { inboxView } from './inbox.js';
import { reviewView } from './review.js';
import { mineView } from './mine.js';
import { auditView } from './audit.js';
import { loginView } from './login.js';

const main = document.getElementById('main');
const state = { session: null, view: null, events: null, retry: null, rendered: false };

function route(pathname) {
  const path = pathname.replace(/\/+$/, '');
  if (path === '/ui' || path === '/ui/inbox') return { name: 'inbox' };
  if (path === '/ui/mine') return { name: 'mine' };
  if (path === '/ui/audit') return { name: 'audit' };
  if (path === '/ui/login') return { name: 'login' };
  const review = path.match(/^\/ui\/reviews\/([^/]+)$/);
  if (review) return { name: 'review', id: decodeURIComponent(review[1]) };
  return { name: 'missing' };
}

// Only paths inside the UI may be a place to go back to after login.
function safeNext(text) {
  return typeof text === 'string' && text.startsWith('/ui/') && !text.startsWith('/ui/login') &&
    !text.includes('//') && !text.includes('\\') ? text : '/ui/inbox';
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function setNav(active) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function showSignedIn(session) {
  document.getElementById('nav').hidden = !session;
  document.getElementById('who').hidden = !session;
  document.getElementById('who-name').textContent = session ? session.subject : '';
}

async function loadSession() {
  try {
    state.session = await api.get('/ui/session', { quiet401: true });
    api.setCsrfToken(state.session.csrf_token);
  } catch (error) {
    if (error.status !== 401) throw error;
    state.session = null;
    api.setCsrfToken('');
  }
  showSignedIn(state.session);
  return state.session;
}

function goLogin() {
  const here = location.pathname + location.search;
  stopEvents();
  state.session = null;
  showSignedIn(null);
  navigate('/ui/login?next=' + encodeURIComponent(safeNext(here)), { replace: true });
}

async function render() {
  if (state.view && state.view.dispose) state.view.dispose();
  state.view = null;
  const where = route(location.pathname);
  if (where.name === 'login') {
    setNav(null);
    const next = safeNext(new URLSearchParams(location.search).get('next'));
    if (state.session) { navigate(next, { replace: true }); return; }
    state.view = loginView(clear(main), {
      next,
      onSignedIn: async () => {
        await loadSession();
        startEvents();
        navigate(next, { replace: true });
      },
    });
    focusHeading();
    return;
  }
  if (!state.session) {
    goLogin();
    return;
  }
  setNav(where.name);
  const context = { session: state.session, navigate };
  clear(main);
  if (where.name === 'inbox') state.view = inboxView(main, context);
  else if (where.name === 'review') state.view = reviewView(main, context, where.id);
  else if (where.name === 'mine') state.view = mineView(main, context);
  else if (where.name === 'audit') state.view = auditView(main, context);
  else main.append(h('h1', { tabindex: '-1' }, 'Not found'), h('p', null, 'There is no such page.'));
  focusHeading();
}

function focusHeading() {
  // After a route change (not on the first load, so that Tab still starts
  // at the skip link), move focus to the page's heading for keyboard and
  // screen-reader users.
  const first = !state.rendered;
  state.rendered = true;
  if (first) return;
  const heading = main.querySelector('h1');
  if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: true }); }
}

// Live updates: the gateway sends one `review` event per change.
function startEvents() {
  stopEvents();
  const liveState = document.getElementById('live-state');
  const source = new EventSource('/ui/events');
  state.events = source;
  source.addEventListener('open', () => { liveState.textContent = '● live'; liveState.className = 'live-state on'; });
  source.addEventListener('review', (event) => {
    let change;
    try { change = JSON.parse(event.data); } catch { return; }
    if (state.view && state.view.onReview) state.view.onReview(change);
    refreshCount();
  });
  source.addEventListener('session', () => goLogin());
  source.addEventListener('error', () => {
    liveState.textContent = '○ reconnecting';
    liveState.className = 'live-state off';
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. the session ended): find out why, then try again.
      state.retry = setTimeout(async () => {
        try {
          if (await loadSession()) startEvents();
          else goLogin();
        } catch { startEvents(); }
      }, 3000);
    }
  });
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
  clearTimeout(state.retry);
}

let countTimer = null;
function refreshCount() {
  clearTimeout(countTimer);
  countTimer = setTimeout(async () => {
    const badge = document.getElementById('inbox-count');
    try {
      const reviews = await api.listReviews({ state: 'pending' }, 500);
      const mine = reviews.filter((review) => review.viewer && review.viewer.may_vote).length;
      badge.textContent = String(mine);
      badge.hidden = mine === 0;
      badge.setAttribute('aria-label', `${mine} waiting for you`);
    } catch { badge.hidden = true; }
  }, 250);
}

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || event.altKey) return;
  const anchor = event.target.closest('a[href]');
  if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/') ||
      url.pathname.startsWith('/ui/assets/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render());

document.getElementById('logout').addEventListener('click', async () => {
  const path = state.session && state.session.login_method === 'oidc' ? '/auth/logout' : '/ui/logout';
  try { await api.post(path); } catch { /* signed out either way */ }
  stopEvents();
  state.session = null;
  showSignedIn(null);
  announce('Signed out');
  navigate('/ui/login', { replace: true });
});

api.setUnauthenticatedHandler(() => goLogin());

(async () => {
  try {
    if (await loadSession()) { startEvents(); refreshCount(); }
    render();
  } catch (error) {
    clear(main).append(h('h1', null, 'countersign'), errorBox(error));
  }
})();
