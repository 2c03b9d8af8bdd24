// The identity provider for countersign's OIDC tests: oidc-provider (npm,
// pinned in package-lock.json) on loopback. Prints "ready ISSUER" once
// listening. Usage: node idp.mjs --port P --keys KEYS.json --gateway URL [--alg ES256]
//
// Clients:
//   deploy-bot / deploy-bot-secret    client credentials; token carries launched_by (on_behalf_of)
//   ci-pipeline / ci-pipeline-secret  client credentials (mapped to kind: service by the gateway config)
//   short-lived / short-lived-secret  client credentials, tokens live 2 seconds
//   countersign-web / web-secret      authorization code + PKCE, redirect to GATEWAY/auth/callback
//   countersign-cli (public)          device authorization grant (RFC 8628)
// Resources: urn:countersign -> aud "countersign"; urn:other -> aud "someone-else".
// Accounts: any login name; NAME@example.com, verified; alice and bob are in group sre.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, value, index, all) => (index % 2 ? pairs : [...pairs, [value.replace(/^--/, ''), all[index + 1]]]), []),
);
const port = Number(args.port);
const gateway = args.gateway ?? 'http://127.0.0.1:1';
const alg = args.alg ?? 'ES256';
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(args.keys, 'utf8'));

const groupsOf = (id) => (['alice', 'bob'].includes(id) ? ['sre'] : []);
const clientCredentials = (id, secret) => ({
  client_id: id, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
});

const provider = new Provider(issuer, {
  jwks,
  clients: [
    clientCredentials('deploy-bot', 'deploy-bot-secret'),
    clientCredentials('ci-pipeline', 'ci-pipeline-secret'),
    clientCredentials('short-lived', 'short-lived-secret'),
    {
      client_id: 'countersign-web',
      client_secret: 'web-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${gateway}/auth/callback`],
      post_logout_redirect_uris: [`${gateway}/`],
    },
    {
      client_id: 'countersign-cli',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true, groups: groupsOf(id), name: id }),
  }),
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['countersign-test-idp-cookie-key'] },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? (client.grantTypes.includes('authorization_code') ? undefined : 'urn:countersign'),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => ({
        scope: 'openid email profile groups',
        audience: resource === 'urn:other' ? 'someone-else' : 'countersign',
        accessTokenTTL: client.clientId === 'short-lived' ? 2 : 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
  extraTokenClaims: async (ctx, token) => {
    if (token.clientId === 'deploy-bot') return { launched_by: 'dana@example.com' };
    if (token.accountId) {
      return { email: `${token.accountId}@example.com`, email_verified: true, groups: groupsOf(token.accountId) };
    }
    return undefined;
  },
});
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
