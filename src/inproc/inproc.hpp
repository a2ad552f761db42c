// inproc transport: communicators in one process, no sockets (like ZeroMQ's
// and NNG's inproc). An endpoint is netloc.host plus netloc.port, in a space
// of the process's own.
#pragma once

#include "core/transport.hpp"

namespace netqueue::detail {

extern const TransportInfo inproc_transport;

}  // namespace netqueue::detail
