#include "core/core.hpp"

#include <algorithm>

#include "core/options.hpp"
#include "core/session.hpp"
#include "netqueue/error.hpp"

namespace netqueue::detail {
namespace {

Inbox::clock::time_point deadline_after(std::chrono::nanoseconds d) {
  const auto now = Inbox::clock::now();
  return d >= Inbox::clock::time_point::max() - now ? Inbox::clock::time_point::max() : now + d;
}

const TransportInfo& transport_info(Protocol protocol) {
  const TransportInfo* info = find_transport(protocol);
  if (!info)
    throw Error(errc::unavailable, "protocol '" + std::string(to_string(protocol)) + "' is not built into this library");
  return *info;
}

Options checked(Options options, Protocol protocol, Purpose purpose, bool registered) {
  validate(options, purpose);
  if (registered) transport_info(protocol).validate(options, purpose);
  return resolve(std::move(options));
}

std::string seconds(std::chrono::milliseconds d) {
  std::string s = std::to_string(std::chrono::duration<double>(d).count());
  return s.substr(0, s.find('.') + 2) + " s";
}

}  // namespace

Core::Core(Protocol protocol, Purpose purpose, Options options, TransportMaker maker)
    : protocol_(protocol),
      purpose_(purpose),
      options_(checked(std::move(options), protocol, purpose, !maker)),
      id_(*options_.id),
      inbox_(options_.serialization.queue_size, options_.serialization.drop_oldest),
      workers_(options_.workers) {
  if (purpose_ == Purpose::client) {
    // The client's session exists before it connects: puts queue behind its hello.
    client_ = std::make_shared<Session>(*this, std::string());
    client_->enqueue(Stream::borrow(id_.as_bytes()));
    sessions_.insert(client_);
  }
  transport_ = maker ? maker(*this) : transport_info(protocol_).make(purpose_, options_, *this);
  transport_->start();
}

Core::~Core() {
  if (!closed_) close_for(purpose_ == Purpose::client ? options_.connection.connect_timeout : std::chrono::seconds(0));
}

// ---- Communicator API ----

SendFuture Core::put(Stream data, std::span<const Id> peers) {
  if (closing_.load(std::memory_order_acquire))
    return SendFuture::failed(std::make_exception_ptr(ClosedError(id_, "communicator " + id_.str() + " is closed")));
  if (purpose_ == Purpose::client) {
    // Before the server's hello any name is taken on trust. The flag first:
    // it is set after the id, so the id read after it is the server's.
    if (!peers.empty() && client_->identified()) {
      const Id server = client_->peer();
      for (const Id& p : peers)
        if (p != server)
          return SendFuture::failed(std::make_exception_ptr(Error(
              errc::invalid_option, "a client can only put to its server (" + server.str() + "), not to " + p.str())));
    }
    return SendFuture(client_->enqueue(std::move(data)));
  }

  if (peers.size() == 1) {  // to one peer: no list to build
    std::shared_ptr<Session> session = find(peers[0]);
    return SendFuture(session ? session->enqueue(std::move(data)) : not_connected(peers[0]));
  }
  std::vector<SendFuture::Target> targets;
  std::vector<std::shared_ptr<Session>> sessions;
  if (peers.empty()) {
    std::shared_ptr<Session> only;  // to everyone, who is one peer: no list to build
    {
      std::lock_guard lock(mutex_);
      if (peers_.size() == 1) {
        only = peers_.begin()->second;
      } else {
        sessions.reserve(peers_.size());
        for (const auto& [id, s] : peers_) sessions.push_back(s);
      }
    }
    if (only) return SendFuture(only->enqueue(std::move(data)));
  }
  for (const Id& p : peers) {
    if (auto s = find(p)) {
      sessions.push_back(std::move(s));
    } else {
      targets.push_back(not_connected(p));
    }
  }
  if (sessions.empty() && targets.empty()) return SendFuture::ready_value();  // broadcast to nobody
  // Serialized once: every peer gets a shallow copy of the same chunks.
  for (std::size_t i = 0; i < sessions.size(); ++i)
    targets.push_back(sessions[i]->enqueue(i + 1 == sessions.size() ? std::move(data) : data.copy()));
  return SendFuture(std::move(targets));
}

std::shared_ptr<Session> Core::find(const Id& peer) const {
  std::lock_guard lock(mutex_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : it->second;
}

SendFuture::Target Core::not_connected(const Id& peer) {
  auto error = std::make_exception_ptr(ClosedError(peer, "peer " + peer.str() + " is not connected"));
  return {std::make_shared<SendState>(error), 1};
}

std::optional<Message> Core::get_until(Inbox::clock::time_point deadline) {
  std::optional<Message> message;
  if (auto from = inbox_.pop(deadline, message)) from->consumed(message->data.size());
  return message;
}

bool Core::close_for(std::chrono::nanoseconds deadline) {
  {
    // One close runs at a time; one already waiting for sessions gives up by
    // the earliest deadline any caller gave, not only by its own (a close()
    // would otherwise hold a concurrent close_for(0) without limit).
    std::lock_guard lock(mutex_);
    close_until_ = std::min(close_until_, deadline_after(deadline));
  }
  changed_.notify_all();
  std::lock_guard close_lock(close_mutex_);
  if (closed_) return *closed_;
  closing_.store(true, std::memory_order_release);

  if (purpose_ == Purpose::client) {
    client_->say_goodbye();  // behind everything queued
  } else {
    transport_->stop_accepting();
  }
  std::vector<std::shared_ptr<Session>> nameless;
  {
    // Goodbyes must be read even from peers paused by the receive bound; a
    // connection that never said hello is no peer to wait for.
    std::lock_guard lock(mutex_);
    for (const auto& s : sessions_) {
      s->resume();
      if (purpose_ == Purpose::server && !s->identified()) nameless.push_back(s);
    }
  }
  for (auto& s : nameless) s->end(errc::closed, "the server is closing and this connection never said hello");
  bool graceful;
  std::vector<std::shared_ptr<Session>> left;
  {
    std::unique_lock lock(mutex_);
    // close_until_ may come closer while we wait (another close_for).
    while (!(graceful = sessions_.empty()) && Inbox::clock::now() < close_until_)
      changed_.wait_until(lock, close_until_);
    left.assign(sessions_.begin(), sessions_.end());
  }
  for (auto& s : left) s->end(errc::timeout, "closed before the peer finished (close deadline passed)");
  transport_->stop();
  workers_.stop();
  // Whatever the transport did not end, ends here (its threads are joined).
  {
    std::lock_guard lock(mutex_);
    left.assign(sessions_.begin(), sessions_.end());
  }
  for (auto& s : left) s->detached(LinkEnd::lost, "communicator closed", {});
  inbox_.close(std::make_exception_ptr(ClosedError(id_, "communicator " + id_.str() + " is closed")));
  // A peer that dropped its link without a goodbye while we closed did not
  // end well either, nor did a client's server that was lost before.
  graceful = graceful && !ended_badly_.load(std::memory_order_acquire);
  closed_ = graceful;
  return graceful;
}

std::vector<Id> Core::peers() const {
  std::lock_guard lock(mutex_);
  std::vector<Id> out;
  out.reserve(peers_.size());
  for (const auto& [id, s] : peers_) out.push_back(id);
  return out;
}

Statistics Core::statistics() const {
  Statistics s;
  s.bytes_in = bytes_in_.load(std::memory_order_relaxed);
  s.bytes_out = bytes_out_.load(std::memory_order_relaxed);
  s.messages_in = messages_in_.load(std::memory_order_relaxed);
  s.messages_out = messages_out_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.truncated = truncated_.load(std::memory_order_relaxed);
  s.stream_bytes_in = stream_in_.load(std::memory_order_relaxed);
  s.stream_bytes_out = stream_out_.load(std::memory_order_relaxed);
  s.queued = inbox_.size();
  s.peers = peers().size();
  return s;
}

// ---- Hub ----

std::shared_ptr<Pipe> Core::attach(std::shared_ptr<Link> link, std::string_view key) {
  if (purpose_ == Purpose::client) return client_->attach(std::move(link)) ? client_ : nullptr;
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    if (!key.empty()) {
      auto it = keyed_.find(std::string(key));
      if (it != keyed_.end() && !it->second->over()) {
        // The next link of a live session (even while closing: it may carry the goodbye).
        return it->second->attach(std::move(link)) ? it->second : nullptr;
      }
    }
    if (closing_.load(std::memory_order_acquire)) return nullptr;
    session = std::make_shared<Session>(*this, std::string(key));
    session->attach(std::move(link));
    sessions_.insert(session);
    if (!key.empty()) keyed_[session->key()] = session;
  }
  // A link that never says hello does not hold its resources for long.
  const auto limit = options_.connection.hello_timeout;
  workers_.at(Workers::clock::now() + limit, [weak = std::weak_ptr<Session>(session), limit] {
    if (auto s = weak.lock(); s && !s->identified())
      s->end(errc::timeout, "said no hello within connection.hello_timeout (" + seconds(limit) + ")");
  });
  return session;
}

void Core::session_detached(const std::shared_ptr<Session>& session) {
  const auto limit = options_.connection.resume_timeout;
  workers_.at(Workers::clock::now() + limit,
              [weak = std::weak_ptr<Session>(session), links = session->links(), limit] {
                auto s = weak.lock();
                if (s && !s->linked() && s->links() == links)
                  s->end(errc::timeout, "no new link within connection.resume_timeout (" + seconds(limit) + ")");
              });
}

void Core::end_session(std::string_view key, errc code, const std::string& reason) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    if (auto it = keyed_.find(std::string(key)); it != keyed_.end()) session = it->second;
  }
  if (session) session->end(code, reason);
}

