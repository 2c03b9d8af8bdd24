#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>
#include <semaphore>
#include <utility>

#include <sqlite3.h>

#include <boost/json.hpp>

#include <fmt/format.h>

#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign::store {
namespace {

namespace json = boost::json;

// Ordered migrations: entry i brings a database from user_version i to i + 1.
// Never edit a shipped entry; append a new one.
constexpr const char* kMigrations[] = {
    // 1: reviews, grants and the audit log.
    R"sql(
    CREATE TABLE reviews (
      id TEXT PRIMARY KEY,
      state TEXT NOT NULL,
      requester TEXT NOT NULL,
      on_behalf_of TEXT,
      digest TEXT NOT NULL,
      next_deadline INTEGER,
      created_at INTEGER NOT NULL,
      version INTEGER NOT NULL,
      body TEXT NOT NULL
    );
    CREATE INDEX reviews_by_created ON reviews (created_at, id);
    CREATE INDEX reviews_by_state ON reviews (state, created_at, id);
    CREATE INDEX reviews_by_requester ON reviews (requester, created_at);
    CREATE INDEX reviews_by_on_behalf_of ON reviews (on_behalf_of, created_at);
    CREATE INDEX reviews_by_digest ON reviews (digest);
    CREATE INDEX reviews_by_deadline ON reviews (next_deadline) WHERE next_deadline IS NOT NULL;

    CREATE TABLE grants (
      id TEXT PRIMARY KEY,
      review_id TEXT NOT NULL REFERENCES reviews (id),
      digest TEXT NOT NULL,
      requester TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      redeemed_at INTEGER
    );
    CREATE INDEX grants_unredeemed ON grants (digest, requester) WHERE redeemed_at IS NULL;
    CREATE INDEX grants_by_review ON grants (review_id);

    CREATE TABLE audit_events (
      idx INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,
      type TEXT NOT NULL,
      actor TEXT NOT NULL,
      review_id TEXT,
      action_digest TEXT,
      verb TEXT,
      body TEXT NOT NULL,
      previous_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE INDEX audit_by_actor ON audit_events (actor, idx);
    CREATE INDEX audit_by_type ON audit_events (type, idx);
    CREATE INDEX audit_by_verb ON audit_events (verb, idx) WHERE verb IS NOT NULL;
    CREATE INDEX audit_by_review ON audit_events (review_id, idx) WHERE review_id IS NOT NULL;
    CREATE INDEX audit_by_time ON audit_events (time);
    )sql",
    // 2: the RFC 6962 Merkle tree over the audit log and its signed
    // checkpoints. leaf_hash is SHA-256(0x00 || body); audit_tree holds every
    // complete interior node (level >= 1), so any root or proof needs only
    // O(log^2 n) lookups. Logs written before this version get their tree
    // built when the store opens.
    R"sql(
    ALTER TABLE audit_events ADD COLUMN leaf_hash BLOB;
    CREATE TABLE audit_tree (
      level INTEGER NOT NULL,
      position INTEGER NOT NULL,
      hash BLOB NOT NULL,
      PRIMARY KEY (level, position)
    ) WITHOUT ROWID;
    CREATE TABLE audit_checkpoints (
      size INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,
      root BLOB NOT NULL,
      note TEXT NOT NULL
    );
    )sql",
    // 3: the durable notification outbox (src/notify). Messages are written
    // with the review change they announce; the worker delivers the oldest
    // pending message of each stream and records the outcome. outbox_streams
    // keeps per-stream delivery state (e.g. the Slack message to update).
    R"sql(
    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      key TEXT NOT NULL UNIQUE,
      stream TEXT NOT NULL,
      channel TEXT NOT NULL,
      review_id TEXT,
      payload TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      next_attempt_at INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      state TEXT NOT NULL DEFAULT 'pending',
      finished_at INTEGER,
      last_error TEXT
    );
    CREATE INDEX outbox_pending_by_stream ON outbox (stream, id) WHERE state = 'pending';
    CREATE INDEX outbox_pending_by_time ON outbox (next_attempt_at) WHERE state = 'pending';
    CREATE TABLE outbox_streams (
      stream TEXT PRIMARY KEY,
      state TEXT NOT NULL
    );
    )sql",
    // Audit search (docs/audit.md#search). Everything here is derived from
    // the hashed body, and appends need no extra code: `target` is a
    // generated column (indexed); audit_minutes keeps, per minute of event
    // time, the first and last index (a trigger), so a time range becomes an
    // exact index range even when concurrent appends leave times slightly
    // out of order; audit_text is a contentless FTS5 index over the values
    // of the masked details, filled in batches (audit_text_state says up to
    // which index) rather than per insert, where FTS5 would write a segment
    // for every row.
    R"sql(
    ALTER TABLE audit_events ADD COLUMN target TEXT GENERATED ALWAYS AS (
      CASE WHEN json_valid(body) THEN json_extract(body, '$.details.target') END) VIRTUAL;
    CREATE INDEX audit_by_target ON audit_events (target, idx) WHERE target IS NOT NULL;
    CREATE TABLE audit_minutes (
      minute INTEGER PRIMARY KEY,
      first_idx INTEGER NOT NULL,
      last_idx INTEGER NOT NULL
    );
    INSERT INTO audit_minutes (minute, first_idx, last_idx)
      SELECT time / 60000, min(idx), max(idx) FROM audit_events GROUP BY time / 60000;
    CREATE TRIGGER audit_events_minutes AFTER INSERT ON audit_events BEGIN
      INSERT INTO audit_minutes (minute, first_idx, last_idx)
        VALUES (new.time / 60000, new.idx, new.idx)
        ON CONFLICT (minute) DO UPDATE SET first_idx = min(first_idx, excluded.first_idx),
                                           last_idx = max(last_idx, excluded.last_idx);
    END;
    CREATE VIRTUAL TABLE audit_text USING fts5 (details, content = '', tokenize = 'unicode61');
    CREATE TABLE audit_text_state (
      id INTEGER PRIMARY KEY CHECK (id = 0),
      indexed_to INTEGER NOT NULL
    );
    INSERT INTO audit_text_state (id, indexed_to) VALUES (0, 0);
    )sql",
    // At most one pending review per action digest and requester, so that
    // identical submissions racing each other (threads, processes) join one
    // review instead of opening two. Pending duplicates left by older builds
    // are marked and left to run their course (they expire on their own);
    // only reviews opened from now on are held to the rule.
    R"sql(
    ALTER TABLE reviews ADD COLUMN duplicate_before_unique INTEGER;
    UPDATE reviews SET duplicate_before_unique = 1
      WHERE state = 'pending' AND rowid NOT IN (
        SELECT min(rowid) FROM reviews WHERE state = 'pending' GROUP BY digest, requester);
    CREATE UNIQUE INDEX reviews_one_pending ON reviews (digest, requester)
      WHERE state = 'pending' AND duplicate_before_unique IS NULL;
    )sql",
    // Cheaper appends, same search: audit_minutes is maintained by the
    // store once per distinct minute of each committed batch instead of by a
    // trigger on every row (the table's content is the same), and the time
    // index goes: no query reads it (time ranges go through audit_minutes).
    R"sql(
    DROP TRIGGER audit_events_minutes;
    DROP INDEX audit_by_time;
    )sql",
    // Appends touch only the log itself: the filter indexes move from
    // audit_events (five B-trees written on every append, one of them
    // parsing the body for the target) to audit_search, a copy of the
    // filter columns filled in batches with the full-text index (up to
    // audit_text_state.indexed_to) off the append path. Searches fill the
    // gap first, so their results are unchanged.
    R"sql(
    DROP INDEX audit_by_actor;
    DROP INDEX audit_by_type;
    DROP INDEX audit_by_verb;
    DROP INDEX audit_by_review;
    DROP INDEX audit_by_target;
    CREATE TABLE audit_search (
      idx INTEGER PRIMARY KEY,
      type TEXT NOT NULL,
      actor TEXT NOT NULL,
      review_id TEXT,
      verb TEXT,
      target TEXT
    );
    INSERT INTO audit_search (idx, type, actor, review_id, verb, target)
      SELECT idx, type, actor, review_id, verb, target FROM audit_events
      WHERE idx < (SELECT indexed_to FROM audit_text_state WHERE id = 0);
    CREATE INDEX audit_search_by_actor ON audit_search (actor, idx);
    CREATE INDEX audit_search_by_type ON audit_search (type, idx);
    CREATE INDEX audit_search_by_verb ON audit_search (verb, idx) WHERE verb IS NOT NULL;
    CREATE INDEX audit_search_by_review ON audit_search (review_id, idx)
      WHERE review_id IS NOT NULL;
    CREATE INDEX audit_search_by_target ON audit_search (target, idx) WHERE target IS NOT NULL;
    )sql",
};

constexpr int kBusyTimeoutMillis = 5000;
// The writer thread indexes for search after this long without a flush to
// do, this many events per transaction (a few milliseconds of work).
constexpr auto kSearchIndexInterval = std::chrono::milliseconds(100);
constexpr std::int64_t kSearchIndexStep = 500;
constexpr int kSearchIndexStepsPerWake = 40;
// WAL pages after which the writer thread checkpoints (SQLite's own default).
constexpr int kCheckpointPages = 1000;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

