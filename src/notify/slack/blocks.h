// Slack messages as Block Kit JSON (https://api.slack.com/block-kit): the
// review message with its Approve / Reject / Escalate buttons, thread
// replies, the reason modal, and direct messages to the requester. Pure
// functions over the masked review; every piece of caller-controlled text
// is escaped so it cannot mention, link or format (<, >, & are escaped).
#pragma once

#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "review/review.h"

namespace countersign::notify::slack {

// action_id values of the buttons, and callback_id values of the modals.
inline constexpr std::string_view kApproveAction = "countersign_approve";
inline constexpr std::string_view kRejectAction = "countersign_reject";
inline constexpr std::string_view kEscalateAction = "countersign_escalate";
inline constexpr std::string_view kRejectModal = "countersign_reject_modal";
inline constexpr std::string_view kApproveModal = "countersign_approve_modal";
// block_id / action_id of the reason input in the modals.
inline constexpr std::string_view kReasonBlock = "reason";
inline constexpr std::string_view kReasonInput = "reason";

// &, <, > as Slack wants them in mrkdwn and plain_text.
std::string escape(std::string_view text);

// The review message body: {"text": fallback, "blocks": [...]}. `url` is
// the review's page. Buttons appear while the review is pending.
boost::json::object review_message(const review::Review& review, const std::string& url,
                                   Millis now);

// A thread reply describing the changes (change_json() entries).
boost::json::object thread_reply(const review::Review& review, const boost::json::array& changes);

// A direct message to the requester about the outcome so far.
boost::json::object requester_message(const review::Review& review,
                                      const boost::json::array& changes, const std::string& url);

// The modal asking for a reason (views.open's `view`). `approve` selects
// the approval variant (flows with require_reason). private_metadata
// carries the review id and the channel to answer in.
boost::json::object reason_modal(const review::Review& review, bool approve,
                                 const std::string& channel_id);

}  // namespace countersign::notify::slack