void Core::transport_failed(errc code, const std::string& reason) {
  log(LogLevel::error, reason);
  auto error = std::make_exception_ptr(Error(code, reason));
  if (purpose_ == Purpose::client) inbox_.close(error);
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(mutex_);
    all.assign(sessions_.begin(), sessions_.end());
  }
  // A client that never reached its server fails its puts with that error; a
  // session that was up fails them with ClosedError naming its peer and `code`.
  const bool unreached = purpose_ == Purpose::client && code == errc::connect_failed;
  for (auto& s : all) s->end(code, reason, LogLevel::debug, unreached ? error : nullptr);
}

void Core::log(LogLevel level, const std::string& text) {
  try {
    options_.log(level, text);
  } catch (...) {
    // A throwing log hook must not take the network thread down.
  }
}

// ---- Session side ----

bool Core::identify(const std::shared_ptr<Session>& session, const Id& peer, std::string& why) {
  if (purpose_ == Purpose::server) {
    std::lock_guard lock(mutex_);
    if (peers_.contains(peer)) {
      why = "hello names id " + peer.str() + ", which is already connected";
      return false;
    }
    // Our hello goes first, before any put can reach this session.
    session->enqueue(Stream::borrow(id_.as_bytes()));
    peers_.emplace(peer, session);
  } else {
    std::lock_guard lock(mutex_);
    peers_.emplace(peer, session);
  }
  if (options_.on_peer_joined) on_event(options_.on_peer_joined, peer);
  return true;
}

