#include "netqueue/future.hpp"

#include <future>
#include <string>

#include "core/send_state.hpp"
#include "netqueue/error.hpp"

namespace netqueue {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto forever = clock::time_point::max();

Id peer_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ClosedError& e) {
    return e.peer();
  } catch (...) {
    return Id{};
  }
}

std::string what_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

SendFuture SendFuture::ready_value() noexcept {
  SendFuture f;
  f.valid_ = true;
  return f;
}

SendFuture SendFuture::failed(std::exception_ptr error) noexcept {
  SendFuture f;
  f.valid_ = true;
  f.error_ = std::move(error);
  return f;
}

SendFuture::SendFuture(Target target) noexcept : one_(std::move(target)), valid_(true) {}
SendFuture::SendFuture(std::vector<Target> targets) noexcept : many_(std::move(targets)), valid_(true) {}

bool SendFuture::ready() const {
  if (!valid_) throw std::future_error(std::future_errc::no_state);
  for (const Target& t : targets())
    if (!t.state->settled(t.end, nullptr)) return false;
  return true;
}

bool SendFuture::wait_for(std::chrono::nanoseconds timeout) const {
  if (!valid_) throw std::future_error(std::future_errc::no_state);
  const auto deadline = timeout >= std::chrono::hours(24 * 365) ? forever : clock::now() + timeout;
  for (const Target& t : targets())
    if (!t.state->wait_until(t.end, deadline)) return false;
  return true;
}

void SendFuture::wait() const { wait_for(std::chrono::hours(24 * 366)); }

std::vector<SendFuture::PeerResult> SendFuture::results() const {
  wait();
  std::vector<PeerResult> out;
  if (error_) out.push_back({peer_of(error_), error_});
  for (const Target& t : targets()) {
    std::exception_ptr error;
    t.state->settled(t.end, &error);
    out.push_back({error ? peer_of(error) : t.state->peer(), error});
  }
  return out;
}

void SendFuture::get() const {
  wait();
  if (error_) std::rethrow_exception(error_);
  std::exception_ptr first;
  std::string peers;
  std::size_t failures = 0;
  for (const Target& t : targets()) {
    std::exception_ptr error;
    t.state->settled(t.end, &error);
    if (!error) continue;
    if (!first) first = error;
    if (failures++) peers += ", ";
    peers += peer_of(error).str();
  }
  if (!first) return;
  if (failures == 1) std::rethrow_exception(first);
  throw ClosedError(peer_of(first),
                    "put failed for " + std::to_string(failures) + " peers (" + peers + "); first: " + what_of(first));
}

}  // namespace netqueue
