// The countersign command: serve, check, policy explain, reviews, exec,
// audit and mask. Exit codes are a contract: 0 ok; 1 denied, rejected or a
// failed check; 2 usage or configuration error; 3 still pending at timeout.
#pragma once

namespace countersign::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDenied = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPending = 3;

int run(int argc, char** argv);

}  // namespace countersign::cli
