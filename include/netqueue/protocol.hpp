// Protocol and purpose, chosen at run time by name.
#pragma once

#include <string_view>
#include <vector>

#include "netqueue/export.hpp"

namespace netqueue {

// inproc: communicators in one process, no sockets (netloc.host names the
// endpoint, netloc.port numbers it; a server may take port 0 as over TCP).
enum class Protocol { tcp, mqtt, grpc, inproc };
enum class Purpose { client, server };

// "tcp", "mqtt", "grpc", "inproc" (case-sensitive). An unknown name throws OptionError
// naming the valid ones.
NETQUEUE_API Protocol parse_protocol(std::string_view name);
// "client", "server".
NETQUEUE_API Purpose parse_purpose(std::string_view name);
NETQUEUE_API std::string_view to_string(Protocol protocol) noexcept;
NETQUEUE_API std::string_view to_string(Purpose purpose) noexcept;

// The protocols built into this library (CMake options NETQUEUE_WITH_*).
NETQUEUE_API std::vector<Protocol> available_protocols();
NETQUEUE_API bool is_available(Protocol protocol) noexcept;

}  // namespace netqueue
