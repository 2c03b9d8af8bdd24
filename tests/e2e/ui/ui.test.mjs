// The approver web UI in a real browser (Debian's Chromium, headless):
//   node --test tests/e2e/ui/
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KEYS, closeBrowser, launchBrowser, login, startGateway, withTimeout } from './helpers.mjs';

const SECRET = 'planted-SECRET-7f3a9c-do-not-show';
const EMAIL = 'planted.person@example.org';
const CARD = '4111 1111 1111 1111';

let gateway;
let browser;

before(async () => {
  gateway = await startGateway();
  browser = await launchBrowser();
});

after(async () => {
  await closeBrowser(browser);
  await gateway?.stop();
});

// No test may wait forever: a stuck one fails with the step it was on.
const LIMIT = { timeout: 90000 };

// Every response body a page receives (event streams are read separately).
// Playwright hands a body over only once the page has read all of it, so
// every request a test makes from the page must read its answer; a body
// that never arrives fails the test with its URL instead of hanging.
// Collecting stops recording: a response the page receives afterwards (a
// live update racing the end of the test) would otherwise be read from a
// page that is closing, and fail the test file after the test.
function recordResponses(page) {
  const bodies = [];
  const record = (response) => {
    const type = response.headers()['content-type'] || '';
    if (type.startsWith('text/event-stream')) return;
    const what = `${response.request().method()} ${response.url()} (${response.status()})`;
    bodies.push(withTimeout(response.text(), 10000, 'the body of ' + what)
      .then((text) => ({ url: response.url(), text }),
        (error) => {
          // Redirects have no body; anything else must have one.
          if (response.status() >= 300 && response.status() < 400) return { url: response.url(), text: '' };
          throw error;
        }));
  };
  page.on('response', record);
  return async () => {
    page.off('response', record);
    return Promise.all(bodies);
  };
}

function recordCspViolations(page) {
  const violations = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  page.on('pageerror', (error) => violations.push('page error: ' + error.message));
  return violations;
}

function assertNoSecret(text, where) {
  for (const secret of [SECRET, EMAIL, CARD, CARD.replace(/ /g, '')]) {
    assert.ok(!text.includes(secret), `${where} contains the planted value ${secret}`);
  }
}

test('login page, cookie session, CSP', LIMIT, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations = recordCspViolations(page);
  const first = await page.goto(gateway.url + '/ui/');
  const csp = first.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.locator('#api-key').waitFor();
  assert.match(page.url(), /\/ui\/login/);

  // A wrong key is refused on the page.
  await page.fill('#api-key', 'not-a-key');
  await page.press('#api-key', 'Enter');
  await page.locator('.alert', { hasText: 'not valid' }).waitFor();

  await page.fill('#api-key', KEYS.alice);
  await page.click('button[type=submit]');
  await page.locator('#who-name', { hasText: 'alice@example.com' }).waitFor();
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0].name, 'countersign_session');
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Lax');
  assert.ok(!cookies[0].value.includes(KEYS.alice));
  // The key is kept nowhere in the browser.
  const stored = await page.evaluate(() => JSON.stringify([document.cookie, { ...localStorage }, { ...sessionStorage }, document.body.innerHTML]));
  assert.ok(!stored.includes(KEYS.alice), 'the API key stayed in the browser');

  // Agents are refused: the UI is for people.
  const agentLogin = await page.evaluate(async (key) => {
    const response = await fetch('/ui/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ api_key: key }) });
    return response.status;
  }, KEYS.agent);
  assert.equal(agentLogin, 403);

  // Logout ends the session server-side.
  await page.click('#logout');
  await page.locator('#api-key').waitFor();
  const after = await page.evaluate(async () => (await fetch('/ui/session')).status);
  assert.equal(after, 401);
  assert.deepEqual(violations, []);
  await context.close();
});

