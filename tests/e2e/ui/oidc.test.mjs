// Signing in to the web UI through a real identity provider (oidc-provider,
// tests/e2e/oidc/idp.mjs) with Authorization Code + PKCE, in Chromium:
//   node --test tests/e2e/ui/oidc.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  KEYS, ROOT, closeBrowser, freePort, launchBrowser, startGateway, startProcess,
} from './helpers.mjs';

const LIMIT = { timeout: 90000 };

let idp;
let gateway;
let browser;
let keysDirectory;

before(async () => {
  keysDirectory = mkdtempSync(join(tmpdir(), 'countersign-idp-'));
  const keys = join(keysDirectory, 'keys.json');
  execFileSync('node', [join(ROOT, 'tests/e2e/oidc/keys.mjs'), keys, 'ui'], { timeout: 30000 });
  // The IdP must know the gateway's callback URL and the gateway the IdP's
  // issuer before either starts: pick the gateway's port first.
  const gatewayPort = await freePort();
  const idpPort = await freePort();
  idp = await startProcess('node', [join(ROOT, 'tests/e2e/oidc/idp.mjs'), '--port', String(idpPort),
    '--keys', keys, '--gateway', `http://127.0.0.1:${gatewayPort}`], /^ready (\S+)/, { what: 'the test IdP' });
  const issuer = idp.match[1];
  gateway = await startGateway({
    port: gatewayPort,
    configure: (yaml, directory) => {
      writeFileSync(join(directory, 'secrets', 'web-client-secret'), 'web-secret\n', { mode: 0o600 });
      const oidc = [
        '  oidc:',
        '    issuers:',
        '      - name: Example IdP',
        `        issuer: ${issuer}`,
        '        audience: countersign',
        '        claims:',
        '          subject: email',
        '          kind: human',
        '        login:',
        '          client_id: countersign-web',
        '          client_secret: file:secrets/web-client-secret',
        '          scopes: [openid, email, profile, groups]',
        '    login:',
        '      issuer: Example IdP',
        '      session_lifetime: 1h',
      ].join('\n');
      assert.match(yaml, /^identity:\n/m);
      return yaml.replace(/^identity:\n/m, `identity:\n${oidc}\n`);
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await closeBrowser(browser);
  await gateway?.stop();
  await idp?.stop();
  if (keysDirectory) rmSync(keysDirectory, { recursive: true, force: true });
});

// A browser context that talks to loopback only (the IdP's pages link web
// fonts; nothing may leave the machine).
async function newContext() {
  const context = await browser.newContext();
  await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
  return context;
}

// Through the IdP's own login and consent pages, as a person would.
async function signInAtIdp(page, login) {
  await page.locator('input[name=login]').waitFor();
  assert.ok(page.url().startsWith(idp.match[1]), `on the IdP's login page, not ${page.url()}`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any-password');
  await page.click('button[type=submit]');
  // Consent (first sign-in of this account with this client).
  const consent = page.locator('button[type=submit]', { hasText: /Continue/ });
  await consent.waitFor();
  await consent.click();
}

test('a person signs in through the IdP, lands in the inbox and approves a review', LIMIT, async () => {
  const context = await newContext();
  const page = await context.newPage();
  const callbacks = [];
  page.on('request', (request) => {
    if (request.url().includes('/auth/callback')) callbacks.push(request.url());
  });

  // An agent's request is waiting, held, before anyone signs in.
  const held = gateway.api('POST', '/v1/actions?wait=60', KEYS.agent, {
    target: 'production', verb: 'exec:deploy', params: { service: 'web', version: '3.1.0' }, reason: 'release',
  });
  let reviewId;
  for (let i = 0; i < 50 && !reviewId; i++) {
    const pending = await gateway.api('GET', '/v1/reviews?state=pending', KEYS.alice);
    reviewId = pending.json?.reviews?.find((review) => review.action?.verb === 'exec:deploy')?.id;
    if (!reviewId) await new Promise((resolve) => { setTimeout(resolve, 100); });
  }
  assert.ok(reviewId, 'the agent request opened a review');

  // A link to the review (as in a notification) asks to sign in first.
  await page.goto(`${gateway.url}/ui/reviews/${reviewId}`);
  const sso = page.locator('#oidc-login');
  await sso.waitFor();
  assert.equal(await sso.textContent(), 'Sign in with Example IdP');
  assert.match(await sso.getAttribute('href'), new RegExp(`^/auth/login\\?return_to=${encodeURIComponent(`/ui/reviews/${reviewId}`)}$`));
  await sso.click();

  // The authorization request: code flow, PKCE S256, state and nonce.
  await page.locator('input[name=login]').waitFor();
  await signInAtIdp(page, 'alice');

  // Back on the review, signed in as the IdP's alice.
  await page.locator('#who-name', { hasText: 'alice@example.com' }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/ui/reviews/${reviewId}`);
  assert.equal(callbacks.length, 1);
  const callback = new URL(callbacks[0]);
  assert.ok(callback.searchParams.get('code') && callback.searchParams.get('state'));
  const session = await page.evaluate(async () => (await fetch('/ui/session')).json());
  assert.equal(session.subject, 'alice@example.com');
  assert.equal(session.kind, 'human');
  assert.equal(session.login_method, 'oidc');
  assert.deepEqual(session.groups, ['sre']);
  const cookies = await context.cookies(gateway.url);
  const sessionCookie = cookies.find((cookie) => cookie.name === 'countersign_session');
  assert.ok(sessionCookie, JSON.stringify(cookies));
  assert.equal(sessionCookie.httpOnly, true);
  assert.equal(sessionCookie.sameSite, 'Lax');
  assert.equal(sessionCookie.secure, false);  // plain http on loopback; Secure under https
  assert.equal(cookies.some((cookie) => cookie.name.endsWith('_login')), false, 'the login cookie was cleared');

  // A vote without the session's CSRF token is refused.
  const bare = await page.evaluate(async (id) => {
    const response = await fetch(`/v1/reviews/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    return { status: response.status, body: await response.json() };
  }, reviewId);
  assert.equal(bare.status, 403);
  assert.match(bare.body.error.message, /CSRF/);

  // Approve with one click; the agent's held call completes.
  await page.locator('#approve').click();
  const answer = await held;
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.decision, 'allow');
  await page.locator('.votes li', { hasText: 'alice@example.com' }).waitFor();
  const review = await gateway.api('GET', `/v1/reviews/${reviewId}`, KEYS.bob);
  assert.ok(review.json.votes.some((vote) => vote.approver === 'alice@example.com' && vote.approve === true),
    review.text);

  // The callback URL cannot be used again (state is single use), not even
  // in the browser that started the login.
  const replay = await page.goto(callbacks[0]);
  assert.equal(replay.status(), 401);
  await page.locator('h1', { hasText: 'Sign-in failed' }).waitFor();
  assert.match(await page.locator('.alert').textContent(), /already used/);

  // Sign out ends the session on the gateway.
  await page.goto(`${gateway.url}/ui/inbox`);
  await page.locator('#who-name', { hasText: 'alice@example.com' }).waitFor();
  await page.click('#logout');
  await page.locator('#oidc-login').waitFor();
  assert.equal(await page.evaluate(async () => (await fetch('/ui/session')).status), 401);
  await context.close();
});

test('a callback from another browser, a forged state and an IdP refusal all fail', LIMIT, async () => {
  // Start a login in one browser, and carry its callback into another one
  // (login CSRF): refused, because the login is bound to the first browser.
  const first = await newContext();
  const page = await first.newPage();
  // Stop at the IdP's consent: follow its redirects by hand up to the
  // callback URL, which this browser then never opens.
  let callback = null;
  await page.route((url) => url.origin === idp.match[1] && url.pathname.startsWith('/interaction/'), async (route) => {
    if (route.request().method() !== 'POST' || !/prompt=consent/.test(route.request().postData() ?? '')) {
      return route.continue();
    }
    let response = await route.fetch({ maxRedirects: 0 });
    let location = new URL(response.headers().location, route.request().url()).href;
    while (!location.startsWith(gateway.url)) {
      response = await first.request.get(location, { maxRedirects: 0 });
      location = new URL(response.headers().location, location).href;
    }
    callback = location;
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'stopped before the callback' });
  });
  await page.goto(`${gateway.url}/auth/login?return_to=/ui/mine`);
  await signInAtIdp(page, 'bob');
  await page.locator('text=stopped before the callback').waitFor();
  assert.ok(callback && new URL(callback).searchParams.get('code'), `the IdP redirected back with a code: ${callback}`);
  const other = await newContext();
  const stranger = await other.newPage();
  const carried = await stranger.goto(callback);
  assert.equal(carried.status(), 401);
  await stranger.locator('.alert', { hasText: 'another browser' }).waitFor();
  assert.equal((await other.cookies(gateway.url)).some((cookie) => cookie.name === 'countersign_session'), false);

  // A state the gateway never issued.
  const forged = await stranger.goto(`${gateway.url}/auth/callback?code=abc&state=not-a-state`);
  assert.equal(forged.status(), 401);

  // The person declines at the IdP: the IdP's error comes back and is shown.
  let authorization = null;
  stranger.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin === idp.match[1] && url.pathname === '/auth') authorization = url;
  });
  await stranger.goto(`${gateway.url}/auth/login`);
  await stranger.locator('input[name=login]').waitFor();
  assert.ok(authorization, 'the login went to the IdP');
  const declined = await stranger.goto(`${gateway.url}/auth/callback?error=access_denied&error_description=${
    encodeURIComponent('End-User aborted interaction')}&state=${authorization.searchParams.get('state')}`);
  assert.equal(declined.status(), 401);
  await stranger.locator('.alert', { hasText: 'refused the login: access_denied (End-User aborted interaction)' }).waitFor();

  // Every login starts at the IdP with PKCE S256, state, nonce and the
  // registered redirect URI, bound to the browser by an HttpOnly cookie.
  const response = await fetch(`${gateway.url}/auth/login?return_to=${encodeURIComponent('//evil.example/x')}`,
    { redirect: 'manual' });
  assert.equal(response.status, 302);
  const location = new URL(response.headers.get('location'));
  assert.equal(location.origin, idp.match[1]);
  assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
  assert.match(location.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.ok(location.searchParams.get('nonce') && location.searchParams.get('state'));
  assert.equal(location.searchParams.get('redirect_uri'), `${gateway.url}/auth/callback`);
  const binding = response.headers.get('set-cookie');
  assert.match(binding, /HttpOnly/);
  assert.match(binding, /SameSite=Lax/);
  await response.arrayBuffer();
  await first.close();
  await other.close();
});