// SQLite failures become errors that name the operation and SQLite's generic
// description of the code, never the statement's bound values.
Error database_error(int code, std::string_view operation) {
  int primary = code & 0xFF;
  ErrorCode error_code = (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
                             ? ErrorCode::unavailable
                             : ErrorCode::internal;
  return Error{error_code, "storage: " + std::string(operation) + ": " + sqlite3_errstr(code)};
}

int clamp_limit(int limit) {
  if (limit <= 0) return kDefaultPageSize;
  return std::min(limit, kMaxPageSize);
}

// The verb column that list_events filters on.
std::optional<std::string> event_verb(const audit::AuditEvent& event,
                                      std::string_view fallback_verb) {
  if (const json::value* verb = event.details.if_contains("verb")) {
    if (verb->is_string()) return std::string(verb->get_string());
  }
  if (!fallback_verb.empty()) return std::string(fallback_verb);
  return std::nullopt;
}

std::optional<std::string> non_empty(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

// Review pages are keyed by (created_at, id); the cursor carries both,
// hex-encoded so that callers treat it as opaque.
std::string encode_review_cursor(Millis created_at, const std::string& id) {
  return to_hex(std::to_string(created_at) + ":" + id);
}

struct ReviewCursor {
  Millis created_at = 0;
  std::string id;
};

std::optional<ReviewCursor> decode_review_cursor(std::string_view cursor) {
  if (cursor.size() % 2 != 0) return std::nullopt;
  std::string text;
  for (std::size_t i = 0; i < cursor.size(); i += 2) {
    unsigned value = 0;
    auto [end, status] = std::from_chars(cursor.data() + i, cursor.data() + i + 2, value, 16);
    if (status != std::errc() || end != cursor.data() + i + 2) return std::nullopt;
    text.push_back(static_cast<char>(value));
  }
  std::size_t colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  ReviewCursor decoded;
  auto [end, status] = std::from_chars(text.data(), text.data() + colon, decoded.created_at);
  if (status != std::errc() || end != text.data() + colon) return std::nullopt;
  decoded.id = text.substr(colon + 1);
  return decoded;
}

// LIKE pattern matching `text` anywhere, with LIKE's wildcards taken literally.
std::string contains_pattern(std::string_view text) {
  std::string pattern = "%";
  for (char character : text) {
    if (character == '%' || character == '_' || character == '\\') pattern.push_back('\\');
    pattern.push_back(character);
  }
  pattern.push_back('%');
  return pattern;
}

// The FTS5 query for a free-text search: the text as one phrase (its words
// in order, case-insensitive), with a trailing '*' kept as a prefix match on
// the last word. nullopt when the text has no word characters.
std::optional<std::string> text_query(std::string_view text) {
  bool prefix = false;
  while (!text.empty() && (text.back() == '*' || text.back() == ' ')) {
    prefix = prefix || text.back() == '*';
    text.remove_suffix(1);
  }
  bool has_word = false;
  for (char character : text) {
    auto byte = static_cast<unsigned char>(character);
    if (byte >= 0x80 || std::isalnum(byte)) has_word = true;
  }
  if (!has_word) return std::nullopt;
  std::string phrase = "\"";
  for (char character : text) {
    if (character == '"') phrase.push_back('"');  // FTS5 escapes a quote by doubling it
    phrase.push_back(character);
  }
  phrase.push_back('"');
  if (prefix) phrase += " *";
  return phrase;
}

}  // namespace

// ---------------------------------------------------------------------------
// Statement: a borrowed cached statement, reset when it goes out of scope so
// that the next user finds it clean and no read transaction stays open.

class SqliteStore::Statement {
 public:
  explicit Statement(sqlite3_stmt* statement) : statement_(statement) {}
  Statement(Statement&& other) noexcept
      : statement_(std::exchange(other.statement_, nullptr)), bind_error_(other.bind_error_) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() {
    if (statement_ == nullptr) return;
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  // Parameters are 1-based, as in SQL.
  void bind(int parameter, std::string_view text) {
    remember(sqlite3_bind_text(statement_, parameter, text.data(), static_cast<int>(text.size()),
                               SQLITE_TRANSIENT));
  }
  void bind(int parameter, std::int64_t number) {
    remember(sqlite3_bind_int64(statement_, parameter, number));
  }
  void bind_blob(int parameter, std::string_view bytes) {
    remember(sqlite3_bind_blob(statement_, parameter, bytes.data(), static_cast<int>(bytes.size()),
                               SQLITE_TRANSIENT));
  }
  void bind(int parameter, const std::optional<std::string>& text) {
    if (text) {
      bind(parameter, std::string_view(*text));
    } else {
      remember(sqlite3_bind_null(statement_, parameter));
    }
  }

  // Makes the statement ready to run again with new bindings.
  void reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
    bind_error_ = SQLITE_OK;
  }

  // SQLITE_ROW, SQLITE_DONE, or an error code (also a failed bind).
  int step() {
    if (bind_error_ != SQLITE_OK) return bind_error_;
    return sqlite3_step(statement_);
  }

  // Runs a statement that returns no rows.
  Result<void> run(std::string_view operation) {
    int code = step();
    if (code != SQLITE_DONE && code != SQLITE_ROW)
      return std::unexpected(database_error(code, operation));
    return {};
  }

  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
  bool is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  // Valid until the next step or reset.
  std::string_view view(int column) const {
    const void* data = sqlite3_column_blob(statement_, column);
    if (data == nullptr) return std::string_view();
    return std::string_view(static_cast<const char*>(data),
                            static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
  }
  std::string text(int column) const {
    const unsigned char* data = sqlite3_column_text(statement_, column);
    if (data == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(data),
                       static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
  }

 private:
  void remember(int code) {
    if (code != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = code;
  }

  sqlite3_stmt* statement_;
  int bind_error_ = SQLITE_OK;
};

// ---------------------------------------------------------------------------
// Transaction: rolls back unless committed, so every early error return
// leaves the database as it was.

class SqliteStore::Transaction {
 public:
  enum class Kind { read, write };

  static Result<Transaction> begin(SqliteStore& store, Kind kind) {
    // IMMEDIATE takes the write lock up front: a write transaction that
    // started as a reader could otherwise fail with SQLITE_BUSY half-way
    // when another process wrote in between.
    auto begun = store.execute(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN");
    if (!begun) return std::unexpected(begun.error());
    return Transaction(store);
  }

  Transaction(Transaction&& other) noexcept
      : store_(other.store_), open_(std::exchange(other.open_, false)) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!open_) return;
    (void)store_.execute("ROLLBACK");
    store_.frontier_.reset();  // it may hold nodes that were rolled back
  }

  Result<void> commit() {
    auto committed = store_.execute("COMMIT");
    if (committed) open_ = false;
    return committed;
  }

 private:
  explicit Transaction(SqliteStore& store) : store_(store) {}

  SqliteStore& store_;
  bool open_ = true;
};

// ---------------------------------------------------------------------------
// Opening and schema

int SqliteStore::schema_version() { return static_cast<int>(std::size(kMigrations)); }

SqliteStore::SqliteStore(sqlite3* database) : database_(database) {}

SqliteStore::~SqliteStore() {
  if (writer_.joinable()) {
    {
      std::lock_guard queue_lock(queue_mutex_);
      closing_ = true;
    }
    queue_ready_.notify_one();
    writer_.join();  // commits what is still queued first
  }
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close(checkpointer_);  // null (a no-op) for in-memory databases
  sqlite3_close(database_);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteOptions options) {
  // SQLite's allocation statistics take a global mutex on every malloc and
  // free inside SQLite, and nothing here reads them. They can only be turned
  // off before SQLite initializes: once, before the first open; if SQLite is
  // already initialized the call is refused and changes nothing.
  static const bool memory_statistics_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)memory_statistics_off;
  sqlite3* database = nullptr;
  // NOMUTEX: the store's own mutex already serializes every use of the connection.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int code = sqlite3_open_v2(path.c_str(), &database, flags, nullptr);
  if (code != SQLITE_OK) {
    sqlite3_close(database);
    return std::unexpected(database_error(code, "open database"));
  }
  sqlite3_extended_result_codes(database, 1);
  std::unique_ptr<SqliteStore> store(new SqliteStore(database));
  std::lock_guard lock(store->mutex_);
  const bool in_memory = path.empty() || path == ":memory:";
  if (auto configured = store->configure(in_memory); !configured) {
    return std::unexpected(configured.error());
  }
  if (auto migrated = store->migrate(); !migrated) return std::unexpected(migrated.error());
  if (auto built = store->build_missing_tree(); !built) return std::unexpected(built.error());
  store->index_when_idle_ = options.index_when_idle;
  if (!in_memory) {
    if (auto started = store->start_checkpointer(path); !started)
      return std::unexpected(started.error());
  }
  store->writer_ = std::thread([raw = store.get()] { raw->run_writer(); });
  return store;
}

// WAL checkpoints (copying committed pages back into the database file, and
// an fsync) run on the writer thread through a connection of their own,
// concurrently with commits, instead of inside whichever commit crossed the
// threshold: that commit is usually an event loop's, which would stall
// every request on the loop for the copy and the fsync.
Result<void> SqliteStore::start_checkpointer(const std::string& path) {
  int code = sqlite3_open_v2(path.c_str(), &checkpointer_, SQLITE_OPEN_READWRITE, nullptr);
  if (code != SQLITE_OK) return std::unexpected(database_error(code, "open checkpoint connection"));
  sqlite3_busy_timeout(checkpointer_, kBusyTimeoutMillis);
  sqlite3_wal_autocheckpoint(database_, 0);
  sqlite3_wal_hook(
      database_,
      [](void* self, sqlite3*, const char*, int pages) {
        static_cast<SqliteStore*>(self)->wal_grew(pages);
        return SQLITE_OK;
      },
      this);
  return {};
}

void SqliteStore::wal_grew(int pages) {
  if (pages < kCheckpointPages) return;
  std::lock_guard queue_lock(queue_mutex_);
  if (checkpoint_wanted_) return;
  checkpoint_wanted_ = true;
  queue_ready_.notify_one();
}

void SqliteStore::checkpoint_wal() {
  // PASSIVE: copies what no reader still needs, never waits for or blocks
  // a writer; what it leaves is copied by a later checkpoint.
  (void)sqlite3_wal_checkpoint_v2(checkpointer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                  nullptr);
}

Result<void> SqliteStore::configure(bool in_memory) {
  int code = sqlite3_busy_timeout(database_, kBusyTimeoutMillis);
  if (code != SQLITE_OK) return std::unexpected(database_error(code, "set busy timeout"));

  auto journal = prepare("PRAGMA journal_mode = WAL");
  if (!journal) return std::unexpected(journal.error());
  if (int step = journal->step(); step != SQLITE_ROW) {
    return std::unexpected(database_error(step, "enable WAL"));
  }
  // An in-memory database has no WAL; a file that cannot use one (some
  // network file systems) would lose the durability argued for below.
  if (!in_memory && journal->text(0) != "wal") {
    return fail(ErrorCode::internal, "storage: the database cannot use WAL journaling");
  }
  // In WAL mode, synchronous=NORMAL still fsyncs the WAL at checkpoints, and
  // a commit is durable against a crash of this process (the WAL is in the OS
  // page cache); only a power loss or OS crash can lose the last commits, never
  // corrupt the database. FULL would fsync on every commit for that last bit.
  if (auto pragmas = execute("PRAGMA synchronous = NORMAL"); !pragmas) return pragmas;
  return execute("PRAGMA foreign_keys = ON");
}

Result<void> SqliteStore::migrate() {
  auto read_version = prepare("PRAGMA user_version");
  if (!read_version) return std::unexpected(read_version.error());
  if (int code = read_version->step(); code != SQLITE_ROW) {
    return std::unexpected(database_error(code, "read schema version"));
  }
  const int stored = static_cast<int>(read_version->integer(0));
  read_version->reset();  // an unfinished read would keep DROP statements from running
  const int known = schema_version();
  if (stored > known) {
    return fail(ErrorCode::failed_precondition,
                "storage: database schema version " + std::to_string(stored) +
                    " is newer than this build supports (" + std::to_string(known) +
                    "); upgrade countersign");
  }
  for (int version = stored; version < known; ++version) {
    auto transaction = Transaction::begin(*this, Transaction::Kind::write);
    if (!transaction) return std::unexpected(transaction.error());
    char* message = nullptr;
    int code = sqlite3_exec(database_, kMigrations[version], nullptr, nullptr, &message);
    sqlite3_free(message);
    if (code != SQLITE_OK) {
      return std::unexpected(
          database_error(code, "migrate schema to version " + std::to_string(version + 1)));
    }
    // PRAGMA takes no bound parameters; the number is ours.
    if (auto set = execute("PRAGMA user_version = " + std::to_string(version + 1)); !set) {
      return set;
    }
    if (auto committed = transaction->commit(); !committed) return committed;
  }
  return {};
}

Result<SqliteStore::Statement> SqliteStore::prepare(std::string_view sql) {
  std::string key(sql);
  if (auto found = statements_.find(key); found != statements_.end()) {
    return Statement(found->second);
  }
  sqlite3_stmt* statement = nullptr;
  int code = sqlite3_prepare_v3(database_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (code != SQLITE_OK) {
    sqlite3_finalize(statement);
    return std::unexpected(database_error(code, "prepare statement"));
  }
  statements_.emplace(std::move(key), statement);
  return Statement(statement);
}

Result<void> SqliteStore::execute(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  return statement->run(sql);
}

// ---------------------------------------------------------------------------
// Rows

Result<std::vector<review::Review>> SqliteStore::read_reviews(Statement& statement) {
  std::vector<review::Review> reviews;
  for (;;) {
    int code = statement.step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read reviews"));
    // Columns: version, body.
    auto body = parse_json(statement.text(1));
    if (!body) return fail(ErrorCode::internal, "storage: a stored review is not valid JSON");
    auto review = review::review_from_json(*body);
    if (!review) {
      return fail(ErrorCode::internal,
                  "storage: a stored review is unreadable: " + review.error().message);
    }
    review->version = statement.integer(0);  // the column is the truth
    reviews.push_back(std::move(*review));
  }
  return reviews;
}

Result<review::Review> SqliteStore::load_review(const std::string& id) {
  auto statement = prepare("SELECT version, body FROM reviews WHERE id = ?1");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, std::string_view(id));
  auto reviews = read_reviews(*statement);
  if (!reviews) return std::unexpected(reviews.error());
  if (reviews->empty()) return fail(ErrorCode::not_found, "no such review");
  return std::move(reviews->front());
}

namespace {

// The stored body: the review's JSON as it will be after this save.
Result<std::string> review_body(const review::Review& review) {
  json::object body = review::to_json(review);
  auto canonical = canonicalize(body);
  if (!canonical) {
    return fail(ErrorCode::invalid_argument,
                "review cannot be stored: " + canonical.error().message);
  }
  return canonical;
}

}  // namespace

Result<void> SqliteStore::insert_review(const review::Review& review) {
  auto body = review_body(review);
  if (!body) return std::unexpected(body.error());
  auto statement = prepare(
      "INSERT INTO reviews (id, state, requester, on_behalf_of, digest, next_deadline, "
      "created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!statement) return std::unexpected(statement.error());
  Millis deadline = review::next_deadline(review);
  statement->bind(1, std::string_view(review.id));
  statement->bind(2, review::state_name(review.state));
  statement->bind(3, std::string_view(review.action.actor.subject));
  statement->bind(4, review.action.actor.on_behalf_of);
  statement->bind(5, std::string_view(review.action.digest));
  if (deadline != 0) statement->bind(6, deadline);  // unbound stays NULL: no deadline
  statement->bind(7, review.created_at);
  statement->bind(8, review.version);
  statement->bind(9, std::string_view(*body));
  int code = statement->step();
  if ((code & 0xFF) == SQLITE_CONSTRAINT)
    return fail(ErrorCode::conflict,
                "review already exists, or an identical one from the same requester is pending");
  if (code != SQLITE_DONE) return std::unexpected(database_error(code, "insert review"));
  return {};
}

Result<void> SqliteStore::save_review(const review::Review& review) {
  review::Review saved = review;
  saved.version = review.version + 1;
  auto body = review_body(saved);
  if (!body) return std::unexpected(body.error());
  // Optimistic concurrency: the row changes only if nobody saved since the
  // caller read it.
  auto statement = prepare(
      "UPDATE reviews SET state = ?2, requester = ?3, on_behalf_of = ?4, digest = ?5, "
      "next_deadline = ?6, created_at = ?7, version = ?8, body = ?9 "
      "WHERE id = ?1 AND version = ?10");
  if (!statement) return std::unexpected(statement.error());
  Millis deadline = review::next_deadline(saved);
  statement->bind(1, std::string_view(saved.id));
  statement->bind(2, review::state_name(saved.state));
  statement->bind(3, std::string_view(saved.action.actor.subject));
  statement->bind(4, saved.action.actor.on_behalf_of);
  statement->bind(5, std::string_view(saved.action.digest));
  if (deadline != 0) statement->bind(6, deadline);
  statement->bind(7, saved.created_at);
  statement->bind(8, saved.version);
  statement->bind(9, std::string_view(*body));
  statement->bind(10, review.version);
  if (auto ran = statement->run("update review"); !ran) return ran;
  if (sqlite3_changes(database_) == 1) return {};

  auto exists = prepare("SELECT 1 FROM reviews WHERE id = ?1");
  if (!exists) return std::unexpected(exists.error());
  exists->bind(1, std::string_view(review.id));
  int code = exists->step();
  if (code == SQLITE_DONE) return fail(ErrorCode::not_found, "no such review");
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "check review"));
  return fail(ErrorCode::conflict, "review was changed concurrently; reload and retry");
}

Result<void> SqliteStore::insert_grant(const review::Grant& grant) {
  auto statement = prepare(
      "INSERT INTO grants (id, review_id, digest, requester, created_at, expires_at, redeemed_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, std::string_view(grant.id));
  statement->bind(2, std::string_view(grant.review_id));
  statement->bind(3, std::string_view(grant.digest));
  statement->bind(4, std::string_view(grant.requester));
  statement->bind(5, grant.created_at);
  statement->bind(6, grant.expires_at);
  if (grant.redeemed_at) statement->bind(7, *grant.redeemed_at);
  int code = statement->step();
  if ((code & 0xFF) == SQLITE_CONSTRAINT) {
    return fail(ErrorCode::conflict, "grant already exists or names an unknown review");
  }
  if (code != SQLITE_DONE) return std::unexpected(database_error(code, "insert grant"));
  return {};
}

// Where the next append goes, read once per write transaction (inside it,
// so no concurrent append, in this process or another, can slip in between
// reading it and extending the chain), and the minutes the appended events
// fall in, written to audit_minutes once when the appends are done.
struct SqliteStore::AppendState {
  std::int64_t next_index = 0;
  std::string previous_hash;
  // minute -> first and last index appended in it (few distinct minutes).
  std::vector<std::pair<std::int64_t, std::pair<std::int64_t, std::int64_t>>> minutes;

  void note_minute(Millis time, std::int64_t index) {
    const std::int64_t minute = time / 60000;  // truncates like SQLite's integer division
    for (auto& [known, range] : minutes) {
      if (known != minute) continue;
      range.first = std::min(range.first, index);
      range.second = std::max(range.second, index);
      return;
    }
    minutes.push_back({minute, {index, index}});
  }
};

Result<SqliteStore::AppendState> SqliteStore::begin_append() {
  auto last = prepare("SELECT idx, hash FROM audit_events ORDER BY idx DESC LIMIT 1");
  if (!last) return std::unexpected(last.error());
  AppendState state;
  state.previous_hash = audit::kGenesisHash;
  int code = last->step();
  if (code == SQLITE_ROW) {
    state.next_index = last->integer(0) + 1;
    state.previous_hash = last->text(1);
  } else if (code != SQLITE_DONE) {
    return std::unexpected(database_error(code, "read last audit event"));
  }
  last->reset();
  if (!frontier_ || frontier_->size() != static_cast<std::uint64_t>(state.next_index)) {
    auto loaded = load_frontier(state.next_index);
    if (!loaded) return std::unexpected(loaded.error());
    frontier_ = std::move(*loaded);
  }
  return state;
}

Result<void> SqliteStore::finish_append(AppendState& state) {
  if (state.minutes.empty()) return {};
  auto upsert = prepare(
      "INSERT INTO audit_minutes (minute, first_idx, last_idx) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (minute) DO UPDATE SET first_idx = min(first_idx, excluded.first_idx), "
      "last_idx = max(last_idx, excluded.last_idx)");
  if (!upsert) return std::unexpected(upsert.error());
  for (const auto& [minute, range] : state.minutes) {
    upsert->bind(1, minute);
    upsert->bind(2, range.first);
    upsert->bind(3, range.second);
    if (auto ran = upsert->run("record audit minute"); !ran) return ran;
    upsert->reset();
  }
  state.minutes.clear();
  return {};
}

// Seals copies of `events` after `state`, inserts them and extends the
// Merkle tree. frontier_ is updated as if the transaction commits; a
// rollback resets it (see Transaction). A refusal while sealing
// (invalid_argument) happens before anything is written and leaves `state`
// as it was.
Result<std::vector<audit::AuditEvent>> SqliteStore::append_sealed(
    AppendState& state, const std::vector<audit::AuditEvent>& events,
    std::string_view fallback_verb) {
  if (events.empty()) return std::vector<audit::AuditEvent>();
  auto sealed = audit::seal_events(events, state.next_index, state.previous_hash);
  if (!sealed) return std::unexpected(sealed.error());

  auto insert = prepare(
      "INSERT INTO audit_events (idx, time, type, actor, review_id, action_digest, verb, body, "
      "previous_hash, hash, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!insert) return std::unexpected(insert.error());
  auto insert_node = prepare("INSERT INTO audit_tree (level, position, hash) VALUES (?1, ?2, ?3)");
  if (!insert_node) return std::unexpected(insert_node.error());
  std::vector<audit::CompactRange::Node> created;
  std::vector<audit::AuditEvent> out;
  out.reserve(sealed->size());
  for (audit::SealedEvent& item : *sealed) {
    const audit::AuditEvent& event = item.event;
    Statement& statement = *insert;
    statement.bind(1, event.index);
    statement.bind(2, event.time);
    statement.bind(3, std::string_view(event.type));
    statement.bind(4, std::string_view(event.actor));
    statement.bind(5, non_empty(event.review_id));
    statement.bind(6, non_empty(event.action_digest));
    statement.bind(7, event_verb(event, fallback_verb));
    statement.bind(8, std::string_view(item.body));
    statement.bind(9, std::string_view(event.previous_hash));
    statement.bind(10, std::string_view(event.hash));
    statement.bind_blob(11, audit::hash_bytes(item.leaf));
    if (auto ran = statement.run("append audit event"); !ran) return std::unexpected(ran.error());
    statement.reset();
    created.clear();
    frontier_->append(item.leaf, &created);
    for (const auto& node : created) {
      insert_node->bind(1, static_cast<std::int64_t>(node.level));
      insert_node->bind(2, static_cast<std::int64_t>(node.position));
      insert_node->bind_blob(3, audit::hash_bytes(node.hash));
      if (auto ran = insert_node->run("append audit tree node"); !ran)
        return std::unexpected(ran.error());
      insert_node->reset();
    }
    state.note_minute(event.time, event.index);
    out.push_back(std::move(item.event));
  }
  state.next_index = out.back().index + 1;
  state.previous_hash = out.back().hash;
  return out;
}

Result<std::vector<audit::AuditEvent>> SqliteStore::append_sealed(
    const std::vector<audit::AuditEvent>& events, std::string_view fallback_verb) {
  if (events.empty()) return std::vector<audit::AuditEvent>();
  auto state = begin_append();
  if (!state) return std::unexpected(state.error());
  auto sealed = append_sealed(*state, events, fallback_verb);
  if (!sealed) return sealed;
  if (auto recorded = finish_append(*state); !recorded) return std::unexpected(recorded.error());
  return sealed;
}

// ---------------------------------------------------------------------------
// Writes

struct SqliteStore::PendingAppend {
  std::vector<audit::AuditEvent>* events;  // sealed in place once committed
  Result<void> result;
  // A blocking caller waits on `finished`, which the flush releases without
  // holding any lock (so that the callers it wakes do not queue up on one);
  // the flush's own reference keeps the semaphore alive until then. A
  // queued caller (done_callback set) owns its events and gets the callback.
  std::binary_semaphore finished{0};
  std::vector<audit::AuditEvent> owned;
  AppendDone done_callback;
};

// Group commit: callers queue their events; a flush takes everything
// queued and commits it as one transaction (one WAL append), then answers
// each caller. While a commit runs, the next batch accumulates, so the batch
// grows with the load. Blocking callers are flushed by the writer thread;
// queued ones (append_events_async) by the commit scheduler when one is set
// (an event loop commits its own requests' events on itself, without
// handing them to another thread and back), else by the writer thread too.
void SqliteStore::enqueue(std::shared_ptr<PendingAppend> pending) {
  queue_.push_back(pending);
  if (pending->done_callback && commit_scheduler_) {
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      commit_scheduler_([this] { flush_queue(); });
    }
  } else if (!writer_flush_wanted_) {
    writer_flush_wanted_ = true;
    queue_ready_.notify_one();
  }
}

Result<void> SqliteStore::append_events(std::vector<audit::AuditEvent>& events) {
  if (events.empty()) return {};
  auto mine = std::make_shared<PendingAppend>();
  mine->events = &events;
  {
    std::lock_guard queue_lock(queue_mutex_);
    enqueue(mine);
  }
  mine->finished.acquire();
  return std::move(mine->result);
}

void SqliteStore::append_events_async(std::vector<audit::AuditEvent> events, AppendDone done) {
  if (events.empty()) {
    if (done) done({});
    return;
  }
  auto pending = std::make_shared<PendingAppend>();
  pending->owned = std::move(events);
  pending->events = &pending->owned;
  pending->done_callback = done ? std::move(done) : [](Result<void>) {};
  std::lock_guard queue_lock(queue_mutex_);
  enqueue(std::move(pending));
}

void SqliteStore::set_commit_scheduler(CommitScheduler scheduler) {
  std::lock_guard queue_lock(queue_mutex_);
  commit_scheduler_ = std::move(scheduler);
  flush_scheduled_ = false;
  // What a scheduler that goes away was still to flush falls to the writer.
  if (!commit_scheduler_ && !queue_.empty()) {
    writer_flush_wanted_ = true;
    queue_ready_.notify_one();
  }
}

void SqliteStore::flush_queue() {
  std::vector<std::shared_ptr<PendingAppend>> batch;
  {
    // Held from taking the batch until it is committed, so that batches
    // taken by different threads commit in the order they were queued.
    std::lock_guard lock(mutex_);
    {
      std::lock_guard queue_lock(queue_mutex_);
      batch.swap(queue_);
      flush_scheduled_ = false;
      writer_flush_wanted_ = false;
    }
    if (batch.empty()) return;
    commit_batch(batch);
    flushes_.fetch_add(1, std::memory_order_relaxed);
  }
  // Answers go out without any lock held: callbacks may queue more events.
  for (auto& pending : batch) {
    if (!pending->done_callback) {
      pending->finished.release();
      continue;
    }
    try {
      pending->done_callback(std::move(pending->result));
    } catch (...) {
      // The caller's code: it must not end the flush (the events are committed).
    }
  }
}

void SqliteStore::run_writer() {
  std::unique_lock queue_lock(queue_mutex_);
  for (;;) {
    if (checkpoint_wanted_) {
      checkpoint_wanted_ = false;
      queue_lock.unlock();
      checkpoint_wal();
      queue_lock.lock();
      continue;
    }
    auto asked = [&] { return writer_flush_wanted_ || checkpoint_wanted_ || closing_; };
    if (index_when_idle_) {
      if (!queue_ready_.wait_for(queue_lock, kSearchIndexInterval, asked)) {
        queue_lock.unlock();
        index_while_idle();
        queue_lock.lock();
        continue;
      }
    } else {
      queue_ready_.wait(queue_lock, asked);
    }
    if (closing_ && queue_.empty()) return;            // every queued event committed
    if (!writer_flush_wanted_ && !closing_) continue;  // a checkpoint: at the top
    queue_lock.unlock();
    flush_queue();
    queue_lock.lock();
  }
}

// Brings the search indexes forward in bounded steps, each its own
// transaction, so that a flush waits at most one step for the lock; stops
// when they are up to date, or after a bounded number of steps (the next
// idle moment goes on). While appends keep coming (committed on an event
// loop), one step per moment: indexing must not take the CPU the requests
// need; the searches that need the rest fill it themselves.
void SqliteStore::index_while_idle() {
  const std::uint64_t flushes = flushes_.load(std::memory_order_relaxed);
  const int steps = flushes == flushes_at_last_index_ ? kSearchIndexStepsPerWake : 1;
  flushes_at_last_index_ = flushes;
  for (int step = 0; step < steps; ++step) {
    std::lock_guard lock(mutex_);
    auto indexed = index_for_search(kSearchIndexStep);
    if (!indexed || *indexed < kSearchIndexStep) return;
  }
}

// Reads of the log see every append queued before them, including those
// queued without waiting (a door that answered its client before its
// action.executed event was committed): the reader flushes the queue
// itself, and an append another thread is committing is done once the
// flush has the store's lock.
void SqliteStore::wait_for_queued_appends() { flush_queue(); }

void SqliteStore::commit_batch(std::vector<std::shared_ptr<PendingAppend>>& batch) {
  auto fail_all = [&](const Error& error) {
    for (auto& pending : batch) pending->result = std::unexpected(error);
  };
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return fail_all(transaction.error());
  // The log's end is read once for the whole batch and carried from one
  // caller's events to the next.
  auto state = begin_append();
  if (!state) return fail_all(state.error());
  std::vector<std::optional<std::vector<audit::AuditEvent>>> sealed(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto appended = append_sealed(*state, *batch[i]->events, "");
    if (appended) {
      sealed[i] = std::move(*appended);
    } else if (appended.error().code == ErrorCode::invalid_argument) {
      // Refused while sealing, before anything was written: only this caller fails.
      batch[i]->result = std::unexpected(appended.error());
    } else {
      return fail_all(appended.error());  // the transaction rolls back
    }
  }
  if (auto recorded = finish_append(*state); !recorded) return fail_all(recorded.error());
  if (auto committed = transaction->commit(); !committed) return fail_all(committed.error());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!sealed[i]) continue;
    *batch[i]->events = std::move(*sealed[i]);  // only once the events are committed
    batch[i]->result = {};
  }
}

