// Rewrites docs/inbox.png and docs/review.png (desktop) and
// docs/inbox-phone.png and docs/review-phone.png from a live gateway:
//   node tests/e2e/ui/screenshots.mjs
import { join } from 'node:path';
import { KEYS, ROOT, closeBrowser, launchBrowser, login, startGateway } from './helpers.mjs';

const out = join(ROOT, 'docs');
const gateway = await startGateway();
const browser = await launchBrowser();
try {
  const ask = async (verb, params, reason) => {
    const answer = await gateway.api('POST', '/v1/actions', KEYS.agent, { target: 'production', verb, params, reason });
    if (answer.status !== 202) throw new Error(answer.text);
    return answer.json.review_id;
  };
  await ask('exec:migrate', { database: 'orders', to_version: 42, dry_run: false }, 'schema for the returns feature');
  const destroy = await ask('exec:destroy-cache', {
    cluster: 'eu-west-1', keys: ['sessions:*', 'carts:*'], admin_password: 'hunter2-not-real',
  }, 'cache poisoned after the 14:02 incident, see ops@example.com');
  await ask('exec:restart', { service: 'api', replicas: 6 }, 'workers stuck since the last deploy');
  await ask('exec:deploy', {
    service: 'web', version: '1.4.2', api_token: 'sk-live-not-a-real-token-0000',
    notify: 'release-team@example.com', canary: { percent: 10, regions: ['eu', 'us'] },
  }, 'weekly release, ping ops@example.com');
  const vote = await gateway.api('POST', `/v1/reviews/${destroy}/approve`, KEYS.alice, { reason: 'checked the incident ticket' });
  if (vote.status !== 200) throw new Error(vote.text);

  const shoot = async (name, key, path, ready, options) => {
    const context = await browser.newContext(options);
    const page = await context.newPage();
    await login(page, gateway.url, key, path);
    await ready(page);
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.screenshot({ path: join(out, name), fullPage: name === 'review.png' });
    await context.close();
  };
  const inboxReady = async (page) => {
    await page.locator('li.item', { hasText: 'exec:deploy' }).waitFor();
    await page.locator('#live-state.on').waitFor();
  };
  const reviewReady = async (page) => {
    await page.locator('#approve').waitFor();
    await page.locator('.timeline li').first().waitFor();
  };
  const desktop = { viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1 };
  const phone = { viewport: { width: 390, height: 780 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
  await shoot('inbox.png', KEYS.alice, '/ui/', inboxReady, desktop);
  await shoot('review.png', KEYS.bob, `/ui/reviews/${destroy}`, reviewReady, { ...desktop, viewport: { width: 1100, height: 900 } });
  await shoot('inbox-phone.png', KEYS.alice, '/ui/', inboxReady, phone);
  await shoot('review-phone.png', KEYS.bob, `/ui/reviews/${destroy}`, reviewReady, phone);
  console.log('wrote inbox.png, review.png, inbox-phone.png and review-phone.png in', out);
} finally {
  await closeBrowser(browser);
  await gateway.stop();
}
