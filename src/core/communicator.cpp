#include "netqueue/communicator.hpp"

#include "core/core.hpp"

namespace netqueue {

namespace {
constexpr auto forever = std::chrono::steady_clock::time_point::max();
}

Communicator::Communicator(Protocol protocol, Purpose purpose, Options options)
    : core_(std::make_unique<detail::Core>(protocol, purpose, std::move(options))) {}
Communicator::~Communicator() = default;
Communicator::Communicator(Communicator&&) noexcept = default;
Communicator& Communicator::operator=(Communicator&&) noexcept = default;

const Id& Communicator::id() const noexcept { return core_->id(); }
Protocol Communicator::protocol() const noexcept { return core_->protocol(); }
Purpose Communicator::purpose() const noexcept { return core_->purpose(); }
std::uint16_t Communicator::local_port() const noexcept { return core_->port(); }

SendFuture Communicator::put(Stream data) { return core_->put(std::move(data), {}); }
SendFuture Communicator::put(Stream data, std::span<const Id> peers) { return core_->put(std::move(data), peers); }

Message Communicator::get() { return *core_->get_until(forever); }
std::optional<Message> Communicator::get_for(std::chrono::nanoseconds timeout) {
  const auto now = std::chrono::steady_clock::now();
  return core_->get_until(timeout >= forever - now ? forever : now + timeout);
}
std::optional<Message> Communicator::try_get() {
  return core_->get_until(std::chrono::steady_clock::time_point::min());
}

void Communicator::close() { core_->close_for(std::chrono::nanoseconds::max()); }
bool Communicator::close_for(std::chrono::nanoseconds deadline) { return core_->close_for(deadline); }

std::vector<Id> Communicator::peers() const { return core_->peers(); }
Statistics Communicator::statistics() const { return core_->statistics(); }

}  // namespace netqueue