Result<void> SqliteStore::create_review(review::Review& review,
                                        std::vector<audit::AuditEvent>& events) {
  std::lock_guard lock(mutex_);
  review::Review created = review;
  created.version = 1;
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  if (auto inserted = insert_review(created); !inserted) return inserted;
  auto sealed = append_sealed(events, created.action.verb);
  if (!sealed) return std::unexpected(sealed.error());
  if (auto queued = insert_planned_outbox(created, *sealed); !queued) return queued;
  if (auto committed = transaction->commit(); !committed) return committed;
  review.version = created.version;
  events = std::move(*sealed);
  return {};
}

Result<void> SqliteStore::update_review(review::Review& review,
                                        const std::optional<review::Grant>& grant,
                                        std::vector<audit::AuditEvent>& events) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  if (auto saved = save_review(review); !saved) return saved;
  if (grant) {
    if (auto inserted = insert_grant(*grant); !inserted) return inserted;
  }
  auto sealed = append_sealed(events, review.action.verb);
  if (!sealed) return std::unexpected(sealed.error());
  {
    review::Review saved = review;
    saved.version += 1;
    if (auto queued = insert_planned_outbox(saved, *sealed); !queued) return queued;
  }
  if (auto committed = transaction->commit(); !committed) return committed;
  review.version += 1;
  events = std::move(*sealed);
  return {};
}

