// Generates the labeled masking corpus: JSON payloads, SQL statements, log
// lines and prose with planted values of every detector type, and decoys
// that must not match (order numbers, UUIDs, timestamps, versions, invalid
// card numbers, ...). Deterministic for a seed.
//
//   node tests/corpus/generate.mjs [--docs N] [--seed S] [--out FILE]
//
// Each output line is one document:
//   {"id", "kind": "json"|"sql"|"log"|"prose", "text",
//    "labels": [{"type", "path", "start", "end"}],   // byte offsets
//    "decoys": [{"kind", "path", "start", "end"}]}
// For "json" documents, path is the JSON pointer of a string (or integer)
// value and offsets are inside its decoded UTF-8 bytes; a value under a
// secret-named key is labeled {"type": "secret_key", start: 0, end: 0}.
// For the other kinds, path is "" and offsets are inside "text".
import { faker } from '@faker-js/faker';
import { writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const DOCS = Number(option('--docs', 3000));
const SEED = Number(option('--seed', 20261122));
const OUT = option('--out', new URL('./mask_corpus.jsonl', import.meta.url).pathname);
faker.seed(SEED);

const pick = (items) => faker.helpers.arrayElement(items);
const chance = (p) => faker.number.float({ min: 0, max: 1 }) < p;
const int = (min, max) => faker.number.int({ min, max });
const chars = (alphabet, n) => faker.string.fromCharacters(alphabet, n);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64 = ALNUM + '+/';
const B64URL = ALNUM + '-_';
const UPPER_B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789abcdef';

// The default profile's secret key words (src/mask/mask.cc default_profile()).
const SECRET_WORDS = ['password', 'passwd', 'secret', 'token', 'authorization', 'apikey',
  'privatekey', 'credential', 'cookie', 'sessionid', 'accesskey'];
const normalizeKey = (key) => key.replace(/[-_. ]/g, '').toLowerCase();
const isSecretKey = (key) => SECRET_WORDS.some((w) => normalizeKey(key).includes(w));

// ---------------------------------------------------------------------------
// Values

function luhnComplete(partial) {
  // Appends the check digit to a digit string.
  let sum = 0;
  for (let i = 0; i < partial.length; i++) {
    let d = Number(partial[partial.length - 1 - i]);
    if (i % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return partial + String((10 - (sum % 10)) % 10);
}

function card() {
  const issuer = pick(['visa', 'mastercard', 'amex', 'discover', 'jcb', 'diners_club', 'visa', 'mastercard']);
  let value = faker.finance.creditCardNumber(issuer);
  const digits = value.replace(/\D/g, '');
  const style = int(0, 3);
  if (style === 0) value = digits;
  else if (style === 1 && digits.length === 16) value = digits.replace(/(\d{4})(?=\d)/g, '$1 ');
  return value;
}

function invalidCard() {
  const value = card();
  // Change the last digit: the Luhn check fails.
  const last = Number(value[value.length - 1]);
  return value.slice(0, -1) + String((last + int(1, 9)) % 10);
}

function phone() {
  switch (int(0, 4)) {
    case 0: return faker.phone.number({ style: 'human' });
    case 1: return faker.phone.number({ style: 'international' });
    case 2: return faker.phone.number({ style: 'national' });
    case 3: {
      const [cc, groups] = pick([['44', [2, 4, 4]], ['49', [3, 7]], ['33', [1, 2, 2, 2, 2]],
        ['61', [1, 4, 4]], ['91', [5, 5]], ['81', [2, 4, 4]], ['34', [3, 3, 3]], ['31', [2, 8]]]);
      return `+${cc} ` + groups.map((n) => String(int(1, 9)) + chars('0123456789', n - 1)).join(' ');
    }
    default: {
      const area = int(201, 989), exchange = int(200, 999), line = chars('0123456789', 4);
      return pick([`${area}-${exchange}-${line}`, `+1 ${area} ${exchange} ${line}`, `1-${area}-${exchange}-${line}`]);
    }
  }
}

function ssnParts() {
  let area;
  do { area = int(1, 899); } while (area === 666);
  return [String(area).padStart(3, '0'), String(int(1, 99)).padStart(2, '0'), String(int(1, 9999)).padStart(4, '0')];
}
const ssn = () => { const p = ssnParts(); return chance(0.8) ? p.join('-') : p.join(' '); };
const invalidSsn = () => `${pick(['000', '666', String(int(900, 999))])}-${String(int(1, 99)).padStart(2, '0')}-${String(int(1, 9999)).padStart(4, '0')}`;

function nino() {
  const first = 'ABCEGHJKLMNPRSTWXYZ', second = 'ABCEGHJKLMNPRSTWXYZ';
  let prefix;
  do { prefix = chars(first, 1) + chars(second, 1); } while (['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ'].includes(prefix));
  const digits = chars('0123456789', 6), suffix = chars('ABCD', 1);
  return chance(0.5) ? prefix + digits + suffix
    : `${prefix} ${digits.slice(0, 2)} ${digits.slice(2, 4)} ${digits.slice(4)} ${suffix}`;
}

function iban() {
  return faker.finance.iban({ formatted: chance(0.5) });
}

function invalidIban() {
  const value = faker.finance.iban({ formatted: false });
  const check = (Number(value.slice(2, 4)) + int(1, 50)) % 100;
  return value.slice(0, 2) + String(check).padStart(2, '0') + value.slice(4);
}

function ipv6() {
  switch (int(0, 2)) {
    case 0: return faker.internet.ipv6();
    case 1: return `2001:db8:${chars(HEX, 3)}::${chars(HEX, 4)}:${chars(HEX, 2)}`;
    default: return `fe80::${chars(HEX, 3)}:${chars(HEX, 4)}:${chars(HEX, 4)}`;
  }
}

function mac() {
  const separator = pick([':', ':', '-']);
  const value = faker.internet.mac({ separator });
  return chance(0.3) ? value.toUpperCase() : value;
}

function birthDate() {
  const date = faker.date.birthdate({ mode: 'age', min: 18, max: 90 });
  const y = date.getUTCFullYear(), m = date.getUTCMonth() + 1, d = date.getUTCDate();
  const pad = (n) => String(n).padStart(2, '0');
  const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
    'September', 'October', 'November', 'December'];
  return pick([`${y}-${pad(m)}-${pad(d)}`, `${pad(m)}/${pad(d)}/${y}`, `${pad(d)}.${pad(m)}.${y}`,
    `${months[m - 1]} ${d}, ${y}`, `${d} ${months[m - 1]} ${y}`]);
}

const awsKeyId = () => pick(['AKIA', 'AKIA', 'ASIA']) + chars(UPPER_B32, 16);
const awsSecret = () => chars(B64, 40);
const githubToken = () => (chance(0.85) ? pick(['ghp_', 'gho_', 'ghs_', 'ghu_']) + chars(ALNUM, 36)
  : `github_pat_${chars(ALNUM, 22)}_${chars(ALNUM, 59)}`);
const gitlabToken = () => 'glpat-' + chars(B64URL, 20);
const slackToken = () => `${pick(['xoxb', 'xoxp', 'xoxa'])}-${chars('0123456789', 12)}-${chars('0123456789', 13)}-${chars(ALNUM, 24)}`;
const slackWebhook = () => `https://hooks.slack.com/services/T${chars(UPPER_B32, 8)}/B${chars(UPPER_B32, 10)}/${chars(ALNUM, 24)}`;
const stripeKey = () => `${pick(['sk', 'rk'])}_${pick(['live', 'test'])}_${chars(ALNUM, pick([24, 99]))}`;
const openaiKey = () => (chance(0.6) ? `sk-proj-${chars(B64URL, 48)}${chars('ABCDEFGHIJ', 1)}${chars('0123456789', 1)}${chars(ALNUM, 80)}`
  : `sk-${chars(ALNUM, 20)}T3BlbkFJ${chars(ALNUM, 20)}`);
const anthropicKey = () => `sk-ant-api03-${chars(B64URL, 93)}AA`;
const jwt = () => faker.internet.jwt();
const azureKey = () => chars(B64, 86) + '==';

function pemBody(lines) {
  const out = [];
  for (let i = 0; i < lines; i++) out.push(chars(B64, 64));
  out.push(chars(B64, int(8, 60)) + '==');
  return out;
}
function privateKey(newline = '\n', kind = null) {
  kind ??= pick(['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']);
  return [`-----BEGIN ${kind}-----`, ...pemBody(int(3, 12)), `-----END ${kind}-----`].join(newline);
}
const certificate = () => ['-----BEGIN CERTIFICATE-----', ...pemBody(int(3, 8)), '-----END CERTIFICATE-----'].join('\n');

const password = () => (chance(0.7) ? faker.internet.password({ length: int(10, 20) })
  : faker.internet.password({ length: int(12, 18), pattern: /[A-Za-z0-9!#%^*_~-]/ }));
const opaqueSecret = () => pick([chars(ALNUM, int(24, 40)), chars(HEX, 32), chars(HEX, 64), chars(B64, 40)]);

// ---------------------------------------------------------------------------
// Pieces: a document is built from plain strings and planted/decoy spans.
const P = (type, value) => ({ plant: type, value });
const D = (kind, value) => ({ decoy: kind, value });

// Text contexts for each type: a list of pieces (the label covers only the value).
const TEXT_PLANTS = {
  email: () => [pick(['contact ', 'email ', 'reply-to: ', 'sent to ', 'user=']), P('email', faker.internet.email())],
  phone: () => [pick(['call ', 'phone: ', 'tel ', 'mobile ', 'reach me at ']), P('phone', phone())],
  credit_card: () => [pick(['card ', 'pan=', 'card number ', 'paid with ']), P('credit_card', card())],
  iban: () => [pick(['IBAN ', 'iban=', 'account ', 'wire to ']), P('iban', iban())],
  us_ssn: () => (chance(0.8) ? [pick(['ssn ', 'SSN: ', 'tax id ', '']), P('us_ssn', ssn())]
    : [pick(['SSN: ', 'ssn=', 'social security number ']), P('us_ssn', ssnParts().join(''))]),
  uk_nino: () => [pick(['NI number ', 'nino=', 'National Insurance: ', '']), P('uk_nino', nino())],
  ipv4: () => [pick(['from ', 'ip=', 'client ', 'remote_addr=']), P('ipv4', faker.internet.ipv4())],
  ipv6: () => [pick(['from ', 'ip6=', 'client ', 'addr ']), P('ipv6', ipv6())],
  mac_address: () => [pick(['mac ', 'hwaddr=', 'device ', 'MAC: ']), P('mac_address', mac())],
  date_of_birth: () => [pick(['DOB: ', 'dob=', 'date of birth ', 'Date of Birth: ', 'born on ', 'birthdate: ', 'Birthday: ']), P('date_of_birth', birthDate())],
  aws_access_key_id: () => [pick(['aws_access_key_id=', 'key id ', 'AccessKeyId: ', 'using ']), P('aws_access_key_id', awsKeyId())],
  aws_secret_access_key: () => [pick(['aws_secret_access_key = ', 'AWS_SECRET_ACCESS_KEY=', 'SecretAccessKey: ', 'aws_secret_access_key: ']), P('aws_secret_access_key', awsSecret())],
  gcp_service_account_key: () => {
    const project = faker.word.noun() + '-' + int(100000, 999999);
    return ['{\\"type\\": \\"service_account\\", \\"project_id\\": \\"' + project + '\\", \\"private_key_id\\": \\"',
      P('gcp_service_account_key', chars(HEX, 40)), '\\", \\"private_key\\": \\"', P('gcp_service_account_key', privateKey('\\n', 'PRIVATE KEY') + '\\n'),
      '\\", \\"client_email\\": \\"', P('email', `svc-${int(1, 99)}@${project}.iam.gserviceaccount.com`), '\\"}'];
  },
  azure_storage_key: () => [`DefaultEndpointsProtocol=https;AccountName=${faker.word.noun().toLowerCase()}${int(10, 99)};AccountKey=`, P('azure_storage_key', azureKey()), ';EndpointSuffix=core.windows.net'],
  github_token: () => [pick(['GITHUB_TOKEN=', 'token ', 'gh auth login --with-token ', 'using ']), P('github_token', githubToken())],
  gitlab_token: () => [pick(['GITLAB_TOKEN=', 'PRIVATE-TOKEN: ', 'with ']), P('gitlab_token', gitlabToken())],
  slack_token: () => [pick(['SLACK_BOT_TOKEN=', 'slack token ', 'bot ']), P('slack_token', slackToken())],
  slack_webhook: () => [pick(['webhook ', 'POST ', 'notify via ']), P('slack_webhook', slackWebhook())],
  stripe_key: () => [pick(['STRIPE_SECRET_KEY=', 'stripe key ', 'with ']), P('stripe_key', stripeKey())],
  openai_key: () => [pick(['OPENAI_API_KEY=', 'openai key ', 'export KEY=']), P('openai_key', openaiKey())],
  anthropic_key: () => [pick(['ANTHROPIC_API_KEY=', 'x-api-key: ', 'key ']), P('anthropic_key', anthropicKey())],
  jwt: () => [pick(['Authorization: Bearer ', 'id_token=', 'jwt ', 'session ']), P('jwt', jwt())],
  private_key: () => ['key:\n', P('private_key', privateKey()), '\n'],
  password: () => {
    const pw = password();
    const user = faker.internet.username().replace(/[^A-Za-z0-9_]/g, '');
    const host = faker.internet.domainName();
    return pick([
      () => [`postgres://${user}:`, P('password', pw), `@${host}:5432/${faker.word.noun()}`],
      () => [`mongodb+srv://${user}:`, P('password', pw), `@cluster0.${host}/app?retryWrites=true`],
      () => ['redis://:', P('password', pw), `@${host}:6379/0`],
      () => [`amqp://${user}:`, P('password', pw), `@${host}/vhost`],
      () => [`Server=${host};Database=${faker.word.noun()};User Id=${user};Password=`, P('password', pw), ';'],
      () => [`host=${host} port=5432 user=${user} password=`, P('password', pw), ' sslmode=require'],
    ])();
  },
  secret: () => {
    const value = opaqueSecret();
    return pick([
      () => [pick(['api_key=', 'API_KEY=', 'apiKey: ', 'client_secret=', 'SECRET_KEY=', 'access_token: ', 'auth_token = ']), P('secret', value)],
      () => ['token="', P('secret', value), '"'],
      () => ['Authorization: Bearer ', P('secret', value)],
      () => ['password: ', P('secret', password())],
    ])();
  },
};

const TYPES = Object.keys(TEXT_PLANTS);

const DECOYS = {
  order_number: () => pick([`ORD-${chars('0123456789', 8)}`, `#${chars('0123456789', 7)}`, `order ${chars('0123456789', 8)}`, `PO-2024-${chars('0123456789', 5)}`, `INV-${chars('0123456789', 10)}`]),
  uuid: () => faker.string.uuid(),
  timestamp: () => pick([faker.date.recent().toISOString(), faker.date.recent().toISOString().replace('T', ' ').slice(0, 19), String(Math.floor(faker.date.recent().getTime() / 1000)), String(faker.date.recent().getTime()), `${String(int(0, 23)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')}`]),
  version: () => pick([faker.system.semver(), 'v' + faker.system.semver(), `${faker.system.semver()}-beta.${int(1, 9)}`, `version ${int(1, 9)}.${int(0, 9)}.${int(0, 9)}.${int(0, 99)}`, `10.0.${int(10000, 22000)}.${int(1, 999)}`]),
  invalid_card: () => invalidCard(),
  invalid_ssn: () => invalidSsn(),
  invalid_iban: () => invalidIban(),
  git_sha: () => faker.git.commitSha(),
  price: () => pick([`$${int(1, 9999)}.${chars('0123456789', 2)}`, `${int(1, 99)}%`, `${int(1, 999)} MB`]),
  host_port: () => pick([`localhost:${int(1024, 65535)}`, `${faker.internet.domainName()}:443`]),
  plain_date: () => `created ${faker.date.past().toISOString().slice(0, 10)}`,
  weak_keyword: () => pick(['token: expired', 'password reset requested', 'secret_name=db-creds-prod', 'token_type=bearer', 'password: ********', 'api_key=${API_KEY}', 'secret: <redacted>', 'password=${DB_PASSWORD}']),
  zip: () => pick([chars('0123456789', 5), `${chars('0123456789', 5)}-${chars('0123456789', 4)}`]),
  certificate: () => certificate(),
  hex_id: () => chars(HEX, pick([8, 12, 16, 24])),
};
const DECOY_KINDS = Object.keys(DECOYS);

// ---------------------------------------------------------------------------
// Assembling text documents.

function assemble(pieces) {
  let text = '';
  const labels = [], decoys = [];
  for (const piece of pieces.flat(Infinity)) {
    if (typeof piece === 'string') { text += piece; continue; }
    const start = Buffer.byteLength(text);
    text += piece.value;
    const end = Buffer.byteLength(text);
    if (piece.plant) labels.push({ type: piece.plant, path: '', start, end });
    else decoys.push({ kind: piece.decoy, path: '', start, end });
  }
  return { text, labels, decoys };
}

const filler = () => pick([faker.lorem.sentence(), faker.hacker.phrase(), faker.company.catchPhrase() + '.', faker.commerce.productDescription()]);

function textPlant(type) {
  return TEXT_PLANTS[type]();
}
function decoy(kind) {
  return D(kind, DECOYS[kind]());
}

function logDoc(types, decoyKinds) {
  const lines = [];
  const level = () => pick(['INFO', 'WARN', 'DEBUG', 'ERROR']);
  const ts = () => faker.date.recent().toISOString();
  const all = [...types.map((t) => ['p', t]), ...decoyKinds.map((k) => ['d', k])];
  faker.helpers.shuffle(all, { inplace: true });
  for (const [what, name] of all) {
    const body = what === 'p' ? textPlant(name) : [pick(['ref ', 'id=', 'at ', 'v', 'build ', 'request ']), decoy(name)];
    lines.push([ts(), ' ', level(), ' [', faker.hacker.noun(), '] ', faker.hacker.verb(), ' ', body, ' ', pick(['ok', 'done', 'retrying', `took ${int(1, 900)}ms`]), '\n']);
    if (chance(0.4)) lines.push([ts(), ' INFO ', filler(), '\n']);
  }
  return assemble(lines);
}

function proseDoc(types, decoyKinds) {
  const parts = [filler(), ' '];
  const all = [...types.map((t) => ['p', t]), ...decoyKinds.map((k) => ['d', k])];
  faker.helpers.shuffle(all, { inplace: true });
  for (const [what, name] of all) {
    if (what === 'p') parts.push(pick(['Please note: ', 'For the record, ', 'As discussed, ', '']), textPlant(name), '. ');
    else parts.push(pick(['See ', 'Reference ', 'Check ']), decoy(name), '. ');
    if (chance(0.5)) parts.push(filler(), ' ');
  }
  parts.push(filler());
  return assemble(parts);
}

const SQL_COLUMNS = {
  email: 'email', phone: 'phone', credit_card: 'card_number', iban: 'iban', us_ssn: 'ssn', uk_nino: 'ni_number',
  ipv4: 'last_ip', ipv6: 'last_ip6', mac_address: 'device_mac', date_of_birth: 'date_of_birth',
};

function sqlDoc(types, decoyKinds) {
  const statements = [];
  const table = pick(['customers', 'users', 'patients', 'accounts', 'employees', 'audit_events']);
  for (const type of types) {
    const column = SQL_COLUMNS[type];
    if (column && type !== 'us_ssn' && chance(0.6)) {
      const value = type === 'date_of_birth' ? [P('date_of_birth', birthDate())]
        : textPlant(type).filter((p) => typeof p !== 'string');
      statements.push([`UPDATE ${table} SET ${column} = '`, value, `' WHERE id = ${int(1, 99999)};\n`]);
    } else {
      statements.push([`INSERT INTO ${table} (note, created_at) VALUES ('`, textPlant(type), `', NOW());\n`]);
    }
  }
  for (const kind of decoyKinds)
    statements.push([`SELECT * FROM orders WHERE ref = '`, decoy(kind), `' LIMIT ${int(1, 100)};\n`]);
  return assemble(faker.helpers.shuffle(statements));
}

// ---------------------------------------------------------------------------
// JSON documents. Values are built as strings with span lists, then walked
// into labels with JSON pointers.

const JSON_KEYS = {
  email: ['email', 'contact_email', 'to', 'reviewer'], phone: ['phone', 'mobile', 'contact_phone'],
  credit_card: ['card_number', 'pan', 'card'], iban: ['iban', 'account_iban'], us_ssn: ['ssn', 'customer_ssn'],
  uk_nino: ['ni_number', 'nino'], ipv4: ['client_ip', 'remote_addr', 'source'], ipv6: ['client_ip6', 'remote_addr'],
  mac_address: ['mac', 'device_mac'], date_of_birth: ['dob', 'date_of_birth', 'birthDate'],
  aws_access_key_id: ['aws_access_key_id', 'key_id'], aws_secret_access_key: ['aws_secret_access_key'],
  gcp_service_account_key: ['credentials_json'], azure_storage_key: ['connection_string', 'storage'],
  github_token: ['github_token', 'gh'], gitlab_token: ['gitlab'], slack_token: ['slack_bot'], slack_webhook: ['webhook_url', 'slack_webhook'],
  stripe_key: ['stripe'], openai_key: ['openai_api_key', 'llm_key'], anthropic_key: ['anthropic_key'], jwt: ['id_token', 'jwt', 'session'],
  private_key: ['ssh_key', 'private_key', 'key_pem'], password: ['database_url', 'dsn', 'conn'], secret: ['command', 'env', 'header'],
};

function stringValue(pieces) {
  return { __pieces: pieces.flat(Infinity) };
}

function jsonPlant(type) {
  // Either the bare value under a typed key, or the value inside a sentence under a neutral key.
  const key = pick(JSON_KEYS[type]);
  const keyed = chance(0.5) && !['password', 'secret', 'gcp_service_account_key', 'azure_storage_key', 'aws_secret_access_key'].includes(type);
  if (keyed) {
    if (type === 'date_of_birth') return [key, stringValue([P(type, birthDate())])];
    if (type === 'us_ssn' && chance(0.3)) return [key, { __number: String(int(100, 899)) + ssnParts().join('').slice(3), type }];
    if (type === 'credit_card' && chance(0.3)) return [key, { __number: card().replace(/\D/g, ''), type }];
    const pieces = textPlant(type).filter((p) => typeof p !== 'string');
    return [key, stringValue(pieces)];
  }
  if (type === 'gcp_service_account_key') {
    // A service-account key file embedded as an object.
    const project = faker.word.noun() + '-' + int(100000, 999999);
    return ['service_account', {
      type: 'service_account', project_id: project,
      private_key_id: stringValue([P('gcp_service_account_key', chars(HEX, 40))]),
      private_key: stringValue([P('gcp_service_account_key', privateKey('\n', 'PRIVATE KEY') + '\n')]),
      client_email: stringValue([P('email', `svc@${project}.iam.gserviceaccount.com`)]),
    }];
  }
  return [pick(['note', 'message', 'comment', 'description', 'details', 'text']), stringValue([filler(), ' ', textPlant(type), ' ', filler()])];
}

function jsonDoc(types, decoyKinds) {
  const root = {
    event: pick(['user.updated', 'payment.created', 'ticket.opened', 'deploy.requested', 'tools/call']),
    id: faker.string.uuid(),
    at: faker.date.recent().toISOString(),
    actor: { name: faker.person.fullName(), role: faker.person.jobTitle() },
    data: {},
  };
  if (chance(0.4)) root.items = [];
  for (const type of types) {
    const [key, value] = jsonPlant(type);
    let target = root.data;
    if (root.items && chance(0.5)) { target = {}; root.items.push(target); }
    let k = key, n = 2;
    while (k in target) k = `${key}_${n++}`;
    target[k] = value;
  }
  // Values under secret-named keys.
  if (chance(0.5)) root.data[pick(['password', 'api_token', 'client_secret', 'Authorization', 'db_password', 'sessionId'])] =
    stringValue([pick([password(), 'Bearer ' + opaqueSecret(), opaqueSecret(), faker.word.noun()])]);
  const meta = {};
  for (const kind of decoyKinds) {
    let k = kind, n = 2;
    while (k in meta) k = `${kind}_${n++}`;
    meta[k] = kind === 'invalid_card' && chance(0.3) ? { __number: DECOYS.invalid_card().replace(/\D/g, ''), decoy: kind } : stringValue([decoy(kind)]);
  }
  root.meta = meta;
  root.count = int(0, 1000);
  root.ok = chance(0.5);

  const labels = [], decoys = [];
  const escape = (k) => k.replace(/~/g, '~0').replace(/\//g, '~1');
  const numbers = [];
  function walk(value, path, secret) {
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}/${i}`, secret));
    if (value && typeof value === 'object' && value.__pieces) {
      let text = '';
      for (const piece of value.__pieces) {
        if (typeof piece === 'string') { text += piece; continue; }
        const start = Buffer.byteLength(text);
        text += piece.value;
        const end = Buffer.byteLength(text);
        if (secret) continue;
        if (piece.plant) labels.push({ type: piece.plant, path, start, end });
        else decoys.push({ kind: piece.decoy, path, start, end });
      }
      if (secret) labels.push({ type: 'secret_key', path, start: 0, end: 0 });
      return text;
    }
    if (value && typeof value === 'object' && value.__number) {
      const token = `__NUM_${numbers.length}__`;
      numbers.push(value.__number);
      if (secret) labels.push({ type: 'secret_key', path, start: 0, end: 0 });
      else if (value.type) labels.push({ type: value.type, path, start: 0, end: value.__number.length });
      else decoys.push({ kind: value.decoy, path, start: 0, end: value.__number.length });
      return token;
    }
    if (value && typeof value === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(value)) {
        const childSecret = secret || isSecretKey(k);
        if (childSecret && !secret) {
          // The whole value is masked by its key: one label, nothing inside.
          out[k] = walk(v, `${path}/${escape(k)}`, true);
          if (!(v && typeof v === 'object' && (v.__pieces || v.__number))) labels.push({ type: 'secret_key', path: `${path}/${escape(k)}`, start: 0, end: 0 });
        } else {
          out[k] = walk(v, `${path}/${escape(k)}`, childSecret);
        }
      }
      return out;
    }
    return value;
  }
  const plain = walk(root, '', false);
  // Under a secret key, only the key's own label counts.
  const secretPaths = labels.filter((l) => l.type === 'secret_key').map((l) => l.path);
  const keep = (l) => l.type === 'secret_key' || !secretPaths.some((p) => l.path.startsWith(p + '/'));
  let text = JSON.stringify(plain, null, chance(0.5) ? 2 : undefined);
  numbers.forEach((digits, i) => { text = text.replace(`"__NUM_${i}__"`, digits); });
  return { text, labels: labels.filter(keep).filter((l, i, all) => all.findIndex((m) => m.path === l.path && m.type === l.type && m.start === l.start) === i), decoys: decoys.filter(keep) };
}

// ---------------------------------------------------------------------------

const kinds = ['json', 'sql', 'log', 'prose'];
const builders = { json: jsonDoc, sql: sqlDoc, log: logDoc, prose: proseDoc };
const lines = [];
let typeCursor = 0, decoyCursor = 0;
for (let i = 0; i < DOCS; i++) {
  const kind = kinds[i % kinds.length];
  const types = [];
  for (let n = int(1, 4); n > 0; n--) types.push(TYPES[typeCursor++ % TYPES.length]);
  const decoyKinds = [];
  for (let n = int(1, 4); n > 0; n--) decoyKinds.push(DECOY_KINDS[decoyCursor++ % DECOY_KINDS.length]);
  const doc = builders[kind](types, decoyKinds);
  lines.push(JSON.stringify({ id: `doc-${String(i).padStart(5, '0')}`, kind, text: doc.text, labels: doc.labels, decoys: doc.decoys }));
}
writeFileSync(OUT, lines.join('\n') + '\n');
const stats = {};
for (const line of lines) for (const label of JSON.parse(line).labels) stats[label.type] = (stats[label.type] || 0) + 1;
console.error(`wrote ${lines.length} documents (${Buffer.byteLength(lines.join('\n'))} bytes) to ${OUT}`);
console.error(JSON.stringify(stats));