test('an agent request reaches the inbox live, is approved with masked values only, and the held call completes', LIMIT, async () => {
  const alice = await browser.newContext();
  const alicePage = await alice.newPage();
  const aliceBodies = recordResponses(alicePage);
  const violations = recordCspViolations(alicePage);
  await login(alicePage, gateway.url, KEYS.alice);
  await alicePage.locator('h1', { hasText: 'Inbox' }).waitFor();
  // Read the raw event stream too, to check what it carries.
  await alicePage.evaluate(() => {
    window.sseData = [];
    const source = new EventSource('/ui/events');
    source.addEventListener('review', (event) => window.sseData.push(event.data));
    window.noReload = 'still the same page';
  });

  const dana = await browser.newContext();
  const danaPage = await dana.newPage();
  const danaBodies = recordResponses(danaPage);
  await login(danaPage, gateway.url, KEYS.dana, '/ui/mine');
  await danaPage.locator('h1', { hasText: 'My requests' }).waitFor();

  // The agent asks and waits (held), with secrets in its parameters.
  const held = gateway.api('POST', '/v1/actions?wait=60', KEYS.agent, {
    target: 'production', verb: 'exec:deploy',
    params: { service: 'web', version: '2.0.0', api_token: SECRET, contact: EMAIL, billing: { card: CARD } },
    reason: `release, questions to ${EMAIL}`,
  });

  // It appears in Alice's inbox without a reload.
  const item = alicePage.locator('li.item', { hasText: 'exec:deploy' });
  await item.waitFor({ timeout: 10000 });
  assert.equal(await alicePage.evaluate(() => window.noReload), 'still the same page');
  await item.locator('text=your decision').waitFor();
  // ... and in Dana's requests, also live.
  await danaPage.locator('li.item', { hasText: 'exec:deploy' }).waitFor({ timeout: 10000 });

  // Alice opens it: masked values, highlighted.
  await item.locator('a').first().click();
  await alicePage.locator('#approve').waitFor();
  const reviewUrl = alicePage.url();
  const reviewId = decodeURIComponent(reviewUrl.split('/').pop());
  assert.match(reviewId, /^rv_/);
  const masked = await alicePage.locator('.params mark.masked').allTextContents();
  assert.ok(masked.includes('[REDACTED]'), masked.join());
  assert.ok(masked.includes('[EMAIL]'), masked.join());
  assert.ok(masked.some((text) => text.endsWith('1111')), masked.join());
  await alicePage.locator('text=Changes to production need an SRE').first().waitFor();
  await alicePage.locator('.step', { hasText: 'in progress' }).waitFor();
  await alicePage.locator('.timeline li', { hasText: 'review.created' }).waitFor();
  // Nothing missing is printed as "null" or "undefined".
  assert.doesNotMatch(await alicePage.locator('main').innerText(), /\b(null|undefined)\b/);

  // Dana (the agent acts for her) sees no buttons, and the server refuses
  // a POST forged from her session with a valid CSRF token.
  await danaPage.goto(reviewUrl);
  await danaPage.locator('.not-yours').waitFor();
  assert.equal(await danaPage.locator('#approve').count(), 0);
  assert.equal(await danaPage.locator('#reject').count(), 0);
  assert.equal(await danaPage.locator('#cancel').count(), 1);
  const forged = await danaPage.evaluate(async (id) => {
    const session = await (await fetch('/ui/session')).json();
    const response = await fetch(`/v1/reviews/${id}/approve`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token }, body: '{}',
    });
    return { status: response.status, body: await response.json() };
  }, reviewId);
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error.code, 'permission_denied');

  // From Alice's own session, a POST without the CSRF token (or with a
  // wrong one) is refused.
  const withoutToken = await alicePage.evaluate(async (id) => {
    const bare = await fetch(`/v1/reviews/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    const wrong = await fetch(`/v1/reviews/${id}/approve`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'f'.repeat(64) }, body: '{}' });
    return [bare.status, (await bare.json()).error.message, wrong.status, (await wrong.json()).error.message];
  }, reviewId);
  assert.equal(withoutToken[0], 403);
  assert.match(withoutToken[1], /CSRF/);
  assert.equal(withoutToken[2], 403);
  assert.match(withoutToken[3], /CSRF token does not match/);
  const still = await gateway.api('GET', `/v1/reviews/${reviewId}`, KEYS.alice);
  assert.equal(still.json.state, 'pending');

  // Reject needs a reason (checked on the page, then by the server).
  await alicePage.click('#reject');
  await alicePage.locator('.alert', { hasText: 'reason' }).waitFor();

  // Alice approves; the agent's held call completes.
  await alicePage.fill('#decision-reason', 'release window');
  await alicePage.click('#approve');
  const answer = await held;
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.decision, 'allow');
  assert.equal(answer.json.grant.redeemed, true);
  await alicePage.locator('.title-row .badge', { hasText: /approved|executed/ }).waitFor();
  await alicePage.locator('.votes li', { hasText: 'alice@example.com' }).waitFor();
  await alicePage.locator('.votes li', { hasText: 'release window' }).waitFor();
  // Dana's open page follows without a reload.
  await danaPage.locator('.title-row .badge', { hasText: /approved|executed/ }).waitFor({ timeout: 10000 });

  // The planted secret never reached either browser: not in the DOM, not in
  // any response, not in the event stream.
  for (const page of [alicePage, danaPage]) {
    assertNoSecret(await page.content(), 'the DOM');
    assertNoSecret(await page.evaluate(() => document.body.innerText), 'the page text');
  }
  const bodies = [...await aliceBodies(), ...await danaBodies()];
  assert.ok(bodies.length > 20, `only ${bodies.length} responses recorded`);
  for (const { url, text } of bodies) assertNoSecret(text, url);
  const sse = await alicePage.evaluate(() => window.sseData);
  assert.ok(sse.length >= 2, 'the event stream carried review changes');
  for (const data of sse) {
    assert.deepEqual(Object.keys(JSON.parse(data)).sort(), ['id', 'state', 'version']);
    assertNoSecret(data, 'the event stream');
  }
  assert.deepEqual(violations, []);
  await alice.close();
  await dana.close();
});

test('audit page searches, checks the chain and shows inclusion status', LIMIT, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations = recordCspViolations(page);
  await login(page, gateway.url, KEYS.bob, '/ui/audit');
  await page.locator('h1', { hasText: 'Audit log' }).waitFor();
  await page.locator('.event').first().waitFor();
  await page.locator('.log-status .badge', { hasText: 'intact' }).waitFor();
  // The quickstart issues a checkpoint every 10 s; the page looks again by
  // itself until the first one exists.
  let checkpoint = await gateway.api('GET', '/v1/audit/checkpoint?format=json', KEYS.bob);
  for (let i = 0; i < 30 && checkpoint.status === 404; i++) {
    await new Promise((resolve) => { setTimeout(resolve, 500); });
    checkpoint = await gateway.api('GET', '/v1/audit/checkpoint?format=json', KEYS.bob);
  }
  assert.equal(checkpoint.status, 200, checkpoint.text);
  await page.locator('.log-status', { hasText: 'Latest signed checkpoint' }).waitFor({ timeout: 20000 });
  const button = page.locator('.event button', { hasText: 'verify inclusion' }).first();
  await button.click();
  await page.locator('.verify-result .badge', { hasText: 'included' }).first().waitFor();
  await page.selectOption('#a-type', 'review.voted');
  await page.click('form.filters button[type=submit]');
  // The list is redrawn with the filtered search: only votes remain.
  await page.waitForFunction(() => {
    const types = [...document.querySelectorAll('.event .event-type')].map((element) => element.textContent);
    return types.length > 0 && types.every((type) => type === 'review.voted');
  }, null, { timeout: 15000 });
  assert.deepEqual(violations, []);
  await context.close();
});

test('usable on a phone and from the keyboard', LIMIT, async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const pending = await gateway.api('POST', '/v1/actions', KEYS.agent, {
    target: 'production', verb: 'exec:restart', params: { service: 'api' }, reason: 'stuck workers',
  });
  assert.equal(pending.status, 202);
  await login(page, gateway.url, KEYS.alice);
  await page.locator('li.item', { hasText: 'exec:restart' }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the inbox is ${overflow}px wider than the phone screen`);

  // Keyboard only: on a fresh load the first Tab reaches the skip link;
  // links and buttons are reachable and work with Enter.
  await page.reload();
  await page.locator('li.item', { hasText: 'exec:restart' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  const link = page.locator('li.item', { hasText: 'exec:restart' }).locator('a').first();
  await link.focus();
  await page.keyboard.press('Enter');
  await page.locator('#approve').waitFor();
  const reviewOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(reviewOverflow <= 1, `the review page is ${reviewOverflow}px wider than the phone screen`);
  await page.focus('#decision-reason');
  await page.keyboard.type('not now');
  await page.keyboard.press('Tab');  // -> Approve
  await page.keyboard.press('Tab');  // -> Reject
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reject');
  await page.keyboard.press('Enter');
  await page.locator('.title-row .badge', { hasText: 'rejected' }).waitFor();
  await context.close();
});