Result<std::optional<review::Grant>> SqliteStore::redeem_grant(const std::string& digest,
                                                               const std::string& requester,
                                                               Millis now, const RedeemHook& hook) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());

  // One statement claims the grant: the write lock plus `redeemed_at IS NULL`
  // in the outer WHERE make a second claimant, in this process or another,
  // find nothing.
  auto claim = prepare(
      "UPDATE grants SET redeemed_at = ?1 WHERE id = ("
      "  SELECT id FROM grants WHERE digest = ?2 AND requester = ?3 AND redeemed_at IS NULL"
      "  AND expires_at > ?1 ORDER BY created_at LIMIT 1"
      ") AND redeemed_at IS NULL "
      "RETURNING id, review_id, digest, requester, created_at, expires_at, redeemed_at");
  if (!claim) return std::unexpected(claim.error());
  claim->bind(1, now);
  claim->bind(2, std::string_view(digest));
  claim->bind(3, std::string_view(requester));
  int code = claim->step();
  if (code == SQLITE_DONE) return std::optional<review::Grant>();  // rolls back
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "redeem grant"));
  review::Grant grant;
  grant.id = claim->text(0);
  grant.review_id = claim->text(1);
  grant.digest = claim->text(2);
  grant.requester = claim->text(3);
  grant.created_at = claim->integer(4);
  grant.expires_at = claim->integer(5);
  grant.redeemed_at = claim->integer(6);
  if (int done = claim->step(); done != SQLITE_DONE) {
    return std::unexpected(database_error(done, "redeem grant"));
  }

  auto review = load_review(grant.review_id);
  if (!review) {
    if (review.error().code == ErrorCode::not_found) {
      return fail(ErrorCode::internal, "storage: a grant names a review that does not exist");
    }
    return std::unexpected(review.error());
  }
  std::vector<audit::AuditEvent> events;
  try {
    events = hook(*review);
  } catch (...) {
    // The hook is the caller's code; an exception must not cross the store's
    // boundary with a transaction open. The claim is rolled back.
    return fail(ErrorCode::internal, "storage: the redeem hook failed");
  }
  if (auto saved = save_review(*review); !saved) return std::unexpected(saved.error());
  auto sealed = append_sealed(events, review->action.verb);
  if (!sealed) return std::unexpected(sealed.error());
  {
    review::Review saved = *review;
    saved.version += 1;
    if (auto queued = insert_planned_outbox(saved, *sealed); !queued)
      return std::unexpected(queued.error());
  }
  if (auto committed = transaction->commit(); !committed) {
    return std::unexpected(committed.error());
  }
  return std::optional<review::Grant>(std::move(grant));
}

