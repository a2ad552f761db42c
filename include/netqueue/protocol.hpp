/// @file
/// Protocol and purpose, chosen at run time by name.
#pragma once

#include <string_view>
#include <vector>

#include "netqueue/export.hpp"

namespace netqueue {

/// The transport a Communicator uses. Which ones a build has: available_protocols().
enum class Protocol {
  tcp,   ///< TCP, with TLS when Options::security is active
  mqtt,  ///< through an MQTT broker (Options::netloc is the broker's address; Options::mqtt)
  grpc,  ///< gRPC (HTTP/2), with TLS when Options::security is active
  /// Communicators in one process, no sockets (netloc.host names the
  /// endpoint, netloc.port numbers it; a server may take port 0 as over TCP).
  inproc
};
/// Which side of a connection a Communicator is.
enum class Purpose {
  client,  ///< connects to one server
  server   ///< accepts any number of clients
};

/// "tcp", "mqtt", "grpc", "inproc" (case-sensitive).
/// @throws OptionError ("protocol") for an unknown name, naming the valid ones.
NETQUEUE_API Protocol parse_protocol(std::string_view name);
/// "client", "server" (case-sensitive).
/// @throws OptionError ("purpose") for an unknown name, naming the valid ones.
NETQUEUE_API Purpose parse_purpose(std::string_view name);
/// The name parse_protocol() reads ("?" for a value out of range); static storage.
NETQUEUE_API std::string_view to_string(Protocol protocol) noexcept;
/// "client" or "server"; static storage.
NETQUEUE_API std::string_view to_string(Purpose purpose) noexcept;

/// The protocols built into this library (CMake options NETQUEUE_WITH_*).
NETQUEUE_API std::vector<Protocol> available_protocols();
/// True when `protocol` is built into this library; a Communicator for one that is not throws
/// Error(errc::unavailable).
NETQUEUE_API bool is_available(Protocol protocol) noexcept;

}  // namespace netqueue
