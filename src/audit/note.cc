#include "audit/note.h"

#include <charconv>
#include <memory>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "core/hash.h"

namespace countersign::audit {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014, starts every signature line
constexpr std::string_view kPrivatePrefix = "PRIVATE+KEY+";
constexpr char kAlgorithmEd25519 = 0x01;
constexpr std::size_t kMaxSignatures = 100;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;

const unsigned char* bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

Result<std::string> public_key_of(std::string_view seed) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(seed), seed.size()));
  if (!key) return fail(ErrorCode::invalid_argument, "not an Ed25519 private key");
  std::string public_key(32, '\0');
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(public_key.data()),
                                  &length) != 1 ||
      length != 32)
    return fail(ErrorCode::internal, "cannot derive the Ed25519 public key");
  return public_key;
}

Result<std::uint32_t> parse_key_hash(std::string_view text) {
  std::uint32_t value = 0;
  if (text.size() != 8)
    return fail(ErrorCode::invalid_argument, "the key hash must be 8 hex digits");
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (error != std::errc() || end != text.data() + text.size())
    return fail(ErrorCode::invalid_argument, "the key hash must be 8 hex digits");
  return value;
}

// Splits "a+b+c+rest" into its first `count - 1` fields and the rest (base64
// may itself contain '+').
std::optional<std::vector<std::string_view>> split_plus(std::string_view text, std::size_t count) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < count) {
    std::size_t plus = text.find('+');
    if (plus == std::string_view::npos) return std::nullopt;
    fields.push_back(text.substr(0, plus));
    text.remove_prefix(plus + 1);
  }
  fields.push_back(text);
  return fields;
}

bool valid_text(std::string_view text) {
  // No control characters other than newline; the text ends with one.
  if (text.empty() || text.back() != '\n') return false;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\n') || byte == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view input) {
  std::string out;
  out.reserve((input.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= input.size(); i += 3) {
    std::uint32_t n = (static_cast<std::uint8_t>(input[i]) << 16) |
                      (static_cast<std::uint8_t>(input[i + 1]) << 8) |
                      static_cast<std::uint8_t>(input[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  std::size_t rest = input.size() - i;
  if (rest == 1) {
    std::uint32_t n = static_cast<std::uint8_t>(input[i]) << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out += "==";
  } else if (rest == 2) {
    std::uint32_t n = (static_cast<std::uint8_t>(input[i]) << 16) |
                      (static_cast<std::uint8_t>(input[i + 1]) << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return fail(ErrorCode::invalid_argument, "malformed base64");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    int values[4];
    int padding = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        values[j] = 0;
        ++padding;
        continue;
      }
      if (padding > 0) return fail(ErrorCode::invalid_argument, "malformed base64");
      values[j] = base64_value(c);
      if (values[j] < 0) return fail(ErrorCode::invalid_argument, "malformed base64");
    }
    std::uint32_t n = (values[0] << 18) | (values[1] << 12) | (values[2] << 6) | values[3];
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(n & 0xff));
    // Canonical encodings only: the bits under the padding must be zero.
    if ((padding == 1 && (n & 0xff) != 0) || (padding == 2 && (n & 0xffff) != 0))
      return fail(ErrorCode::invalid_argument, "malformed base64");
  }
  return out;
}

bool valid_key_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '+' || byte <= 0x20 || byte == 0x7f) return false;
  }
  return true;
}

std::uint32_t ed25519_key_hash(std::string_view name, std::string_view public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(kAlgorithmEd25519);
  input.append(public_key);
  Sha256Digest digest = sha256(input);
  return (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) |
         (std::uint32_t{digest[2]} << 8) | std::uint32_t{digest[3]};
}

std::string key_hash_hex(std::uint32_t key_hash) { return fmt::format("{:08x}", key_hash); }

// ---------------------------------------------------------------------------

