// SendFuture: the acknowledgement of a put.
//
// It resolves when the library no longer needs the caller's bytes for every
// peer the put went to (they were handed to the transport), and fails when a
// peer's part could not be handed over: netqueue::ClosedError naming the peer
// when the peer or the communicator closed or disconnected, netqueue::Error
// with the transport's reason otherwise.
//
// It costs no allocation: it is a reference to the peer's send state and the
// stream offset at which the put's bytes end. Dropping it is free and does not
// cancel anything. It may be waited on from any thread, any number of times.
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

class NETQUEUE_API SendFuture {
 public:
  struct Target {
    std::shared_ptr<detail::SendState> state;
    std::uint64_t end = 0;  // the put is done when this many bytes went out
  };
  struct PeerResult {
    Id peer;
    std::exception_ptr error;  // null: handed over
  };

  // An invalid future (valid() is false); waiting on it throws std::future_error.
  SendFuture() noexcept = default;
  // A future that is already done: resolved, or failed with `error`.
  static SendFuture ready_value() noexcept;
  static SendFuture failed(std::exception_ptr error) noexcept;
  // Library side: a future over one peer's send state (no allocation), or
  // over several.
  explicit SendFuture(Target target) noexcept;
  explicit SendFuture(std::vector<Target> targets) noexcept;

  bool valid() const noexcept { return valid_; }
  // True when done, resolved or failed; never blocks.
  bool ready() const;
  void wait() const;
  // False when still pending after `timeout`.
  bool wait_for(std::chrono::nanoseconds timeout) const;
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return wait_for(detail::saturate(timeout));
  }
  // Waits, then returns or throws the failure (when several peers failed, a
  // ClosedError naming the first, with every failed peer in its message).
  void get() const;
  // Waits, then each peer's outcome.
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
