// Options: every field of net-queue's options, with its defaults. Validated
// when a Communicator is constructed (OptionError names the field and why).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "netqueue/export.hpp"
#include "netqueue/id.hpp"

namespace netqueue {

inline constexpr std::size_t KiB = 1024;
inline constexpr std::size_t MiB = 1024 * KiB;
inline constexpr std::size_t GiB = 1024 * MiB;

enum class LogLevel { debug, info, warning, error };
NETQUEUE_API std::string_view to_string(LogLevel level) noexcept;

// Called from library threads; must not call back into the communicator.
using LogHook = std::function<void(LogLevel, std::string_view)>;
// Called from library threads with the peer's id; must not block for long.
using PeerHook = std::function<void(const Id&)>;

struct Options {
  // This communicator's id; a random v4 UUID when unset.
  std::optional<Id> id;

  struct Netloc {
    std::string host = "127.0.0.1";  // host name, IPv4 or IPv6 literal
    std::uint32_t port = 51966;      // a server may use 0: see Communicator::local_port()
  } netloc;

  struct Connection {
    // A client that cannot reach its server for this long fails what it has pending.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    // Split: the largest piece handed to the transport at once.
    std::size_t max_size = 4 * MiB;
    // Merge: the preallocated buffer small messages are copied into (default max_size).
    std::optional<std::size_t> merge_size;
    // Sends smaller than this are merged with what else is queued (default max_size / 64).
    std::optional<std::size_t> efficient_size;
    // Bytes received from one peer and not yet taken by get(): past it the
    // transport stops reading from that peer (flow control does the rest).
    std::size_t receive_bound = 4 * MiB;
    // A new connection must say hello within this time, or it is closed.
    std::chrono::milliseconds hello_timeout{std::chrono::seconds(10)};
    // A session whose link ended cleanly (a gRPC call, as net-queue's Python
    // clients make one per exchange) waits this long for the peer's next link
    // before it ends.
    std::chrono::milliseconds resume_timeout{std::chrono::seconds(30)};
    // Dead-peer detection. A connection silent for `keepalive` is probed (TCP
    // keepalive, HTTP/2 pings on gRPC); a peer that answers nothing for
    // `peer_timeout` (no acknowledgement of what we sent, no answer to a
    // probe: its host vanished without a FIN or RST) is gone, and its session
    // ends with ClosedError(errc::timeout). A healthy peer, idle or not
    // reading, answers probes in its kernel and is never cut. peer_timeout 0:
    // no detection. MQTT: the broker detects vanished peers, by the MQTT
    // keepalive that mqtt.keepalive derives from peer_timeout.
    std::chrono::milliseconds keepalive{std::chrono::seconds(30)};
    std::chrono::milliseconds peer_timeout{std::chrono::seconds(60)};

    std::size_t effective_merge_size() const noexcept { return merge_size.value_or(max_size); }
    std::size_t effective_efficient_size() const noexcept { return efficient_size.value_or(max_size / 64); }
  } connection;

  // MQTT (protocol mqtt): netloc is the broker's address.
  struct Mqtt {
    // 1: every piece is acknowledged by the broker (PUBACK) before its puts
    // resolve, and a lost broker connection fails the sessions loudly. 0: as
    // net-queue does; a lost piece cannot be detected (nor its loss reported).
    int qos = 1;
    // MQTT keepalive: the broker notices a silent client after 1.5x this and
    // publishes its will (the server ends that client's session); Paho notices
    // a silent broker. Unset: from connection.peer_timeout (2/3 of it, at
    // least 1 s, so that a vanished peer is cut about peer_timeout after its
    // last word; 40 s by default), 0 when peer_timeout is 0.
    std::optional<std::chrono::seconds> keepalive;
    // Publishes in flight at once per communicator (QoS 1: awaiting PUBACK).
    // Paho buffers at most a few more than this (its payload copies stay bounded).
    unsigned window = 32;
    // Largest MQTT publish payload: each piece of connection.max_size bytes is
    // published as payloads of at most this size. Small, because Paho C 1.3
    // stalls about 1 s whenever a socket write is only partly done.
    std::size_t publish_size = 64 * KiB;
    // Client: attach only once a netqueue server announced itself on the
    // broker (retained topic netqueue/server), so that nothing is published
    // into the void before a server subscribes (puts wait, up to
    // connect_timeout). Python net-queue servers announce nothing: set it to
    // false to talk to one (then the client publishes at once, as net-queue's).
    bool await_server = true;
  } mqtt;

  // Threads for connection handling.
  unsigned workers = 1;

  struct Serialization {
    // Largest incoming message delivered whole; larger ones come as parts.
    std::uint64_t message_size = 1 * GiB;
    // Largest number of received messages held for get(); unset: unlimited.
    std::optional<std::size_t> queue_size;
    // When queue_size is reached: drop the oldest queued message (true) or the incoming one.
    bool drop_oldest = true;
  } serialization;

  struct Security {
    // Server: private key and certificate chain (PEM files). Client: the
    // trust chain to verify the server with (certificate), or the system's
    // default trust store when only `enabled` is set.
    std::optional<std::string> key;
    std::optional<std::string> certificate;
    bool enabled = false;  // implied by key or certificate
    bool active() const noexcept { return enabled || key || certificate; }
  } security;

  // Events, as net-queue's: a peer said hello / a peer left (goodbye or lost).
  PeerHook on_peer_joined;
  PeerHook on_peer_left;
  // Diagnostics; default: warnings and errors to stderr.
  LogHook log;
};

// A port number from text ("51966"), for programs that take it from the
// command line. Throws OptionError("netloc.port") when it is not 0 to 65535.
NETQUEUE_API std::uint16_t parse_port(std::string_view text);

}  // namespace netqueue
