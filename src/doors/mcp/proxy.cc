#include "doors/mcp/proxy.h"

#include <fmt/format.h>

#include "doors/mcp/governance.h"
#include "doors/mcp/jsonrpc.h"

namespace countersign::doors::mcp {
namespace {

std::string id_text(const boost::json::value& id) {
  if (id.is_string()) return std::string(id.get_string());
  return id_key(id);
}

boost::json::object upstream_gone(const std::string& id, const std::string& why) {
  return make_error(boost::json::value(id), jsonrpc_code::upstream_unavailable, why);
}

}  // namespace

UpstreamLink::UpstreamLink(std::unique_ptr<UpstreamTransport> transport, std::string name)
    : transport_(std::move(transport)), name_(std::move(name)) {
  std::weak_ptr<bool> alive = alive_;
  transport_->on_up = [this, alive] {
    if (!alive.expired()) handle_up();
  };
  transport_->on_down = [this, alive](const std::string& why) {
    if (!alive.expired()) handle_down(why);
  };
  transport_->on_message = [this, alive](boost::json::object message) {
    if (!alive.expired()) handle_message(std::move(message));
  };
}

UpstreamLink::~UpstreamLink() {
  alive_.reset();
  transport_->stop();
}

void UpstreamLink::start(const boost::json::object& client_init) {
  if (state_ != State::idle) return;
  client_init_ = client_init;
  state_ = State::starting;
  transport_->start();
}

void UpstreamLink::when_ready(ReadyHandler handler) {
  if (state_ == State::ready) return handler(nullptr);
  if (state_ == State::down && !last_error_.empty()) {
    Error error{ErrorCode::unavailable, last_error_};
    return handler(&error);
  }
  ready_waiters_.push_back(std::move(handler));
}

void UpstreamLink::handle_up() {
  state_ = State::initializing;
  std::string version = supported_versions().front();
  if (const auto* requested = client_init_.if_contains("protocolVersion");
      requested && requested->is_string())
    version = negotiate_version(requested->get_string());
  boost::json::object capabilities;
  if (const auto* asked = client_init_.if_contains("capabilities"); asked && asked->is_object())
    capabilities = asked->get_object();
  boost::json::object params = {{"protocolVersion", version},
                                {"capabilities", std::move(capabilities)},
                                {"clientInfo", {{"name", "countersign"}, {"version", "0.1.0"}}}};
  std::string id = fmt::format("cs-init-{}", next_id_++);
  pending_[id] = [this](boost::json::object response) {
    if (const auto* result = response.if_contains("result"); result && result->is_object()) {
      initialize_result_ = result->get_object();
      state_ = State::ready;
      ever_ready_ = true;
      last_error_.clear();
      transport_->send(make_notification("notifications/initialized", {}));
      flush();
      auto waiters = std::move(ready_waiters_);
      ready_waiters_.clear();
      for (auto& waiter : waiters) waiter(nullptr);
      return;
    }
    std::string message = "the MCP server refused initialize";
    if (const auto* error = response.if_contains("error"); error && error->is_object())
      if (const auto* text = error->get_object().if_contains("message"); text && text->is_string())
        message += ": " + std::string(text->get_string());
    state_ = State::down;
    last_error_ = fmt::format("upstream '{}': {}", name_, message);
    fail_waiters({ErrorCode::unavailable, last_error_});
  };
  transport_->send(
      {{"jsonrpc", "2.0"}, {"id", id}, {"method", "initialize"}, {"params", std::move(params)}});
}

void UpstreamLink::fail_waiters(const Error& error) {
  auto waiters = std::move(ready_waiters_);
  ready_waiters_.clear();
  for (auto& waiter : waiters) waiter(&error);
  // Requests queued for this attempt fail too; later ones wait for a restart.
  auto pending = std::move(pending_);
  pending_.clear();
  queued_.clear();
  for (auto& [id, handler] : pending) handler(upstream_gone(id, error.message));
}

void UpstreamLink::handle_down(const std::string& why) {
  state_ = State::down;
  last_error_ = fmt::format("upstream '{}' is unavailable: {}", name_, why);
  fail_waiters({ErrorCode::unavailable, last_error_});
  if (on_restart) on_restart();
}

void UpstreamLink::handle_message(boost::json::object message) {
  Message kind = classify(message);
  if (kind.kind == MessageKind::response) {
    auto found = pending_.find(id_text(kind.id));
    if (found == pending_.end()) return;  // forgotten or unknown: drop
    auto handler = std::move(found->second);
    pending_.erase(found);
    handler(std::move(message));
    return;
  }
  if (kind.kind == MessageKind::invalid) return;
  if (on_server_message) on_server_message(std::move(message));
}

void UpstreamLink::flush() {
  auto queued = std::move(queued_);
  queued_.clear();
  for (auto& message : queued) transport_->send(message);
}

std::string UpstreamLink::request(boost::json::object message, ResponseHandler done) {
  std::string id = fmt::format("cs-{}", next_id_++);
  message["id"] = id;
  pending_[id] = std::move(done);
  if (state_ == State::ready)
    transport_->send(message);
  else
    queued_.push_back(std::move(message));
  return id;
}

void UpstreamLink::forget(const std::string& upstream_id) { pending_.erase(upstream_id); }

void UpstreamLink::send(boost::json::object message) {
  if (state_ == State::ready)
    transport_->send(message);
  else
    queued_.push_back(std::move(message));
}

Hub::Hub(std::string target, TransportFactory factory, bool per_session, Deliver deliver)
    : target_(std::move(target)),
      factory_(std::move(factory)),
      per_session_(per_session),
      deliver_(std::move(deliver)) {}

Hub::~Hub() = default;

std::string Hub::link_key(const std::string& session) const {
  return per_session_ ? session : std::string();
}

UpstreamLink* Hub::link_for(const std::string& session) {
  auto attached = sessions_.find(session);
  if (attached == sessions_.end()) return nullptr;
  auto link = links_.find(attached->second);
  return link == links_.end() ? nullptr : link->second.get();
}

const UpstreamLink* Hub::link_for(const std::string& session) const {
  return const_cast<Hub*>(this)->link_for(session);
}

void Hub::open_session(const std::string& session, const boost::json::object& client_init) {
  std::string key = link_key(session);
  auto& link = links_[key];
  if (!link) {
    link = std::make_unique<UpstreamLink>(factory_(), target_);
    link->on_server_message = [this, key](boost::json::object message) {
      from_upstream(key, std::move(message));
    };
    link->on_restart = [this, key] { link_restarted(key); };
  }
  sessions_[session] = key;
  link->start(client_init);
}

void Hub::close_session(const std::string& session) {
  auto attached = sessions_.find(session);
  if (attached == sessions_.end()) return;
  std::string key = attached->second;
  sessions_.erase(attached);
  UpstreamLink* link = nullptr;
  if (auto found = links_.find(key); found != links_.end()) link = found->second.get();
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.session != session) {
      ++it;
      continue;
    }
    if (link && !per_session_)
      link->send(
          make_notification("notifications/cancelled",
                            {{"requestId", it->first}, {"reason", "the client's session ended"}}));
    if (link) link->forget(it->first);
    if (it->second.progress_token) tokens_.erase(*it->second.progress_token);
    it = in_flight_.erase(it);
  }
  for (auto it = server_requests_.begin(); it != server_requests_.end();)
    it = it->second.session == session ? server_requests_.erase(it) : std::next(it);
  if (per_session_) links_.erase(key);
}

