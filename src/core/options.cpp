#include "core/options.hpp"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/transport.hpp"
#include "netqueue/error.hpp"

namespace netqueue {

namespace {

struct ProtocolName {
  Protocol protocol;
  std::string_view name;
};
constexpr ProtocolName protocol_names[] = {
    {Protocol::tcp, "tcp"}, {Protocol::mqtt, "mqtt"}, {Protocol::grpc, "grpc"}, {Protocol::inproc, "inproc"}};

}  // namespace

Protocol parse_protocol(std::string_view name) {
  for (const auto& p : protocol_names)
    if (p.name == name) return p.protocol;
  throw OptionError("protocol", "unknown protocol '" + std::string(name) + "' (valid: tcp, mqtt, grpc, inproc)");
}

Purpose parse_purpose(std::string_view name) {
  if (name == "client") return Purpose::client;
  if (name == "server") return Purpose::server;
  throw OptionError("purpose", "unknown purpose '" + std::string(name) + "' (valid: client, server)");
}

std::string_view to_string(Protocol protocol) noexcept {
  for (const auto& p : protocol_names)
    if (p.protocol == protocol) return p.name;
  return "?";
}

std::string_view to_string(Purpose purpose) noexcept { return purpose == Purpose::client ? "client" : "server"; }

std::uint16_t parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value > 65535)
    throw OptionError("netloc.port", "'" + std::string(text) + "' is not a port number (0 to 65535)");
  return static_cast<std::uint16_t>(value);
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "?";
}

namespace detail {

void require(bool ok, const char* option, const std::string& why) {
  if (!ok) throw OptionError(option, why);
}

void require_readable(const std::optional<std::string>& path, const char* option) {
  if (!path) return;
  std::ifstream in(*path);
  require(in.good(), option, "cannot read '" + *path + "'");
}

void validate(const Options& o, Purpose) {
  require(!o.netloc.host.empty(), "netloc.host", "empty host");
  require(o.netloc.port <= 65535, "netloc.port", std::to_string(o.netloc.port) + " is out of range (0 to 65535)");
  require(o.connection.connect_timeout.count() >= 0, "connection.connect_timeout", "negative timeout");
  require(o.connection.hello_timeout.count() > 0, "connection.hello_timeout", "must be positive");
  require(o.connection.resume_timeout.count() >= 0, "connection.resume_timeout", "negative timeout");
  require(o.connection.keepalive >= std::chrono::seconds(1), "connection.keepalive",
          "must be at least 1 s (TCP keepalive counts whole seconds)");
  require(o.connection.peer_timeout.count() == 0 || o.connection.peer_timeout > o.connection.keepalive,
          "connection.peer_timeout",
          "must be longer than connection.keepalive (" + std::to_string(o.connection.keepalive.count()) +
              " ms), or 0 for no detection");
  require(o.connection.max_size > 0, "connection.max_size", "must be at least 1 byte");
  const auto merge = o.connection.effective_merge_size();
  const auto efficient = o.connection.effective_efficient_size();
  require(merge <= o.connection.max_size, "connection.merge_size",
          std::to_string(merge) + " is larger than connection.max_size (" + std::to_string(o.connection.max_size) +
              "): a merged batch is one piece");
  require(efficient <= merge, "connection.efficient_size",
          std::to_string(efficient) + " is larger than connection.merge_size (" + std::to_string(merge) +
              "): messages to merge would not fit the merge buffer");
  require(o.connection.receive_bound > 0, "connection.receive_bound", "must be at least 1 byte");
  require(o.workers > 0, "workers", "at least one thread is needed");
  require(o.serialization.message_size >= Id::size, "serialization.message_size",
          "must be at least " + std::to_string(Id::size) + " bytes (a hello and a goodbye are 16-byte messages)");
  require(!o.serialization.queue_size || *o.serialization.queue_size > 0, "serialization.queue_size",
          "0 would drop every message (leave it unset for unlimited)");
  // What a transport needs of them (a TLS server's key) is its own check.
  require_readable(o.security.key, "security.key");
  require_readable(o.security.certificate, "security.certificate");
  require_readable(o.security.trust, "security.trust");
}

void require_tls_files(const Options& o, bool acceptor) {
  const auto& sec = o.security;
  if (!sec.active()) return;
  if (acceptor) {
    require(sec.key.has_value(), "security.key", "a TLS server needs a private key file");
    require(sec.certificate.has_value(), "security.certificate", "a TLS server needs a certificate chain file");
    return;
  }
  require(!sec.key || sec.certificate, "security.certificate",
          "a client with security.key presents its certificate chain, which is missing");
  require(sec.key || !sec.certificate || !sec.trust, "security.trust",
          "without security.key, security.certificate is already the client's trust chain: set one of the two, or "
          "set security.key to present the certificate as the client's own");
}

TlsFiles tls_files(const Options& o, bool acceptor) {
  const auto& sec = o.security;
  if (acceptor || sec.key) return {sec.certificate, sec.key, sec.trust};
  return {std::nullopt, std::nullopt, sec.trust ? sec.trust : sec.certificate};
}

Options resolve(Options o) {
  if (!o.id) o.id = Id::random();
  if (!o.log) {
    o.log = [](LogLevel level, std::string_view text) {
      if (level < LogLevel::warning) return;
      std::fprintf(stderr, "netqueue %s: %.*s\n", to_string(level).data(), static_cast<int>(text.size()), text.data());
    };
  }
  return o;
}

}  // namespace detail
}  // namespace netqueue