// ---------------------------------------------------------------------------
// Reads

Result<review::Review> SqliteStore::get_review(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto review = load_review(id);
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return review;
}

namespace {

// Values for a statement whose WHERE clause is assembled from a filter.
class Parameters {
 public:
  std::string add(std::int64_t number) {
    numbers_.emplace_back(next(), number);
    return "?" + std::to_string(count_);
  }
  std::string add(std::string text) {
    texts_.emplace_back(next(), std::move(text));
    return "?" + std::to_string(count_);
  }
  template <typename StatementType>
  void bind(StatementType& statement) const {
    for (const auto& [position, number] : numbers_) statement.bind(position, number);
    for (const auto& [position, text] : texts_) statement.bind(position, std::string_view(text));
  }

 private:
  int next() { return ++count_; }

  int count_ = 0;
  std::vector<std::pair<int, std::int64_t>> numbers_;
  std::vector<std::pair<int, std::string>> texts_;
};

std::string where_clause(const std::vector<std::string>& conditions) {
  std::string clause;
  for (const std::string& condition : conditions) {
    clause += clause.empty() ? " WHERE " : " AND ";
    clause += condition;
  }
  return clause;
}

}  // namespace

Result<ReviewPage> SqliteStore::list_reviews(const ReviewFilter& filter) {
  const int limit = clamp_limit(filter.limit);
  Parameters parameters;
  std::vector<std::string> conditions;
  if (filter.state) {
    conditions.push_back("state = " +
                         parameters.add(std::string(review::state_name(*filter.state))));
  }
  if (filter.requester) {
    std::string requester = parameters.add(*filter.requester);
    conditions.push_back("(requester = " + requester + " OR on_behalf_of = " + requester + ")");
  }
  if (!filter.cursor.empty()) {
    auto cursor = decode_review_cursor(filter.cursor);
    if (!cursor) return fail(ErrorCode::invalid_argument, "malformed review cursor");
    std::string created_at = parameters.add(cursor->created_at);
    std::string id = parameters.add(cursor->id);
    conditions.push_back("(created_at, id) < (" + created_at + ", " + id + ")");
  }
  // Each filter combination is its own SQL text, so each gets its own cached
  // plan that can use the matching index.
  std::string sql = "SELECT version, body FROM reviews" + where_clause(conditions) +
                    " ORDER BY created_at DESC, id DESC LIMIT " +
                    parameters.add(std::int64_t{limit} + 1);

  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  parameters.bind(*statement);
  auto reviews = read_reviews(*statement);
  if (!reviews) return std::unexpected(reviews.error());
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());

  ReviewPage page;
  if (static_cast<int>(reviews->size()) > limit) {
    reviews->resize(limit);
    page.next_cursor = encode_review_cursor(reviews->back().created_at, reviews->back().id);
  }
  page.reviews = std::move(*reviews);
  return page;
}

Result<std::vector<review::Review>> SqliteStore::due_reviews(Millis now) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto statement = prepare(
      "SELECT version, body FROM reviews WHERE next_deadline IS NOT NULL AND next_deadline <= ?1 "
      "ORDER BY next_deadline, id");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, now);
  auto reviews = read_reviews(*statement);
  if (!reviews) return std::unexpected(reviews.error());
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return reviews;
}

Result<std::optional<review::Review>> SqliteStore::find_open_review(const std::string& digest) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto statement = prepare(
      "SELECT version, body FROM reviews WHERE digest = ?1 AND state IN ('pending', 'approved') "
      "ORDER BY created_at DESC, id DESC LIMIT 1");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, std::string_view(digest));
  auto reviews = read_reviews(*statement);
  if (!reviews) return std::unexpected(reviews.error());
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  if (reviews->empty()) return std::optional<review::Review>();
  return std::optional<review::Review>(std::move(reviews->front()));
}