Result<NoteVerifier> NoteVerifier::parse(std::string_view vkey) {
  auto fields = split_plus(vkey, 3);
  if (!fields)
    return fail(ErrorCode::invalid_argument, "a verifier key is NAME+HASH+KEY (see audit keygen)");
  std::string_view name = (*fields)[0];
  if (!valid_key_name(name))
    return fail(ErrorCode::invalid_argument, "the verifier key has an invalid name");
  auto hash = parse_key_hash((*fields)[1]);
  if (!hash) return std::unexpected(hash.error());
  auto key = base64_decode((*fields)[2]);
  if (!key || key->size() != 33 || (*key)[0] != kAlgorithmEd25519)
    return fail(ErrorCode::invalid_argument, "the verifier key is not an Ed25519 key");
  NoteVerifier verifier;
  verifier.name_ = std::string(name);
  verifier.public_key_ = key->substr(1);
  verifier.key_hash_ = *hash;
  if (ed25519_key_hash(name, verifier.public_key_) != *hash)
    return fail(ErrorCode::invalid_argument, "the verifier key's hash does not match its key");
  return verifier;
}

std::string NoteVerifier::vkey() const {
  return name_ + "+" + key_hash_hex(key_hash_) + "+" +
         base64_encode(std::string(1, kAlgorithmEd25519) + public_key_);
}

bool NoteVerifier::verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != 64) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(public_key_),
                                       public_key_.size()));
  MdContext context(EVP_MD_CTX_new());
  if (!key || !context) return false;
  if (EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(context.get(), bytes(signature), signature.size(), bytes(message),
                          message.size()) == 1;
}

Result<NoteSigner> NoteSigner::parse(std::string_view skey) {
  if (!skey.starts_with(kPrivatePrefix))
    return fail(ErrorCode::invalid_argument,
                "not a signing key (expected PRIVATE+KEY+NAME+HASH+KEY; see audit keygen)");
  auto fields = split_plus(skey.substr(kPrivatePrefix.size()), 3);
  if (!fields) return fail(ErrorCode::invalid_argument, "malformed signing key");
  std::string_view name = (*fields)[0];
  if (!valid_key_name(name))
    return fail(ErrorCode::invalid_argument, "the signing key has an invalid name");
  auto hash = parse_key_hash((*fields)[1]);
  if (!hash) return std::unexpected(hash.error());
  auto key = base64_decode((*fields)[2]);
  if (!key || key->size() != 33 || (*key)[0] != kAlgorithmEd25519)
    return fail(ErrorCode::invalid_argument, "the signing key is not an Ed25519 key");
  NoteSigner signer;
  signer.name_ = std::string(name);
  signer.seed_ = key->substr(1);
  auto public_key = public_key_of(signer.seed_);
  if (!public_key) return std::unexpected(public_key.error());
  signer.public_key_ = std::move(*public_key);
  signer.key_hash_ = ed25519_key_hash(name, signer.public_key_);
  if (signer.key_hash_ != *hash)
    return fail(ErrorCode::invalid_argument, "the signing key's hash does not match its key");
  return signer;
}

Result<NoteSigner> NoteSigner::generate(std::string_view name) {
  if (!valid_key_name(name))
    return fail(ErrorCode::invalid_argument,
                "a key name must be non-empty, without spaces, control characters or '+'");
  NoteSigner signer;
  signer.name_ = std::string(name);
  signer.seed_ = random_bytes(32);
  auto public_key = public_key_of(signer.seed_);
  if (!public_key) return std::unexpected(public_key.error());
  signer.public_key_ = std::move(*public_key);
  signer.key_hash_ = ed25519_key_hash(name, signer.public_key_);
  return signer;
}

std::string NoteSigner::skey() const {
  return std::string(kPrivatePrefix) + name_ + "+" + key_hash_hex(key_hash_) + "+" +
         base64_encode(std::string(1, kAlgorithmEd25519) + seed_);
}

NoteVerifier NoteSigner::verifier() const {
  NoteVerifier verifier;
  verifier.name_ = name_;
  verifier.key_hash_ = key_hash_;
  verifier.public_key_ = public_key_;
  return verifier;
}

