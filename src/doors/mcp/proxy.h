// The pass-through half of the MCP door, without any networking library:
// UpstreamLink speaks to one MCP server (initializes it, numbers requests,
// fails them if the server goes away) over an UpstreamTransport; Hub maps
// the gateway's client sessions onto links (one shared link per target, or
// one per session) and rewrites what must not collide between clients:
// request ids, progress tokens, cancellations and the server's own requests.
// Everything runs on the server's I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign::doors::mcp {

// A connection to one MCP server: a spawned process (stdio) or an HTTP
// endpoint. Implementations call on_up once they can carry messages
// (again after a restart), on_down when messages in flight are lost, and
// on_message for every message from the server.
class UpstreamTransport {
 public:
  virtual ~UpstreamTransport() = default;
  virtual void start() = 0;
  virtual void send(const boost::json::object& message) = 0;
  virtual void stop() = 0;

  std::function<void()> on_up;
  std::function<void(const std::string& why)> on_down;
  std::function<void(boost::json::object message)> on_message;
};

class UpstreamLink {
 public:
  using ResponseHandler = std::function<void(boost::json::object response)>;
  using ReadyHandler = std::function<void(const Error* error)>;

  UpstreamLink(std::unique_ptr<UpstreamTransport> transport, std::string name);
  ~UpstreamLink();

  // Starts the transport on first use; `client_init` (the first client's
  // initialize params) supplies the capabilities and version asked upstream.
  void start(const boost::json::object& client_init);
  // Calls `handler` once the server is initialized (or failed to).
  void when_ready(ReadyHandler handler);
  bool ready() const { return state_ == State::ready; }
  const boost::json::object& initialize_result() const { return initialize_result_; }

  // Sends a request (its "id" is replaced); `done` gets the response, with
  // the upstream id, or an error response when the server goes away.
  std::string request(boost::json::object message, ResponseHandler done);
  // Forgets a request (cancelled): its response, if any, is dropped.
  void forget(const std::string& upstream_id);
  void send(boost::json::object message);  // notifications and responses

  // Server-initiated requests and notifications.
  std::function<void(boost::json::object message)> on_server_message;
  // The server restarted (its requests to clients are void).
  std::function<void()> on_restart;

  const std::string& name() const { return name_; }

 private:
  enum class State { idle, starting, initializing, ready, down };
  void handle_up();
  void handle_down(const std::string& why);
  void handle_message(boost::json::object message);
  void flush();
  void fail_waiters(const Error& error);

  std::unique_ptr<UpstreamTransport> transport_;
  std::string name_;
  State state_ = State::idle;
  boost::json::object client_init_;
  boost::json::object initialize_result_;
  std::uint64_t next_id_ = 1;
  std::map<std::string, ResponseHandler> pending_;
  std::vector<boost::json::object> queued_;  // waiting for initialization
  std::vector<ReadyHandler> ready_waiters_;
  std::string last_error_;
  bool ever_ready_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Where the Hub delivers a message for a client session: on the stream of
// the client request it relates to (`related` = id_key of that request), or
// on the session's standalone stream when `related` is empty.
using Deliver = std::function<void(const std::string& session, const std::string& related,
                                   boost::json::object message)>;

class Hub {
 public:
  using TransportFactory = std::function<std::unique_ptr<UpstreamTransport>()>;

  Hub(std::string target, TransportFactory factory, bool per_session, Deliver deliver);
  ~Hub();

  // Attaches a session (starting its upstream on first use).
  void open_session(const std::string& session, const boost::json::object& client_init);
  void close_session(const std::string& session);
  void when_ready(const std::string& session, UpstreamLink::ReadyHandler handler);
  // The upstream's InitializeResult (null when not ready).
  const boost::json::object* initialize_result(const std::string& session) const;

  // A client request: forwarded with its id and progress token rewritten;
  // `done` gets the response carrying the client's own id again.
  void forward_request(const std::string& session, boost::json::object message,
                       UpstreamLink::ResponseHandler done);
  // Client notifications (notifications/cancelled is rewritten to the
  // upstream id) and client responses to server requests.
  void forward_notification(const std::string& session, boost::json::object message);
  // Returns false when the response answers no known server request.
  bool forward_response(const std::string& session, boost::json::object message);

  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct InFlight {
    std::string session;
    boost::json::value client_id;
    std::string client_key;
    std::string link;
    std::optional<std::string> progress_token;  // the rewritten token
  };
  struct TokenRoute {
    std::string session;
    std::string related;
    boost::json::value token;
  };
  struct ServerRequest {
    std::string link;
    boost::json::value upstream_id;
    std::string session;
  };

  UpstreamLink* link_for(const std::string& session);
  const UpstreamLink* link_for(const std::string& session) const;
  std::string link_key(const std::string& session) const;
  void from_upstream(const std::string& link, boost::json::object message);
  void link_restarted(const std::string& link);
  std::vector<std::string> sessions_on(const std::string& link) const;

  std::string target_;
  TransportFactory factory_;
  bool per_session_;
  Deliver deliver_;
  std::map<std::string, std::unique_ptr<UpstreamLink>> links_;
  std::map<std::string, std::string> sessions_;  // session -> link key
  std::map<std::string, InFlight> in_flight_;    // upstream request id -> where it came from
  std::map<std::string, TokenRoute> tokens_;     // rewritten progress token -> client's
  std::map<std::string, ServerRequest> server_requests_;  // client-facing id -> upstream's
  std::string last_active_session_;
  std::uint64_t next_token_ = 1;
  std::uint64_t next_server_request_ = 1;
};

}  // namespace countersign::doors::mcp
