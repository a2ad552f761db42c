// Core: the protocol-independent communicator. It owns the sessions, the
// inbox, the statistics and the close protocol; a Transport moves the bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/inbox.hpp"
#include "core/transport.hpp"
#include "core/workers.hpp"
#include "netqueue/communicator.hpp"

namespace netqueue::detail {

class Session;

class Core final : public Hub {
 public:
  using TransportMaker = std::function<std::unique_ptr<Transport>(Hub&)>;

  // Validates the options, makes the transport (from the registry, or from
  // `maker` for tests of the seam itself) and starts it.
  Core(Protocol protocol, Purpose purpose, Options options, TransportMaker maker = {});
  ~Core();

  // ---- Communicator API ----
  const Id& id() const noexcept { return id_; }
  Protocol protocol() const noexcept { return protocol_; }
  Purpose purpose() const noexcept { return purpose_; }
  std::uint16_t port() const noexcept { return transport_->port(); }
  SendFuture put(Stream data, std::span<const Id> peers);
  std::optional<Message> get_until(Inbox::clock::time_point deadline);
  bool close_for(std::chrono::nanoseconds deadline);
  std::vector<Id> peers() const;
  Statistics statistics() const;

  // ---- Hub (transport side) ----
  std::shared_ptr<Pipe> attach(std::shared_ptr<Link> link, std::string_view key) override;
  void transport_failed(errc code, const std::string& reason) override;
  void end_session(std::string_view key, errc code, const std::string& reason) override;
  void log(LogLevel level, const std::string& text) override;
  std::shared_ptr<Executor> make_executor() override { return workers_.make_executor(); }

  // ---- Session side ----
  const Options& options() const noexcept { return options_; }
  bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }
  // The peer said hello; false (with `why`) when the id is taken.
  bool identify(const std::shared_ptr<Session>& session, const Id& peer, std::string& why);
  void deliver(const std::shared_ptr<Session>& session, std::vector<Message>& messages);
  // The session is over: an empty `error` when it ended well, else why, with
  // the errc and lower-level cause its puts failed with.
  void session_ended(const std::shared_ptr<Session>& session, errc code, const std::string& error,
                     std::error_code cause);
  // The session's link ended and it waits for the next one (resume_timeout).
  void session_detached(const std::shared_ptr<Session>& session);
  void count_stream_in(std::uint64_t bytes) noexcept { stream_in_.fetch_add(bytes, std::memory_order_relaxed); }
  void count_sent(std::uint64_t stream_bytes, std::uint64_t payload, std::uint64_t messages) noexcept {
    stream_out_.fetch_add(stream_bytes, std::memory_order_relaxed);
    bytes_out_.fetch_add(payload, std::memory_order_relaxed);
    messages_out_.fetch_add(messages, std::memory_order_relaxed);
  }

 private:
  void on_event(const PeerHook& hook, const Id& peer);
  // The identified peer's session, or null.
  std::shared_ptr<Session> find(const Id& peer) const;
  // A put target that failed already: `peer` is not connected.
  static SendFuture::Target not_connected(const Id& peer);

  const Protocol protocol_;
  const Purpose purpose_;
  const Options options_;
  const Id id_;
  Inbox inbox_;

  mutable std::mutex mutex_;  // sessions, peers, closing state
  std::condition_variable changed_;
  std::unordered_set<std::shared_ptr<Session>> sessions_;   // live, identified or not
  std::unordered_map<Id, std::shared_ptr<Session>> peers_;  // identified
  std::unordered_map<std::string, std::shared_ptr<Session>> keyed_;  // by the transport's key
  std::shared_ptr<Session> client_;                         // a client's one session
  std::atomic<bool> closing_{false};
  // A session ended with an error that makes close_for not graceful: any
  // during the close; a client's one session at any time (its server is lost).
  std::atomic<bool> ended_badly_{false};

  std::mutex close_mutex_;  // one close at a time
  std::optional<bool> closed_;
  // When the close gives up waiting for sessions: the earliest deadline of
  // every close_for call so far (under mutex_).
  Inbox::clock::time_point close_until_ = Inbox::clock::time_point::max();

  std::atomic<std::uint64_t> bytes_in_{0}, bytes_out_{0}, messages_in_{0}, messages_out_{0};
  std::atomic<std::uint64_t> dropped_{0}, truncated_{0}, stream_in_{0}, stream_out_{0};

  Workers workers_;                       // stopped after the transport, before the rest goes
  std::unique_ptr<Transport> transport_;  // last: stopped before the rest goes
};

}  // namespace netqueue::detail
