// Words shared by every channel's messages: how a review and its changes
// read to a human. Everything here works on the masked review as stored.
#pragma once

#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "review/review.h"

namespace countersign::notify {

// "✅ Approved", "⏳ Waiting for approval", ...
std::string state_label(review::ReviewState state);
// "step 1 of 2: 0 of 1 approvals from group:sre (escalated to group:sre-leads)"
std::string progress_text(const review::Review& review);
// "in 59m" / "expired" (pending only; empty otherwise)
std::string time_left_text(const review::Review& review, Millis now);
// "alice@example.com approved: looks fine", for one change_json() entry.
std::string change_text(const boost::json::object& change);
// The masked parameters as indented JSON, cut to `limit` bytes.
std::string params_text(const review::Review& review, std::size_t limit);
// Who asked: "agent:deploy-bot (on behalf of dana@example.com)".
std::string requester_text(const review::Review& review);

}  // namespace countersign::notify