Result<std::string> NoteSigner::sign(std::string_view message) const {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(seed_), seed_.size()));
  MdContext context(EVP_MD_CTX_new());
  if (!key || !context) return fail(ErrorCode::internal, "cannot load the signing key");
  if (EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return fail(ErrorCode::internal, "cannot sign");
  std::string signature(64, '\0');
  std::size_t length = signature.size();
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     bytes(message), message.size()) != 1 ||
      length != 64)
    return fail(ErrorCode::internal, "cannot sign");
  return signature;
}

// ---------------------------------------------------------------------------

Result<Note> parse_note(std::string_view message, bool allow_unsigned) {
  std::size_t split = message.rfind("\n\n");
  if (split == std::string_view::npos) {
    if (allow_unsigned && valid_text(message)) return Note{std::string(message), {}};
    return fail(ErrorCode::invalid_argument, "malformed note: no blank line before the signatures");
  }
  Note note;
  note.text = std::string(message.substr(0, split + 1));
  std::string_view rest = message.substr(split + 2);
  if (rest.empty()) {
    if (allow_unsigned && valid_text(note.text)) return note;
    return fail(ErrorCode::invalid_argument, "malformed note: no signature lines");
  }
  if (!valid_text(note.text))
    return fail(ErrorCode::invalid_argument, "malformed note: the text has control characters");
  if (rest.back() != '\n')
    return fail(ErrorCode::invalid_argument, "malformed note: the last line has no newline");
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 1);
    if (!line.starts_with(kEmDash) || line.size() <= kEmDash.size() + 1 ||
        line[kEmDash.size()] != ' ')
      return fail(ErrorCode::invalid_argument,
                  "malformed note: a signature line must start with '— '");
    line.remove_prefix(kEmDash.size() + 1);
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos)
      return fail(ErrorCode::invalid_argument, "malformed note: a signature line has no signature");
    std::string_view name = line.substr(0, space);
    if (!valid_key_name(name))
      return fail(ErrorCode::invalid_argument,
                  "malformed note: a signature has an invalid key name");
    auto decoded = base64_decode(line.substr(space + 1));
    if (!decoded || decoded->size() < 5)
      return fail(ErrorCode::invalid_argument, "malformed note: a signature is not valid base64");
    NoteSignature signature;
    signature.name = std::string(name);
    signature.key_hash = (std::uint32_t{static_cast<std::uint8_t>((*decoded)[0])} << 24) |
                         (std::uint32_t{static_cast<std::uint8_t>((*decoded)[1])} << 16) |
                         (std::uint32_t{static_cast<std::uint8_t>((*decoded)[2])} << 8) |
                         std::uint32_t{static_cast<std::uint8_t>((*decoded)[3])};
    signature.signature = decoded->substr(4);
    note.signatures.push_back(std::move(signature));
    if (note.signatures.size() > kMaxSignatures)
      return fail(ErrorCode::invalid_argument, "malformed note: too many signatures");
  }
  return note;
}

std::string format_note(const Note& note) {
  std::string out = note.text;
  if (note.signatures.empty()) return out;
  out.push_back('\n');
  for (const NoteSignature& signature : note.signatures) {
    std::string blob;
    for (int shift = 24; shift >= 0; shift -= 8)
      blob.push_back(static_cast<char>((signature.key_hash >> shift) & 0xff));
    blob += signature.signature;
    out += fmt::format("{} {} {}\n", kEmDash, signature.name, base64_encode(blob));
  }
  return out;
}

Result<void> add_signature(Note& note, const NoteSigner& signer) {
  if (!valid_text(note.text))
    return fail(ErrorCode::invalid_argument, "a note's text must end with a newline");
  auto signature = signer.sign(note.text);
  if (!signature) return std::unexpected(signature.error());
  note.signatures.push_back({signer.name(), signer.key_hash(), std::move(*signature)});
  return {};
}

