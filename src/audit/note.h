// Signed checkpoints: the C2SP signed-note format (https://c2sp.org/signed-note)
// around a C2SP tlog-checkpoint body (https://c2sp.org/tlog-checkpoint),
// signed with Ed25519 (OpenSSL EVP underneath).
//
//   countersign.example/audit          origin
//   1234                               tree size
//   3Y2o...base64 root hash...=        root hash (32 bytes, standard base64)
//                                      blank line
//   — countersign.example/audit AbCd...base64(key hash(4) || signature(64))...
//
// Keys use the encodings of golang.org/x/mod/sumdb/note, which C2SP adopts:
//   signer key    PRIVATE+KEY+<name>+<key hash, 8 hex>+<base64(0x01 || 32-byte seed)>
//   verifier key  <name>+<key hash, 8 hex>+<base64(0x01 || 32-byte public key)>
// with key hash = first 4 bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public key).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "core/error.h"

namespace countersign::audit {

std::string base64_encode(std::string_view bytes);
// Standard alphabet with padding; refuses anything else (whitespace included).
Result<std::string> base64_decode(std::string_view text);

// A key name: non-empty, no whitespace, no '+'.
bool valid_key_name(std::string_view name);
std::uint32_t ed25519_key_hash(std::string_view name, std::string_view public_key);

class NoteVerifier {
 public:
  static Result<NoteVerifier> parse(std::string_view vkey);
  const std::string& name() const { return name_; }
  std::uint32_t key_hash() const { return key_hash_; }
  const std::string& public_key() const { return public_key_; }
  std::string vkey() const;  // the encoded verifier key
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  friend class NoteSigner;
  std::string name_;
  std::uint32_t key_hash_ = 0;
  std::string public_key_;  // 32 raw bytes
};

class NoteSigner {
 public:
  static Result<NoteSigner> parse(std::string_view skey);
  static Result<NoteSigner> generate(std::string_view name);
  const std::string& name() const { return name_; }
  std::uint32_t key_hash() const { return key_hash_; }
  std::string skey() const;  // the encoded signer key (a secret)
  NoteVerifier verifier() const;
  // The 64-byte Ed25519 signature of `message`.
  Result<std::string> sign(std::string_view message) const;

 private:
  std::string name_;
  std::uint32_t key_hash_ = 0;
  std::string seed_;        // 32 raw bytes
  std::string public_key_;  // 32 raw bytes
};

struct NoteSignature {
  std::string name;
  std::uint32_t key_hash = 0;
  std::string signature;  // raw bytes after the key hash
};

struct Note {
  std::string text;  // ends with a newline
  std::vector<NoteSignature> signatures;
};

// Splits a signed note into text and signature lines. A note without any
// signature line is accepted only when `allow_unsigned` (then the whole
// message is the text).
Result<Note> parse_note(std::string_view message, bool allow_unsigned = false);
// The note's text, a blank line and one line per signature.
std::string format_note(const Note& note);
// Appends `signer`'s signature of note.text.
Result<void> add_signature(Note& note, const NoteSigner& signer);

enum class SignatureCheck {
  valid,    // a line with this key's name and hash whose signature verifies
  missing,  // no line from this key
  invalid,  // a line from this key whose signature does not verify
};
SignatureCheck check_signature(const Note& note, const NoteVerifier& verifier);
// "name+hash" of every signature line, for messages.
std::string signer_list(const Note& note);

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;
};

std::string checkpoint_text(const Checkpoint& checkpoint);
Result<Checkpoint> parse_checkpoint_text(std::string_view text);

// A signed checkpoint as parsed from its note.
struct SignedCheckpoint {
  Checkpoint checkpoint;
  Note note;
};
Result<SignedCheckpoint> parse_signed_checkpoint(std::string_view message, bool allow_unsigned);

// Checks `message` is a checkpoint signed by `verifier` whose origin is the
// verifier's name. The error says which of these fails.
Result<SignedCheckpoint> open_checkpoint(std::string_view message, const NoteVerifier& verifier);

std::string key_hash_hex(std::uint32_t key_hash);

}  // namespace countersign::audit
