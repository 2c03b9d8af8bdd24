// Sign in through the organisation's identity provider (when the gateway
// has identity.oidc.login: a plain link to /auth/login, which goes through
// the provider's login and comes back signed in), or with an API key. The
// key goes to the gateway once; the gateway answers with an HttpOnly session
// cookie, and the key is forgotten here.
import * as api from './api.js';
import { h } from './dom.js';

export function loginView(main, { onSignedIn, next = '/ui/inbox' }) {
  const input = h('input', {
    id: 'api-key', name: 'api_key', type: 'password', required: true, autocomplete: 'off',
    spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'api-key-help',
  });
  const problem = h('div', { class: 'alert', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card login', novalidate: true },
    h('h1', null, 'Sign in'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { id: 'api-key-help', class: 'muted small' },
      'Paste your countersign API key. It is sent once to this gateway, which starts a session; ' +
      'the key is not kept in this browser.'),
    problem,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const key = input.value.trim();
    if (!key) {
      problem.textContent = 'Enter your API key.';
      problem.hidden = false;
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await api.post('/ui/login', { api_key: key }, { quiet401: true });
      input.value = '';
      await onSignedIn();
    } catch (error) {
      input.value = '';
      problem.textContent = error.status === 401 ? 'That API key is not valid.' : error.message;
      problem.hidden = false;
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  let disposed = false;
  (async () => {
    let methods;
    try { methods = await api.get('/ui/login-methods', { quiet401: true }); } catch { return; }
    if (disposed || !methods || !methods.oidc) return;
    const link = h('a', {
      id: 'oidc-login', class: 'button primary',
      href: methods.oidc.login_url + '?return_to=' + encodeURIComponent(next),
    }, `Sign in with ${methods.oidc.name}`);
    form.insertBefore(h('div', { class: 'sso' }, link,
      h('p', { class: 'muted small or' }, 'or with an API key:')), form.querySelector('label'));
    button.classList.remove('primary');
  })();
  setTimeout(() => input.focus(), 0);
  return { dispose() { disposed = true; } };
}
