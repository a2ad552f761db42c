/// @file
/// SendFuture: the acknowledgement of a put.
///
/// It resolves when the library no longer needs the caller's bytes for every
/// peer the put went to (they were handed to the transport), and fails when a
/// peer's part could not be handed over: netqueue::ClosedError naming the peer
/// when the peer or the communicator closed or disconnected, netqueue::Error
/// with the transport's reason otherwise.
///
/// It costs no allocation: it is a reference to the peer's send state and the
/// stream offset at which the put's bytes end. Dropping it is free and does not
/// cancel anything. It may be waited on from any thread, any number of times.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <vector>

#include "netqueue/export.hpp"
#include "netqueue/id.hpp"

namespace netqueue {

namespace detail {
class SendState;

// A timeout in any unit as nanoseconds, saturating instead of overflowing
// (seconds::max() means "forever", not a negative number).
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturate(std::chrono::duration<Rep, Period> d) noexcept {
  using ns = std::chrono::nanoseconds;
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(
               std::chrono::duration<long double, std::nano>(static_cast<long double>(ns::max().count()))))
    return ns::max();
  if (d <= d.zero()) return ns::zero();
  return std::chrono::duration_cast<ns>(d);
}
}  // namespace detail

/// The acknowledgement of a put: resolved once the library no longer needs the put's bytes, failed when a peer's
/// part could not be handed over (see future.hpp).
///
/// Resolved means handed to the transport, not read by the peer. A cheap value: copies share the outcome. Its const
/// members may be called from any thread at once, any number of times; dropping it does not cancel the put. It stays
/// usable after its Communicator is gone: closing a communicator settles every future of its puts.
class NETQUEUE_API SendFuture {
 public:
  /// Library side: one peer's send state and the offset at which a put's bytes end.
  struct Target {
    std::shared_ptr<detail::SendState> state;  ///< the peer's send state, shared with its session
    std::uint64_t end = 0;                     ///< the put is done when this many bytes went out
  };
  /// One peer's outcome of a put (results()).
  struct PeerResult {
    /// The peer its part went to: the nil id when it was not known (a client's server before its hello, or a
    /// failure that is not a ClosedError).
    Id peer;
    std::exception_ptr error;  ///< null: handed over; else what it failed with (ClosedError or Error)
  };

  /// An invalid future (valid() is false); waiting on it throws std::future_error.
  SendFuture() noexcept = default;
  /// A future that is already done: resolved.
  static SendFuture ready_value() noexcept;
  /// A future that is already done: failed with `error`.
  static SendFuture failed(std::exception_ptr error) noexcept;
  /// Library side: a future over one peer's send state (no allocation).
  explicit SendFuture(Target target) noexcept;
  /// Library side: a future over several peers' send states.
  explicit SendFuture(std::vector<Target> targets) noexcept;

  /// False for a default-constructed future only; every member but this one throws std::future_error on it.
  bool valid() const noexcept { return valid_; }
  /// True when done, resolved or failed; never blocks.
  /// @throws std::future_error when not valid().
  bool ready() const;
  /// Waits until done, without limit. It does not throw the failure: get() does.
  /// @throws std::future_error when not valid().
  void wait() const;
  /// False when still pending after `timeout`.
  /// @throws std::future_error when not valid().
  bool wait_for(std::chrono::nanoseconds timeout) const;
  /// As wait_for(std::chrono::nanoseconds), for any duration; one too long for nanoseconds waits without limit.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return wait_for(detail::saturate(timeout));
  }
  /// Waits, then returns or throws the failure (when several peers failed, a
  /// ClosedError naming the first, with every failed peer in its message).
  ///
  /// Every call throws the same failure again.
  /// @throws ClosedError the peer, or this communicator, closed or disconnected before the bytes were handed over
  ///         (value() says why: see ClosedError).
  /// @throws Error a client's transport failed (errc::connect_failed, errc::transport), or a client named a peer
  ///         other than its server (errc::invalid_option).
  /// @throws std::future_error when not valid().
  void get() const;
  /// Waits, then each peer's outcome: one per peer the put went to (none for a server's put that found no client
  /// connected, nor for ready_value()), or one for a future made by failed().
  /// @throws std::future_error when not valid().
  std::vector<PeerResult> results() const;

 private:
  // The targets: `one_` when there is a single one (the common case), else `many_`.
  std::span<const Target> targets() const noexcept {
    return one_.state ? std::span<const Target>(&one_, 1) : std::span<const Target>(many_);
  }

  Target one_;
  std::vector<Target> many_;
  std::exception_ptr error_;  // for futures failed before any target existed
  bool valid_ = false;
};

}  // namespace netqueue
