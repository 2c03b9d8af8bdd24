// The HTTP door: a reverse proxy under /http/{target}/... where every request
// is an Action. The agent's bearer key identifies it and is never forwarded;
// policy decides on the verb (from the target's routes, or `http:METHOD
// /path`) and params; allowed requests stream to the upstream with the
// target's credentials injected (bearer, basic, a header, or AWS SigV4);
// reviewed ones are held up to hold_timeout, then answered 202 with the
// review's Location; a later identical request redeems the approval once.
//
// Beast-free on purpose: the proxy itself lives in http_door.cc, the only
// translation unit of this module that includes Beast and Asio.
#pragma once

#include <memory>

#include "gateway/gateway.h"

namespace countersign::doors {
class ReviewWaiters;
class StreamingRoute;
}  // namespace countersign::doors

namespace countersign::doors::http {

// The route to register for "/http/". Use from the server's I/O thread only.
std::shared_ptr<StreamingRoute> make_http_door(gateway::Gateway& gateway, ReviewWaiters& waiters);

}  // namespace countersign::doors::http
