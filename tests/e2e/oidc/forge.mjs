// Signs a token the IdP never issued, for refusal tests.
// Usage: node forge.mjs '{"alg":"ES256","kid":"x"}' '{"iss":...}'  -> prints the JWT
// The key is fresh (unknown to everyone) unless FORGE_KEY names a private JWK file.
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [headerText, claimsText] = process.argv.slice(2);
const header = JSON.parse(headerText);
const b64 = (value) => Buffer.from(value).toString('base64url');
const input = `${b64(JSON.stringify(header))}.${b64(claimsText)}`;
let key;
if (process.env.FORGE_KEY) {
  key = createPrivateKey({ key: JSON.parse(readFileSync(process.env.FORGE_KEY, 'utf8')), format: 'jwk' });
} else if (header.alg === 'ES256') {
  key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
} else if (header.alg === 'EdDSA') {
  key = generateKeyPairSync('ed25519').privateKey;
} else {
  key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}
const algorithm = header.alg === 'EdDSA' ? null : 'sha256';
const options = header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : { key };
process.stdout.write(`${input}.${sign(algorithm, Buffer.from(input), options).toString('base64url')}`);