void Hub::when_ready(const std::string& session, UpstreamLink::ReadyHandler handler) {
  UpstreamLink* link = link_for(session);
  if (link == nullptr) {
    Error error{ErrorCode::not_found, "no such session"};
    return handler(&error);
  }
  link->when_ready(std::move(handler));
}

const boost::json::object* Hub::initialize_result(const std::string& session) const {
  const UpstreamLink* link = link_for(session);
  if (link == nullptr || !link->ready()) return nullptr;
  return &link->initialize_result();
}

void Hub::forward_request(const std::string& session, boost::json::object message,
                          UpstreamLink::ResponseHandler done) {
  boost::json::value client_id = message.contains("id") ? message["id"] : boost::json::value();
  UpstreamLink* link = link_for(session);
  if (link == nullptr) {
    done(make_error(client_id, jsonrpc_code::internal_error, "the session is closed"));
    return;
  }
  InFlight flight{session, client_id, id_key(client_id), sessions_[session], std::nullopt};
  if (auto* params = message.if_contains("params"); params && params->is_object()) {
    if (auto token = progress_token(*params)) {
      std::string rewritten = fmt::format("cs-pt-{}", next_token_++);
      tokens_[rewritten] = TokenRoute{session, flight.client_key, *token};
      params->get_object()["_meta"].as_object()["progressToken"] = rewritten;
      flight.progress_token = rewritten;
    }
  }
  last_active_session_ = session;
  std::string upstream_id = link->request(
      std::move(message), [this, done = std::move(done)](boost::json::object response) {
        std::string id = id_text(response["id"]);
        auto found = in_flight_.find(id);
        if (found == in_flight_.end()) return;
        InFlight flight = std::move(found->second);
        in_flight_.erase(found);
        if (flight.progress_token) tokens_.erase(*flight.progress_token);
        response["id"] = flight.client_id;
        done(std::move(response));
      });
  in_flight_[upstream_id] = std::move(flight);
}

