// Signed notes and checkpoints against the reference vectors of
// golang.org/x/mod/sumdb/note (the PeterNeumann key) and of the C2SP
// signed-note specification (example.com/foo), plus forgeries.
#include "audit/note.h"

#include <gtest/gtest.h>

namespace countersign::audit {
namespace {

constexpr const char* kGoSigner =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr const char* kGoVerifier =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr const char* kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr const char* kGoNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

constexpr const char* kSpecVerifier =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr const char* kSpecNote =
    "This is an example message.\n"
    "\n"
    "\xE2\x80\x94 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
    "\n";

TEST(Base64Test, RoundTripsAndRefusesMalformedInput) {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto decoded = base64_decode(base64_encode(text));
    ASSERT_TRUE(decoded) << text;
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm8"));    // no padding
  EXPECT_FALSE(base64_decode("Zm9=="));  // padding in the wrong place
  EXPECT_FALSE(base64_decode("Zm9 vYmFy"));
  EXPECT_FALSE(base64_decode("Zm9="));  // non-zero bits under the padding
  EXPECT_FALSE(base64_decode("Z=8="));
}

TEST(NoteTest, SignsExactlyLikeTheReferenceImplementation) {
  auto signer = NoteSigner::parse(kGoSigner);
  ASSERT_TRUE(signer) << signer.error().message;
  EXPECT_EQ(signer->name(), "PeterNeumann");
  EXPECT_EQ(signer->key_hash(), 0xc74f20a3u);
  EXPECT_EQ(signer->skey(), kGoSigner);
  EXPECT_EQ(signer->verifier().vkey(), kGoVerifier);
  Note note{kGoText, {}};
  ASSERT_TRUE(add_signature(note, *signer));
  EXPECT_EQ(format_note(note), kGoNote);  // Ed25519 is deterministic
}

TEST(NoteTest, VerifiesTheReferenceNotes) {
  for (auto [vkey, message] :
       {std::pair{kGoVerifier, kGoNote}, std::pair{kSpecVerifier, kSpecNote}}) {
    auto verifier = NoteVerifier::parse(vkey);
    ASSERT_TRUE(verifier) << verifier.error().message;
    EXPECT_EQ(verifier->vkey(), vkey);
    auto note = parse_note(message);
    ASSERT_TRUE(note) << note.error().message;
    EXPECT_EQ(check_signature(*note, *verifier), SignatureCheck::valid);
    EXPECT_EQ(format_note(*note), message);
  }
}

TEST(NoteTest, AlteredTextOrSignatureIsRefused) {
  auto verifier = NoteVerifier::parse(kGoVerifier);
  ASSERT_TRUE(verifier);
  auto note = parse_note(kGoNote);
  ASSERT_TRUE(note);
  Note changed = *note;
  changed.text[0] = 'i';
  EXPECT_EQ(check_signature(changed, *verifier), SignatureCheck::invalid);
  Note flipped = *note;
  flipped.signatures[0].signature[10] ^= 1;
  EXPECT_EQ(check_signature(flipped, *verifier), SignatureCheck::invalid);
  Note other_hash = *note;
  other_hash.signatures[0].key_hash ^= 1;
  EXPECT_EQ(check_signature(other_hash, *verifier), SignatureCheck::missing);
  // A different key under the same name is a different key hash: missing.
  auto impostor = NoteSigner::generate("PeterNeumann");
  ASSERT_TRUE(impostor);
  Note forged{kGoText, {}};
  ASSERT_TRUE(add_signature(forged, *impostor));
  EXPECT_NE(impostor->key_hash(), verifier->key_hash());
  EXPECT_EQ(check_signature(forged, *verifier), SignatureCheck::missing);
  // Even when the forger copies the real key hash, the signature fails.
  forged.signatures[0].key_hash = verifier->key_hash();
  EXPECT_EQ(check_signature(forged, *verifier), SignatureCheck::invalid);
}

TEST(NoteTest, MalformedNotesAndKeysAreRefused) {
  EXPECT_FALSE(parse_note("no blank line\n"));
  EXPECT_FALSE(parse_note("text\n\n"));                              // no signatures
  EXPECT_FALSE(parse_note("text\n\n- name AAAAAAAA\n"));             // hyphen, not em dash
  EXPECT_FALSE(parse_note("text\n\n\xE2\x80\x94 name AAAAAA==\n"));  // under 5 bytes
  EXPECT_FALSE(parse_note("text\n\n\xE2\x80\x94 name AAAAAAAA"));    // no final newline
  EXPECT_FALSE(parse_note("te\x01xt\n\n\xE2\x80\x94 name AAAAAAAA\n"));
  EXPECT_TRUE(parse_note("text\n", true));  // unsigned allowed only when asked
  EXPECT_FALSE(
      NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
  EXPECT_FALSE(NoteVerifier::parse("PeterNeumann+c74f20a3"));
  EXPECT_FALSE(NoteVerifier::parse(kGoSigner));
  EXPECT_FALSE(NoteSigner::parse(kGoVerifier));
  EXPECT_FALSE(NoteSigner::parse(
      "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"));
  EXPECT_FALSE(NoteSigner::generate("has space"));
  EXPECT_FALSE(NoteSigner::generate("has+plus"));
  EXPECT_FALSE(NoteSigner::generate(""));
}

TEST(NoteTest, GeneratedKeysRoundTrip) {
  auto signer = NoteSigner::generate("countersign.example/audit");
  ASSERT_TRUE(signer);
  auto again = NoteSigner::parse(signer->skey());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->verifier().vkey(), signer->verifier().vkey());
  auto verifier = NoteVerifier::parse(signer->verifier().vkey());
  ASSERT_TRUE(verifier);
  auto signature = again->sign("message\n");
  ASSERT_TRUE(signature);
  EXPECT_TRUE(verifier->verify("message\n", *signature));
  EXPECT_FALSE(verifier->verify("message!\n", *signature));
}

TEST(CheckpointTest, FormatsAndParsesTheC2spBody) {
  Checkpoint checkpoint;
  checkpoint.origin = "countersign.example/audit";
  checkpoint.size = 8;
  checkpoint.root =
      *hash_from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
  EXPECT_EQ(checkpoint_text(checkpoint),
            "countersign.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
  auto parsed = parse_checkpoint_text(checkpoint_text(checkpoint));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->origin, checkpoint.origin);
  EXPECT_EQ(parsed->size, 8u);
  EXPECT_EQ(parsed->root, checkpoint.root);
  EXPECT_FALSE(parse_checkpoint_text("origin\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"));
  EXPECT_FALSE(parse_checkpoint_text("origin\n-8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"));
  EXPECT_FALSE(parse_checkpoint_text("origin\n8\nXcnaeacG\n"));  // not 32 bytes
  EXPECT_FALSE(parse_checkpoint_text("origin\n8\n"));
  EXPECT_FALSE(parse_checkpoint_text("\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"));
}

TEST(CheckpointTest, OpenChecksSignatureAndOrigin) {
  auto signer = NoteSigner::generate("log.example");
  auto other = NoteSigner::generate("log.example");
  auto renamed = NoteSigner::generate("other.example");
  ASSERT_TRUE(signer && other && renamed);
  Checkpoint checkpoint{"log.example", 3, hash_leaf("x"), {}};
  Note note{checkpoint_text(checkpoint), {}};
  ASSERT_TRUE(add_signature(note, *signer));
  auto opened = open_checkpoint(format_note(note), signer->verifier());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->checkpoint.size, 3u);

  auto forged = open_checkpoint(format_note(note), other->verifier());
  ASSERT_FALSE(forged);
  EXPECT_NE(forged.error().message.find("not signed by log.example+"), std::string::npos);

  Note unsigned_note{checkpoint_text(checkpoint), {}};
  EXPECT_FALSE(open_checkpoint(format_note(unsigned_note), signer->verifier()));

  // Signed by the right key but for another log's name.
  Checkpoint foreign{"other.example", 3, hash_leaf("x"), {}};
  Note foreign_note{checkpoint_text(foreign), {}};
  ASSERT_TRUE(add_signature(foreign_note, *signer));
  auto wrong_origin = open_checkpoint(format_note(foreign_note), signer->verifier());
  ASSERT_FALSE(wrong_origin);
  EXPECT_NE(wrong_origin.error().message.find("origin"), std::string::npos);

  // The size changed after signing.
  std::string message = format_note(note);
  message.replace(message.find("\n3\n"), 3, "\n4\n");
  EXPECT_FALSE(open_checkpoint(message, signer->verifier()));
}

}  // namespace
}  // namespace countersign::audit
