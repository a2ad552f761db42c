// TCP transport (standalone Asio; TLS through OpenSSL, tls_socket.hpp).
#pragma once

#include "core/transport.hpp"

namespace netqueue::detail {

extern const TransportInfo tcp_transport;

}  // namespace netqueue::detail
