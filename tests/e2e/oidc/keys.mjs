// Writes a private JWK Set for the test IdP: one RSA (RS256, for ID tokens),
// one EC P-256 (ES256) and one Ed25519 (EdDSA) key, with kids ending in the
// given label. Usage: node keys.mjs OUT.json LABEL
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [out, label] = process.argv.slice(2);
const jwk = (pair, kid, alg) => ({ ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
const keys = [
  jwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }), `ec-${label}`, 'ES256'),
  jwk(generateKeyPairSync('rsa', { modulusLength: 2048 }), `rsa-${label}`, 'RS256'),
  jwk(generateKeyPairSync('ed25519'), `ed-${label}`, 'EdDSA'),
];
writeFileSync(out, JSON.stringify({ keys }), { mode: 0o600 });
