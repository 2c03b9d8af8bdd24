// Rewrites docs/screenshots/inbox.png and review.png from a live gateway:
//   node tests/e2e/ui/screenshots.mjs
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS, ROOT, launchBrowser, login, startGateway } from './helpers.mjs';

const out = join(ROOT, 'docs', 'screenshots');
mkdirSync(out, { recursive: true });
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

  const alice = await browser.newContext({ viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1 });
  const inbox = await alice.newPage();
  await login(inbox, gateway.url, KEYS.alice);
  await inbox.locator('li.item', { hasText: 'exec:deploy' }).waitFor();
  await inbox.locator('#live-state.on').waitFor();
  await inbox.evaluate(() => document.activeElement && document.activeElement.blur());
  await inbox.screenshot({ path: join(out, 'inbox.png') });

  const bob = await browser.newContext({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  const review = await bob.newPage();
  await login(review, gateway.url, KEYS.bob, `/ui/reviews/${destroy}`);
  await review.locator('#approve').waitFor();
  await review.locator('.timeline li').first().waitFor();
  await review.evaluate(() => document.activeElement && document.activeElement.blur());
  await review.screenshot({ path: join(out, 'review.png'), fullPage: true });
  console.log('wrote', join(out, 'inbox.png'), 'and', join(out, 'review.png'));
} finally {
  await browser.close();
  await gateway.stop();
}