// Adds events not yet in the search indexes (audit_search and audit_text),
// at most `limit` (0: all), in one write transaction: one INSERT ... SELECT
// each, so FTS5 writes one segment per batch and each filter index takes
// the batch's rows together. Called with mutex_ held.
Result<std::int64_t> SqliteStore::index_for_search(std::int64_t limit) {
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  std::int64_t from = 0, end = 0;
  {
    auto state = prepare(
        "SELECT indexed_to, (SELECT coalesce(max(idx) + 1, 0) FROM audit_events) "
        "FROM audit_text_state WHERE id = 0");
    if (!state) return std::unexpected(state.error());
    if (int code = state->step(); code != SQLITE_ROW)
      return std::unexpected(database_error(code, "read the search index state"));
    from = state->integer(0);
    end = state->integer(1);
  }
  if (from >= end) {
    if (auto committed = transaction->commit(); !committed)
      return std::unexpected(committed.error());
    return 0;
  }
  const std::int64_t to = limit > 0 ? std::min(end, from + limit) : end;
  auto copy = prepare(
      "INSERT INTO audit_search (idx, type, actor, review_id, verb, target) "
      "SELECT idx, type, actor, review_id, verb, target FROM audit_events "
      "WHERE idx >= ?1 AND idx < ?2");
  if (!copy) return std::unexpected(copy.error());
  copy->bind(1, from);
  copy->bind(2, to);
  if (auto ran = copy->run("index audit columns"); !ran) return std::unexpected(ran.error());
  copy->reset();
  auto insert = prepare(
      "INSERT INTO audit_text (rowid, details) "
      "SELECT idx, (SELECT group_concat(value, char(10)) FROM json_tree(body, '$.details') "
      "WHERE atom IS NOT NULL) FROM audit_events WHERE idx >= ?1 AND idx < ?2 AND "
      "json_valid(body)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, from);
  insert->bind(2, to);
  if (auto ran = insert->run("index audit text"); !ran) return std::unexpected(ran.error());
  insert->reset();
  auto update = prepare("UPDATE audit_text_state SET indexed_to = ?1 WHERE id = 0");
  if (!update) return std::unexpected(update.error());
  update->bind(1, to);
  if (auto ran = update->run("update the search index state"); !ran)
    return std::unexpected(ran.error());
  update->reset();
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return to - from;
}

Result<std::int64_t> SqliteStore::catch_up_search_index(std::int64_t limit) {
  std::lock_guard lock(mutex_);
  return index_for_search(limit);
}

namespace {

bool has_column_filter(const AuditFilter& filter) {
  return !filter.actor.empty() || !filter.verb.empty() || !filter.type.empty() ||
         !filter.target.empty() || !filter.review_id.empty();
}

// How list_events walks the log when it searches text: from the full-text
// index in index order (each match costs one row lookup), or from the other
// filters' index (each candidate costs one full-text probe, about 50 us).
enum class Walk { events, text_first, count_candidates };

// Candidates below which the other filters drive a text search.
constexpr std::int64_t kFewCandidates = 500;

// The SQL of one list_events query, with its parameters.
struct AuditQuery {
  std::string sql;
  Parameters parameters;
};

AuditQuery audit_query(const AuditFilter& filter, const std::optional<std::string>& phrase,
                       Walk walk, int limit) {
  AuditQuery query;
  Parameters& parameters = query.parameters;
  const bool text_first = walk == Walk::text_first;
  // Index ranges go on the driving table's rowid, so that it seeks to them.
  const bool columns = has_column_filter(filter);
  const std::string idx = text_first ? "audit_text.rowid" : columns ? "s.idx" : "e.idx";
  std::vector<std::string> conditions;
  // Each equality filter has an index on (column, idx) in audit_search, so
  // a page is one index seek and an ordered walk; SQLite picks the most
  // selective one.
  if (filter.after_index >= 0)
    conditions.push_back(idx + " > " + parameters.add(filter.after_index));
  if (!filter.actor.empty()) conditions.push_back("s.actor = " + parameters.add(filter.actor));
  if (!filter.verb.empty()) conditions.push_back("s.verb = " + parameters.add(filter.verb));
  if (!filter.type.empty()) conditions.push_back("s.type = " + parameters.add(filter.type));
  if (!filter.target.empty()) conditions.push_back("s.target = " + parameters.add(filter.target));
  if (!filter.review_id.empty())
    conditions.push_back("s.review_id = " + parameters.add(filter.review_id));
  if (filter.from > 0 || filter.to > 0) {
    // A time range is first narrowed to an index range through
    // audit_minutes (exact: every event of a minute lies within that
    // minute's first and last index), then checked on the rows themselves.
    // The unary + keeps SQLite off the time index, whose order is not the
    // page order.
    std::vector<std::string> bounds;
    if (filter.from > 0) bounds.push_back("minute >= " + parameters.add(filter.from / 60000));
    if (filter.to > 0) bounds.push_back("minute <= " + parameters.add((filter.to - 1) / 60000));
    std::string bounded = where_clause(bounds);
    conditions.push_back(idx + " >= (SELECT coalesce(min(first_idx), -1) FROM audit_minutes" +
                         bounded + ")");
    conditions.push_back(idx + " <= (SELECT coalesce(max(last_idx), -1) FROM audit_minutes" +
                         bounded + ")");
    if (filter.from > 0) conditions.push_back("+e.time >= " + parameters.add(filter.from));
    if (filter.to > 0) conditions.push_back("+e.time < " + parameters.add(filter.to));
  }
  if (!filter.text.empty() && !phrase) {
    // No word characters at all (e.g. "%"): nothing for the word index to
    // find, so the details are scanned for the literal text instead.
    conditions.push_back("json_extract(e.body, '$.details') LIKE " +
                         parameters.add(contains_pattern(filter.text)) + " ESCAPE '\\'");
  }
  // With column filters audit_search drives (CROSS JOIN fixes the order),
  // and each candidate costs one lookup of its event by index.
  const std::string events =
      columns ? " FROM audit_search AS s CROSS JOIN audit_events AS e ON e.idx = s.idx"
              : " FROM audit_events AS e";
  if (walk == Walk::count_candidates) {
    query.sql = "SELECT count(*) FROM (SELECT 1" + events + where_clause(conditions) + " LIMIT " +
                parameters.add(kFewCandidates) + ")";
    return query;
  }
  std::string from = events;
  std::string order = columns ? " ORDER BY s.idx" : " ORDER BY e.idx";
  if (phrase) {
    std::string match = "audit_text MATCH " + parameters.add(*phrase);
    if (text_first) {
      // CROSS JOIN fixes the order: the full-text index drives, in rowid order.
      from = " FROM audit_text CROSS JOIN audit_events AS e ON e.idx = audit_text.rowid";
      if (columns) from += " CROSS JOIN audit_search AS s ON s.idx = audit_text.rowid";
      conditions.insert(conditions.begin(), match);
      order = " ORDER BY audit_text.rowid";
    } else {
      from += " CROSS JOIN audit_text ON audit_text.rowid = " + idx + " AND " + match;
    }
  }
  query.sql = "SELECT e.idx, e.body, e.previous_hash, e.hash" + from + where_clause(conditions) +
              order + " LIMIT " + parameters.add(std::int64_t{limit} + 1);
  return query;
}

}  // namespace

Result<AuditPage> SqliteStore::list_events(const AuditFilter& filter) {
  wait_for_queued_appends();
  const int limit = clamp_limit(filter.limit);
  std::optional<std::string> phrase;
  if (!filter.text.empty()) phrase = text_query(filter.text);
  const bool other_filters = has_column_filter(filter) || filter.from > 0 || filter.to > 0;
  std::lock_guard lock(mutex_);
  if (phrase || has_column_filter(filter)) {
    // The search indexes are brought up to date first, so searches are
    // exact (the writer thread keeps the gap small when it is idle).
    if (auto indexed = index_for_search(0); !indexed) return std::unexpected(indexed.error());
  }
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  // A text search is walked from the full-text index, unless the other
  // filters leave so few candidates that probing each one is cheaper.
  Walk walk = phrase ? Walk::text_first : Walk::events;
  if (phrase && other_filters) {
    AuditQuery count = audit_query(filter, phrase, Walk::count_candidates, limit);
    auto counting = prepare(count.sql);
    if (!counting) return std::unexpected(counting.error());
    count.parameters.bind(*counting);
    if (int code = counting->step(); code != SQLITE_ROW)
      return std::unexpected(database_error(code, "count audit search candidates"));
    if (counting->integer(0) < kFewCandidates) walk = Walk::events;
    counting->reset();
  }
  AuditQuery query = audit_query(filter, phrase, walk, limit);
  auto statement = prepare(query.sql);
  if (!statement) return std::unexpected(statement.error());
  query.parameters.bind(*statement);

  AuditPage page;
  for (;;) {
    int code = statement->step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit events"));
    if (static_cast<int>(page.events.size()) == limit) {
      page.next_cursor = page.events.back().index;
      break;
    }
    auto body = parse_json(statement->text(1));
    if (!body) return fail(ErrorCode::internal, "storage: a stored audit event is not valid JSON");
    auto event = audit::event_from_json(*body);
    if (!event) return fail(ErrorCode::internal, "storage: a stored audit event is unreadable");
    event->index = statement->integer(0);
    event->previous_hash = statement->text(2);
    event->hash = statement->text(3);
    page.events.push_back(std::move(*event));
  }
  statement->reset();  // finish the read before committing
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return page;
}

Result<std::int64_t> SqliteStore::event_count() {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  // Indexes are 0, 1, 2, ... by construction, so the size of the log is the
  // last index + 1: one B-tree lookup instead of a full count.
  auto statement = prepare("SELECT coalesce(max(idx) + 1, 0) FROM audit_events");
  if (!statement) return std::unexpected(statement.error());
  int code = statement->step();
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "count audit events"));
  return statement->integer(0);
}

Result<std::int64_t> SqliteStore::count_reviews(review::ReviewState state) {
  std::lock_guard lock(mutex_);
  auto statement = prepare("SELECT count(*) FROM reviews WHERE state = ?1");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, review::state_name(state));
  int code = statement->step();
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "count reviews"));
  return statement->integer(0);
}