void Hub::forward_notification(const std::string& session, boost::json::object message) {
  UpstreamLink* link = link_for(session);
  if (link == nullptr) return;
  const auto* method = message.if_contains("method");
  if (method && method->is_string() && method->get_string() == "notifications/cancelled") {
    auto* params = message.if_contains("params");
    if (params == nullptr || !params->is_object()) return;
    auto* request_id = params->get_object().if_contains("requestId");
    if (request_id == nullptr) return;
    const std::string key = id_key(*request_id);
    for (const auto& [upstream_id, flight] : in_flight_) {
      if (flight.session == session && flight.client_key == key) {
        (*params).get_object()["requestId"] = upstream_id;
        link->send(std::move(message));
        return;
      }
    }
    return;  // nothing in flight under that id
  }
  link->send(std::move(message));
}

bool Hub::forward_response(const std::string& session, boost::json::object message) {
  auto found = server_requests_.find(id_text(message["id"]));
  if (found == server_requests_.end() || found->second.session != session) return false;
  ServerRequest request = std::move(found->second);
  server_requests_.erase(found);
  auto link = links_.find(request.link);
  if (link == links_.end()) return false;
  message["id"] = request.upstream_id;
  link->second->send(std::move(message));
  return true;
}

std::vector<std::string> Hub::sessions_on(const std::string& link) const {
  std::vector<std::string> sessions;
  for (const auto& [session, key] : sessions_)
    if (key == link) sessions.push_back(session);
  return sessions;
}

void Hub::from_upstream(const std::string& link, boost::json::object message) {
  Message kind = classify(message);
  auto* params = message.if_contains("params");
  if (kind.kind == MessageKind::notification && kind.method == "notifications/progress") {
    if (params == nullptr || !params->is_object()) return;
    auto* token = params->get_object().if_contains("progressToken");
    if (token == nullptr || !token->is_string()) return;
    auto route = tokens_.find(std::string(token->get_string()));
    if (route == tokens_.end()) return;
    *token = route->second.token;
    deliver_(route->second.session, route->second.related, std::move(message));
    return;
  }
  if (kind.kind == MessageKind::notification && kind.method == "notifications/cancelled") {
    if (params == nullptr || !params->is_object()) return;
    auto* request_id = params->get_object().if_contains("requestId");
    if (request_id == nullptr) return;
    for (auto it = server_requests_.begin(); it != server_requests_.end(); ++it) {
      if (it->second.link == link && it->second.upstream_id == *request_id) {
        *request_id = boost::json::value(it->first);
        std::string session = it->second.session;
        server_requests_.erase(it);
        deliver_(session, "", std::move(message));
        return;
      }
    }
    return;
  }
  auto sessions = sessions_on(link);
  if (kind.kind == MessageKind::request) {
    if (sessions.empty()) {
      if (auto found = links_.find(link); found != links_.end())
        found->second->send(make_error(kind.id, jsonrpc_code::internal_error,
                                       "no MCP client is connected to the gateway"));
      return;
    }
    std::string session = sessions.front();
    for (const auto& candidate : sessions)
      if (candidate == last_active_session_) session = candidate;
    // Related to a request of that session still in flight, if any.
    std::string related;
    for (const auto& [upstream_id, flight] : in_flight_)
      if (flight.session == session) related = flight.client_key;
    std::string client_id = fmt::format("cs-sr-{}", next_server_request_++);
    server_requests_[client_id] = ServerRequest{link, kind.id, session};
    message["id"] = client_id;
    deliver_(session, related, std::move(message));
    return;
  }
  if (kind.kind == MessageKind::notification)
    for (const auto& session : sessions) deliver_(session, "", message);
}

void Hub::link_restarted(const std::string& link) {
  for (auto it = server_requests_.begin(); it != server_requests_.end();)
    it = it->second.link == link ? server_requests_.erase(it) : std::next(it);
}

}  // namespace countersign::doors::mcp