SignatureCheck check_signature(const Note& note, const NoteVerifier& verifier) {
  bool seen = false;
  for (const NoteSignature& signature : note.signatures) {
    if (signature.name != verifier.name() || signature.key_hash != verifier.key_hash()) continue;
    seen = true;
    if (verifier.verify(note.text, signature.signature)) return SignatureCheck::valid;
  }
  return seen ? SignatureCheck::invalid : SignatureCheck::missing;
}

std::string signer_list(const Note& note) {
  std::string out;
  for (const NoteSignature& signature : note.signatures) {
    if (!out.empty()) out += ", ";
    out += signature.name + "+" + key_hash_hex(signature.key_hash);
  }
  return out.empty() ? "nobody" : out;
}

// ---------------------------------------------------------------------------

std::string checkpoint_text(const Checkpoint& checkpoint) {
  std::string out = fmt::format("{}\n{}\n{}\n", checkpoint.origin, checkpoint.size,
                                base64_encode(hash_bytes(checkpoint.root)));
  for (const std::string& line : checkpoint.extensions) out += line + "\n";
  return out;
}

Result<Checkpoint> parse_checkpoint_text(std::string_view text) {
  if (!valid_text(text)) return fail(ErrorCode::invalid_argument, "malformed checkpoint text");
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  if (lines.size() < 3)
    return fail(ErrorCode::invalid_argument, "a checkpoint has an origin, a size and a root hash");
  Checkpoint checkpoint;
  if (lines[0].empty()) return fail(ErrorCode::invalid_argument, "the checkpoint has no origin");
  checkpoint.origin = std::string(lines[0]);
  std::string_view size = lines[1];
  auto [end, error] = std::from_chars(size.data(), size.data() + size.size(), checkpoint.size);
  if (size.empty() || error != std::errc() || end != size.data() + size.size() ||
      (size.size() > 1 && size[0] == '0'))
    return fail(ErrorCode::invalid_argument, "the checkpoint's size is not a decimal number");
  auto root = base64_decode(lines[2]);
  if (!root || root->size() != 32)
    return fail(ErrorCode::invalid_argument, "the checkpoint's root is not a base64 SHA-256 hash");
  checkpoint.root = *hash_from_bytes(*root);
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty())
      return fail(ErrorCode::invalid_argument, "the checkpoint has an empty extension line");
    checkpoint.extensions.emplace_back(lines[i]);
  }
  return checkpoint;
}

Result<SignedCheckpoint> parse_signed_checkpoint(std::string_view message, bool allow_unsigned) {
  auto note = parse_note(message, allow_unsigned);
  if (!note) return std::unexpected(note.error());
  auto checkpoint = parse_checkpoint_text(note->text);
  if (!checkpoint) return std::unexpected(checkpoint.error());
  return SignedCheckpoint{std::move(*checkpoint), std::move(*note)};
}

Result<SignedCheckpoint> open_checkpoint(std::string_view message, const NoteVerifier& verifier) {
  auto parsed = parse_signed_checkpoint(message, true);
  if (!parsed) return parsed;
  switch (check_signature(parsed->note, verifier)) {
    case SignatureCheck::valid:
      break;
    case SignatureCheck::missing:
      return fail(ErrorCode::permission_denied,
                  fmt::format("not signed by {}+{} (signed by {})", verifier.name(),
                              key_hash_hex(verifier.key_hash()), signer_list(parsed->note)));
    case SignatureCheck::invalid:
      return fail(ErrorCode::permission_denied,
                  fmt::format("the signature by {}+{} does not verify", verifier.name(),
                              key_hash_hex(verifier.key_hash())));
  }
  if (parsed->checkpoint.origin != verifier.name())
    return fail(ErrorCode::permission_denied,
                fmt::format("the checkpoint's origin '{}' is not the key's name '{}'",
                            parsed->checkpoint.origin, verifier.name()));
  return parsed;
}

}  // namespace countersign::audit