Result<audit::AuditEvent> SqliteStore::get_event(std::int64_t index) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto statement =
      prepare("SELECT idx, body, previous_hash, hash FROM audit_events WHERE idx = ?1");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, index);
  int code = statement->step();
  if (code == SQLITE_DONE) return fail(ErrorCode::not_found, "no such audit event");
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit event"));
  auto body = parse_json(statement->text(1));
  if (!body) return fail(ErrorCode::internal, "storage: a stored audit event is not valid JSON");
  auto event = audit::event_from_json(*body);
  if (!event) return fail(ErrorCode::internal, "storage: a stored audit event is unreadable");
  event->index = statement->integer(0);
  event->previous_hash = statement->text(2);
  event->hash = statement->text(3);
  return event;
}

// ---------------------------------------------------------------------------
// The Merkle tree and checkpoints

Result<audit::Hash> SqliteStore::read_node(unsigned level, std::uint64_t position) {
  auto statement = level == 0
                       ? prepare("SELECT leaf_hash FROM audit_events WHERE idx = ?1")
                       : prepare("SELECT hash FROM audit_tree WHERE position = ?1 AND level = ?2");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, static_cast<std::int64_t>(position));
  if (level != 0) statement->bind(2, static_cast<std::int64_t>(level));
  int code = statement->step();
  if (code == SQLITE_DONE)
    return fail(ErrorCode::internal, "storage: the audit tree is missing a node");
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit tree"));
  auto hash = audit::hash_from_bytes(statement->view(0));
  if (!hash) return fail(ErrorCode::internal, "storage: a stored audit tree hash is malformed");
  return hash;
}

Result<std::int64_t> SqliteStore::stored_size() {
  auto statement = prepare("SELECT coalesce(max(idx) + 1, 0) FROM audit_events");
  if (!statement) return std::unexpected(statement.error());
  int code = statement->step();
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "count audit events"));
  return statement->integer(0);
}

Result<audit::CompactRange> SqliteStore::load_frontier(std::int64_t size) {
  std::vector<audit::Hash> hashes;
  for (auto [level, position] :
       audit::CompactRange::frontier_nodes(static_cast<std::uint64_t>(size))) {
    auto hash = read_node(level, position);
    if (!hash) return std::unexpected(hash.error());
    hashes.push_back(*hash);
  }
  return audit::CompactRange::from(static_cast<std::uint64_t>(size), std::move(hashes));
}

Result<void> SqliteStore::build_missing_tree() {
  {
    // Only a log that has no leaf hash at all predates the tree. A log with
    // some missing is damaged: `audit verify` names the events, and nothing
    // here may paper over that by rebuilding from the bodies.
    auto missing = prepare(
        "SELECT EXISTS (SELECT 1 FROM audit_events) AND "
        "NOT EXISTS (SELECT 1 FROM audit_events WHERE leaf_hash IS NOT NULL)");
    if (!missing) return std::unexpected(missing.error());
    int code = missing->step();
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "check audit tree"));
    if (missing->integer(0) == 0) return {};
  }
  // A log written before the tree existed: hash its stored bodies (the
  // canonical bytes its chain hashes already cover) and build every node.
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  std::vector<std::pair<std::int64_t, audit::Hash>> leaves;
  {
    auto rows = prepare("SELECT idx, body FROM audit_events ORDER BY idx");
    if (!rows) return std::unexpected(rows.error());
    for (;;) {
      int code = rows->step();
      if (code == SQLITE_DONE) break;
      if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit events"));
      leaves.emplace_back(rows->integer(0), audit::hash_leaf(rows->view(1)));
    }
  }
  if (auto cleared = execute("DELETE FROM audit_tree"); !cleared) return cleared;
  auto update = prepare("UPDATE audit_events SET leaf_hash = ?1 WHERE idx = ?2");
  if (!update) return std::unexpected(update.error());
  auto insert_node = prepare("INSERT INTO audit_tree (level, position, hash) VALUES (?1, ?2, ?3)");
  if (!insert_node) return std::unexpected(insert_node.error());
  audit::CompactRange range;
  std::vector<audit::CompactRange::Node> created;
  for (const auto& [index, leaf] : leaves) {
    update->bind_blob(1, audit::hash_bytes(leaf));
    update->bind(2, index);
    if (auto ran = update->run("store leaf hash"); !ran) return ran;
    update->reset();
    created.clear();
    range.append(leaf, &created);
    for (const auto& node : created) {
      insert_node->bind(1, static_cast<std::int64_t>(node.level));
      insert_node->bind(2, static_cast<std::int64_t>(node.position));
      insert_node->bind_blob(3, audit::hash_bytes(node.hash));
      if (auto ran = insert_node->run("store audit tree node"); !ran) return ran;
      insert_node->reset();
    }
  }
  return transaction->commit();
}

Result<TreeHead> SqliteStore::tree_head() {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto size = stored_size();
  if (!size) return std::unexpected(size.error());
  if (!frontier_ || frontier_->size() != static_cast<std::uint64_t>(*size)) {
    auto loaded = load_frontier(*size);
    if (!loaded) return std::unexpected(loaded.error());
    frontier_ = std::move(*loaded);
  }
  TreeHead head{*size, frontier_->root()};
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return head;
}

Result<audit::Hash> SqliteStore::tree_root(std::int64_t size) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto stored = stored_size();
  if (!stored) return std::unexpected(stored.error());
  if (size < 0 || size > *stored)
    return fail(ErrorCode::not_found,
                fmt::format("the audit log has {} events; no tree of size {}", *stored, size));
  auto root = audit::tree_root(
      static_cast<std::uint64_t>(size),
      [this](unsigned level, std::uint64_t position) { return read_node(level, position); });
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return root;
}

Result<std::vector<audit::Hash>> SqliteStore::inclusion_proof(std::int64_t index,
                                                              std::int64_t size) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto stored = stored_size();
  if (!stored) return std::unexpected(stored.error());
  if (size < 1 || size > *stored)
    return fail(ErrorCode::not_found,
                fmt::format("the audit log has {} events; no tree of size {}", *stored, size));
  if (index < 0 || index >= size)
    return fail(ErrorCode::invalid_argument,
                fmt::format("index {} is not in a tree of size {}", index, size));
  auto proof = audit::inclusion_proof(
      static_cast<std::uint64_t>(index), static_cast<std::uint64_t>(size),
      [this](unsigned level, std::uint64_t position) { return read_node(level, position); });
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return proof;
}

Result<std::vector<audit::Hash>> SqliteStore::consistency_proof(std::int64_t from,
                                                                std::int64_t to) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto stored = stored_size();
  if (!stored) return std::unexpected(stored.error());
  if (to < 0 || to > *stored)
    return fail(ErrorCode::not_found,
                fmt::format("the audit log has {} events; no tree of size {}", *stored, to));
  if (from < 0 || from > to)
    return fail(ErrorCode::invalid_argument,
                fmt::format("cannot prove size {} consistent with the smaller size {}", from, to));
  auto proof = audit::consistency_proof(
      static_cast<std::uint64_t>(from), static_cast<std::uint64_t>(to),
      [this](unsigned level, std::uint64_t position) { return read_node(level, position); });
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return proof;
}

Result<void> SqliteStore::add_checkpoint(const StoredCheckpoint& checkpoint) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  auto stored = stored_size();
  if (!stored) return std::unexpected(stored.error());
  if (checkpoint.size < 1 || checkpoint.size > *stored)
    return fail(ErrorCode::invalid_argument, "a checkpoint must cover 1 to all stored events");
  auto root = audit::tree_root(
      static_cast<std::uint64_t>(checkpoint.size),
      [this](unsigned level, std::uint64_t position) { return read_node(level, position); });
  if (!root) return std::unexpected(root.error());
  auto insert =
      prepare("INSERT INTO audit_checkpoints (size, time, root, note) VALUES (?1, ?2, ?3, ?4)");
  if (!insert) return std::unexpected(insert.error());
  insert->bind(1, checkpoint.size);
  insert->bind(2, checkpoint.time);
  insert->bind_blob(3, audit::hash_bytes(*root));
  insert->bind(4, std::string_view(checkpoint.note));
  int code = insert->step();
  if ((code & 0xFF) == SQLITE_CONSTRAINT)
    return fail(ErrorCode::conflict, "a checkpoint for this size exists");
  if (code != SQLITE_DONE) return std::unexpected(database_error(code, "store checkpoint"));
  return transaction->commit();
}

Result<std::vector<StoredCheckpoint>> SqliteStore::read_checkpoints(std::string_view sql,
                                                                    std::int64_t size) {
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  if (size >= 0) statement->bind(1, size);
  std::vector<StoredCheckpoint> out;
  for (;;) {
    int code = statement->step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read checkpoints"));
    out.push_back({statement->integer(0), statement->integer(1), statement->text(2)});
  }
  return out;
}

Result<std::optional<StoredCheckpoint>> SqliteStore::latest_checkpoint() {
  std::lock_guard lock(mutex_);
  auto rows = read_checkpoints(
      "SELECT size, time, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1", -1);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<StoredCheckpoint>();
  return std::optional<StoredCheckpoint>(std::move(rows->front()));
}

Result<std::optional<StoredCheckpoint>> SqliteStore::checkpoint_at(std::int64_t size) {
  std::lock_guard lock(mutex_);
  auto rows =
      read_checkpoints("SELECT size, time, note FROM audit_checkpoints WHERE size = ?1", size);
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<StoredCheckpoint>();
  return std::optional<StoredCheckpoint>(std::move(rows->front()));
}

Result<std::vector<StoredCheckpoint>> SqliteStore::list_checkpoints() {
  std::lock_guard lock(mutex_);
  return read_checkpoints("SELECT size, time, note FROM audit_checkpoints ORDER BY size", -1);
}

