// TCP transport (standalone Asio; TLS through Asio's OpenSSL layer).
#pragma once

#include <memory>

#include "core/transport.hpp"

namespace netqueue::detail {

std::unique_ptr<Transport> make_tcp_transport(Purpose purpose, const Options& options, Hub& hub);

}  // namespace netqueue::detail