void Core::deliver(const std::shared_ptr<Session>& session, std::vector<Message>& messages) {
  // Counted before get() can see them: statistics never lag a message.
  std::uint64_t bytes = 0, truncated = 0;
  for (const Message& m : messages) {
    bytes += m.data.size();
    truncated += m.truncated ? 1 : 0;
  }
  messages_in_.fetch_add(messages.size(), std::memory_order_relaxed);
  bytes_in_.fetch_add(bytes, std::memory_order_relaxed);
  if (truncated) truncated_.fetch_add(truncated, std::memory_order_relaxed);
  auto dropped = inbox_.push(session, messages);
  if (dropped.empty()) return;
  const auto total = dropped_.fetch_add(dropped.size(), std::memory_order_relaxed) + dropped.size();
  for (auto& d : dropped) d.from->consumed(d.message.data.size());
  log(LogLevel::warning, "serialization.queue_size (" + std::to_string(*options_.serialization.queue_size) +
                             ") reached: dropped " + std::to_string(dropped.size()) + " message(s) from " +
                             dropped.front().message.peer.str() + " (" + std::to_string(total) + " dropped in all)");
}

void Core::session_ended(const std::shared_ptr<Session>& session, errc code, const std::string& error,
                         std::error_code cause) {
  const bool identified = session->identified();
  const Id peer = session->peer();
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
    if (auto k = keyed_.find(session->key()); k != keyed_.end() && k->second == session) keyed_.erase(k);
    auto it = peers_.find(peer);
    if (identified && it != peers_.end() && it->second == session) peers_.erase(it);
    // Decided with the session's removal: a close that began after it saw no
    // such session, and is not made ungraceful by it.
    if (!error.empty() && identified && (closing() || purpose_ == Purpose::client))
      ended_badly_.store(true, std::memory_order_release);
  }
  changed_.notify_all();
  if (identified && options_.on_peer_left) on_event(options_.on_peer_left, peer);
  if (purpose_ == Purpose::client) {
    inbox_.close(std::make_exception_ptr(
        ClosedError(peer, "server " + peer.str() + (error.empty() ? " ended the session" : " is gone: " + error),
                    error.empty() ? errc::closed : code, cause)));
  } else if (!error.empty() && identified) {
    log(LogLevel::warning, session->describe() + " left without a goodbye: " + error);
  }
}

void Core::on_event(const PeerHook& hook, const Id& peer) {
  try {
    hook(peer);
  } catch (const std::exception& e) {
    log(LogLevel::error, std::string("peer event hook threw: ") + e.what());
  }
}

}  // namespace netqueue::detail