Result<void> SqliteStore::scan_events(const RawEventVisitor& visit) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  // The search copy of an event's columns (audit_search, once indexed) must
  // equal the columns, which the verifier checks against the body.
  // (The target is checked against the body by the verifier: comparing it
  // with the generated column here would parse every body once more.)
  auto statement = prepare(
      "SELECT e.idx, e.body, e.leaf_hash, e.previous_hash, e.hash, e.time, e.type, e.actor, "
      "e.review_id, e.action_digest, e.verb, s.idx IS NOT NULL, CASE WHEN s.idx IS NULL THEN 0 "
      "ELSE s.type IS NOT e.type OR s.actor IS NOT e.actor OR s.review_id IS NOT e.review_id OR "
      "s.verb IS NOT e.verb END, s.target FROM audit_events AS e LEFT JOIN audit_search AS s "
      "ON s.idx = e.idx ORDER BY e.idx");
  if (!statement) return std::unexpected(statement.error());
  for (;;) {
    int code = statement->step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit events"));
    RawAuditEvent event;
    event.index = statement->integer(0);
    event.body = statement->view(1);
    event.leaf_hash = statement->view(2);
    event.previous_hash = statement->view(3);
    event.hash = statement->view(4);
    event.columns.time = statement->integer(5);
    event.columns.type = statement->view(6);
    event.columns.actor = statement->view(7);
    event.columns.review_id = statement->view(8);
    event.columns.review_id_null = statement->is_null(8);
    event.columns.action_digest = statement->view(9);
    event.columns.action_digest_null = statement->is_null(9);
    event.columns.verb = statement->view(10);
    event.columns.verb_null = statement->is_null(10);
    event.columns.search_copied = statement->integer(11) != 0;
    event.columns.search_copy_differs = statement->integer(12) != 0;
    event.columns.search_target = statement->view(13);
    event.columns.search_target_null = statement->is_null(13);
    if (!visit(event)) break;
  }
  statement->reset();
  return transaction->commit();
}

Result<std::int64_t> SqliteStore::scan_tree(const TreeNodeVisitor& visit) {
  wait_for_queued_appends();
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::read);
  if (!transaction) return std::unexpected(transaction.error());
  auto statement = prepare("SELECT level, position, hash FROM audit_tree");
  if (!statement) return std::unexpected(statement.error());
  std::int64_t count = 0;
  for (;;) {
    int code = statement->step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read audit tree"));
    visit(static_cast<unsigned>(statement->integer(0)),
          static_cast<std::uint64_t>(statement->integer(1)), statement->view(2));
    ++count;
  }
  statement->reset();
  if (auto committed = transaction->commit(); !committed) return std::unexpected(committed.error());
  return count;
}

// ---------------------------------------------------------------------------
// Outbox

void SqliteStore::set_outbox_planner(OutboxPlanner planner) {
  std::lock_guard lock(mutex_);
  outbox_planner_ = std::move(planner);
}

Result<void> SqliteStore::insert_outbox(const std::vector<OutboxMessage>& messages) {
  if (messages.empty()) return {};
  // A message whose key is already stored is the same notification again: dropped.
  auto statement = prepare(
      "INSERT INTO outbox (key, stream, channel, review_id, payload, created_at, "
      "next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key) DO NOTHING");
  if (!statement) return std::unexpected(statement.error());
  for (const auto& message : messages) {
    statement->reset();
    statement->bind(1, std::string_view(message.key));
    statement->bind(2, std::string_view(message.stream));
    statement->bind(3, std::string_view(message.channel));
    statement->bind(4, message.review_id.empty() ? std::optional<std::string>()
                                                 : std::optional<std::string>(message.review_id));
    statement->bind(5, std::string_view(message.payload));
    statement->bind(6, message.created_at);
    statement->bind(7, message.next_attempt_at);
    if (auto ran = statement->run("queue notification"); !ran) return ran;
  }
  return {};
}

Result<void> SqliteStore::insert_planned_outbox(const review::Review& review,
                                                const std::vector<audit::AuditEvent>& events) {
  if (!outbox_planner_) return {};
  std::vector<OutboxMessage> messages;
  try {
    messages = outbox_planner_(review, events);
  } catch (...) {
    return fail(ErrorCode::internal, "storage: the outbox planner failed");
  }
  return insert_outbox(messages);
}

Result<void> SqliteStore::enqueue_outbox(std::vector<OutboxMessage>& messages,
                                         std::vector<audit::AuditEvent>& events) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  if (auto inserted = insert_outbox(messages); !inserted) return inserted;
  std::vector<audit::AuditEvent> sealed;
  if (!events.empty()) {
    auto appended = append_sealed(events, "");
    if (!appended) return std::unexpected(appended.error());
    sealed = std::move(*appended);
  }
  if (auto committed = transaction->commit(); !committed) return committed;
  if (!sealed.empty()) events = std::move(sealed);
  return {};
}

Result<std::vector<OutboxMessage>> SqliteStore::due_outbox(std::string_view channel, Millis now,
                                                           int limit) {
  std::lock_guard lock(mutex_);
  auto statement = prepare(
      "SELECT o.id, o.key, o.stream, o.channel, o.review_id, o.payload, o.created_at, "
      "o.next_attempt_at, o.attempts, s.state FROM outbox o "
      "LEFT JOIN outbox_streams s ON s.stream = o.stream "
      "WHERE o.state = 'pending' AND o.next_attempt_at <= ?1 AND (?3 = '' OR o.channel = ?3) "
      "AND o.id = ("
      "  SELECT MIN(p.id) FROM outbox p WHERE p.stream = o.stream AND p.state = 'pending') "
      "ORDER BY o.id LIMIT ?2");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, now);
  statement->bind(2, static_cast<std::int64_t>(std::clamp(limit, 1, kMaxPageSize)));
  statement->bind(3, channel.empty() ? std::string_view("") : channel);  // never NULL
  std::vector<OutboxMessage> messages;
  for (;;) {
    int code = statement->step();
    if (code == SQLITE_DONE) break;
    if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read outbox"));
    OutboxMessage message;
    message.id = statement->integer(0);
    message.key = statement->text(1);
    message.stream = statement->text(2);
    message.channel = statement->text(3);
    message.review_id = statement->text(4);
    message.payload = statement->text(5);
    message.created_at = statement->integer(6);
    message.next_attempt_at = statement->integer(7);
    message.attempts = static_cast<int>(statement->integer(8));
    message.stream_state = statement->text(9);
    messages.push_back(std::move(message));
  }
  return messages;
}

Result<void> SqliteStore::complete_outbox(std::int64_t id, const OutboxOutcome& outcome) {
  std::lock_guard lock(mutex_);
  auto transaction = Transaction::begin(*this, Transaction::Kind::write);
  if (!transaction) return std::unexpected(transaction.error());
  const Millis now = std::max<Millis>(outcome.at, 0);
  std::string_view sql;
  switch (outcome.kind) {
    case OutboxOutcome::Kind::delivered:
      sql =
          "UPDATE outbox SET state = 'delivered', finished_at = ?2, last_error = NULL "
          "WHERE id = ?1 AND state = 'pending' RETURNING stream";
      break;
    case OutboxOutcome::Kind::retry:
      sql =
          "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 "
          "WHERE id = ?1 AND state = 'pending' RETURNING stream";
      break;
    case OutboxOutcome::Kind::dead:
      sql =
          "UPDATE outbox SET state = 'dead', attempts = attempts + 1, finished_at = ?2, "
          "last_error = ?3 WHERE id = ?1 AND state = 'pending' RETURNING stream";
      break;
  }
  auto statement = prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, id);
  statement->bind(2, now);
  if (outcome.kind != OutboxOutcome::Kind::delivered)
    statement->bind(3, std::string_view(outcome.error));
  int code = statement->step();
  if (code == SQLITE_DONE) return fail(ErrorCode::not_found, "no such pending notification");
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "complete notification"));
  std::string stream = statement->text(0);
  if (int done = statement->step(); done != SQLITE_DONE)
    return std::unexpected(database_error(done, "complete notification"));
  if (outcome.stream_state) {
    auto state = prepare(
        "INSERT INTO outbox_streams (stream, state) VALUES (?1, ?2) "
        "ON CONFLICT (stream) DO UPDATE SET state = excluded.state");
    if (!state) return std::unexpected(state.error());
    state->bind(1, std::string_view(stream));
    state->bind(2, std::string_view(*outcome.stream_state));
    if (auto ran = state->run("save notification state"); !ran) return ran;
  }
  return transaction->commit();
}

Result<OutboxStatus> SqliteStore::outbox_status(std::string_view channel) {
  std::lock_guard lock(mutex_);
  // The next attempt counts only a stream's oldest pending message: the
  // ones behind it wait for it, whatever their own time.
  auto statement = prepare(
      "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND (?1 = '' OR channel = ?1)), "
      "(SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND (?1 = '' OR channel = ?1)), "
      "(SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.state = 'pending' "
      " AND (?1 = '' OR o.channel = ?1) AND o.id = ("
      "  SELECT MIN(p.id) FROM outbox p WHERE p.stream = o.stream AND p.state = 'pending'))");
  if (!statement) return std::unexpected(statement.error());
  statement->bind(1, channel.empty() ? std::string_view("") : channel);  // never NULL
  int code = statement->step();
  if (code != SQLITE_ROW) return std::unexpected(database_error(code, "read outbox status"));
  OutboxStatus status;
  status.pending = statement->integer(0);
  status.dead = statement->integer(1);
  status.next_attempt_at = statement->is_null(2) ? 0 : statement->integer(2);
  return status;
}

bool SqliteStore::healthy() {
  std::lock_guard lock(mutex_);
  auto statement = prepare("SELECT 1");
  return statement && statement->step() == SQLITE_ROW;
}

}  // namespace countersign::store
