// The registry: the one file that knows every transport. Adding one is a
// folder under src/ (with its CMakeLists.txt defining NETQUEUE_WITH_<NAME>)
// and one line here; see docs/transports.md.
#include <iterator>

#include "core/transport.hpp"

#ifdef NETQUEUE_WITH_INPROC
#include "inproc/inproc.hpp"
#endif
#ifdef NETQUEUE_WITH_TCP
#include "tcp/tcp.hpp"
#endif
#ifdef NETQUEUE_WITH_MQTT
#include "mqtt/mqtt.hpp"
#endif
#ifdef NETQUEUE_WITH_GRPC
#include "grpc/grpc.hpp"
#endif

namespace netqueue {
namespace detail {
namespace {

const TransportInfo* const transports[] = {
#ifdef NETQUEUE_WITH_INPROC
    &inproc_transport,
#endif
#ifdef NETQUEUE_WITH_TCP
    &tcp_transport,
#endif
#ifdef NETQUEUE_WITH_MQTT
    &mqtt_transport,
#endif
#ifdef NETQUEUE_WITH_GRPC
    &grpc_transport,
#endif
};

}  // namespace

const TransportInfo* find_transport(Protocol protocol) noexcept {
  for (const TransportInfo* t : transports)
    if (t->protocol == protocol) return t;
  return nullptr;
}

}  // namespace detail

std::vector<Protocol> available_protocols() {
  std::vector<Protocol> out;
  for (const detail::TransportInfo* t : detail::transports) out.push_back(t->protocol);
  return out;
}

bool is_available(Protocol protocol) noexcept { return detail::find_transport(protocol) != nullptr; }

}  // namespace netqueue
