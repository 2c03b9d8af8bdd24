// Where `countersign login` keeps the token it obtained, for the CLI's later
// calls: $COUNTERSIGN_CONFIG_DIR/token.json, else
// $XDG_CONFIG_HOME/countersign/token.json, else ~/.config/countersign/token.json.
// The directory is created 0700 and the file 0600 (created with that mode,
// then renamed into place, so it is never readable by others, not even
// briefly). A token file readable by group or others is refused on load.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/error.h"

namespace countersign::identity {

struct StoredToken {
  std::string server;        // the gateway URL it was obtained for (informational)
  std::string issuer;        // the IdP
  std::string access_token;  // sent as Authorization: Bearer
  Millis expires_at = 0;     // 0 = unknown
};

std::string token_file_path();
Result<void> save_token(const StoredToken& token, const std::string& path = token_file_path());
// nullopt when there is no file; an error when it is unsafe or unreadable.
Result<std::optional<StoredToken>> load_token(const std::string& path = token_file_path());
Result<void> forget_token(const std::string& path = token_file_path());

}  // namespace countersign::identity
