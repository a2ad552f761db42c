// The transport registry: adding a transport is one folder and one line here.
#include "core/options.hpp"
#include "core/transport.hpp"
#include "netqueue/error.hpp"

#ifdef NETQUEUE_WITH_TCP
#include "tcp/tcp.hpp"
#endif

namespace netqueue {
namespace detail {
namespace {

using Maker = std::unique_ptr<Transport> (*)(Purpose, const Options&, Hub&);
struct Entry {
  Protocol protocol;
  Maker make;
};

constexpr Entry transports[] = {
#ifdef NETQUEUE_WITH_TCP
    {Protocol::tcp, &make_tcp_transport},
#endif
};

const Entry* find(Protocol protocol) {
  for (const Entry& e : transports)
    if (e.protocol == protocol) return &e;
  return nullptr;
}

}  // namespace

std::unique_ptr<Transport> make_transport(Protocol protocol, Purpose purpose, const Options& options, Hub& hub) {
  const Entry* e = find(protocol);
  if (!e)
    throw Error(errc::unavailable,
                "protocol '" + std::string(to_string(protocol)) + "' is not built into this library");
  return e->make(purpose, options, hub);
}

bool tls_available() noexcept {
#ifdef NETQUEUE_WITH_TLS
  return true;
#else
  return false;
#endif
}

}  // namespace detail

std::vector<Protocol> available_protocols() {
  std::vector<Protocol> out;
  for (const auto& e : detail::transports) out.push_back(e.protocol);
  return out;
}

bool is_available(Protocol protocol) noexcept { return detail::find(protocol) != nullptr; }

}  // namespace netqueue
