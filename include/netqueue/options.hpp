/// @file
/// Options: every field of net-queue's options, with its defaults. Validated
/// when a Communicator is constructed (OptionError names the field and why).
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

inline constexpr std::size_t KiB = 1024;        ///< 1024 bytes
inline constexpr std::size_t MiB = 1024 * KiB;  ///< 1024 KiB
inline constexpr std::size_t GiB = 1024 * MiB;  ///< 1024 MiB

/// The severity of a log line (Options::log).
enum class LogLevel {
  debug,    ///< details of sessions and links, for diagnosis
  info,     ///< notable events
  warning,  ///< something failed for one peer or message (a peer left without a goodbye, messages dropped)
  error     ///< a failure (a peer broke the wire format, a transport failed, a hook threw)
};
/// "debug", "info", "warning" or "error" ("?" for another value); static storage.
NETQUEUE_API std::string_view to_string(LogLevel level) noexcept;

/// Called from library threads; must not call back into the communicator.
///
/// It also runs on the thread that closes the communicator, and the library does not serialize its calls: they may
/// overlap. `text` is valid during the call only. An exception it throws is swallowed.
using LogHook = std::function<void(LogLevel, std::string_view)>;
/// Called from library threads with the peer's id; must not block for long.
///
/// Nor may it call back into the communicator. It also runs on the thread that closes the communicator, and calls
/// may overlap. An exception derived from std::exception that it throws is logged as an error and otherwise ignored.
using PeerHook = std::function<void(const Id&)>;

/// Every setting of a Communicator, with its default.
///
/// A plain aggregate: set the fields you need and pass it to the Communicator, which keeps its own copy (hooks
/// included) and validates it, throwing OptionError that names the first invalid field. Each field's documentation
/// states its valid range; the transport checks what only it needs (noted as such).
struct Options {
  /// This communicator's id; a random v4 UUID when unset.
  ///
  /// Not checked: a peer refuses a hello that names the nil id or an id already connected to it
  /// (errc::protocol_error).
  std::optional<Id> id;

  /// Where a server listens and a client connects (MQTT: the broker's address).
  struct Netloc {
    /// Host name, IPv4 or IPv6 literal; not empty. Default "127.0.0.1". A TLS client checks that the server's
    /// certificate names it. inproc: the endpoint's name.
    std::string host = "127.0.0.1";
    /// Default 51966; 0 to 65535. A server may use 0 (tcp, grpc, inproc: a free port is chosen): see
    /// Communicator::local_port(). A client, and MQTT, need a non-zero port.
    std::uint32_t port = 51966;
  } netloc;  ///< where to listen or connect

  /// Timeouts, message splitting and merging, flow control and dead-peer detection.
  struct Connection {
    /// A client that cannot reach its server for this long fails what it has pending.
    /// Default 30 s; at least 0. Also a client's destructor waits this long at most (see Communicator::~Communicator).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
    /// Split: the largest piece handed to the transport at once.
    /// Default 4 MiB; at least 1 byte (gRPC: at most INT_MAX).
    std::size_t max_size = 4 * MiB;
    /// Merge: the preallocated buffer small messages are copied into (default max_size).
    /// At most max_size.
    std::optional<std::size_t> merge_size;
    /// Sends smaller than this are merged with what else is queued (default max_size / 64).
    /// At most the merge size (effective_merge_size()).
    std::optional<std::size_t> efficient_size;
    /// Bytes received from one peer and not yet taken by get(): past it the
    /// transport stops reading from that peer (flow control does the rest).
    /// A message still arriving is read to its end. Default 4 MiB; at least 1 byte.
    std::size_t receive_bound = 4 * MiB;
    /// A new connection must say hello within this time, or it is closed.
    /// Default 10 s; more than 0.
    std::chrono::milliseconds hello_timeout{std::chrono::seconds(10)};
    /// A session whose link ended cleanly (a gRPC call, as net-queue's Python
    /// clients make one per exchange) waits this long for the peer's next link
    /// before it ends (then with errc::timeout). Default 30 s; at least 0.
    std::chrono::milliseconds resume_timeout{std::chrono::seconds(30)};
    /// Dead-peer detection. A connection silent for `keepalive` is probed (TCP
    /// keepalive, HTTP/2 pings on gRPC); a peer that answers nothing for
    /// `peer_timeout` (no acknowledgement of what we sent, no answer to a
    /// probe: its host vanished without a FIN or RST) is gone, and its session
    /// ends with ClosedError(errc::timeout). A healthy peer, idle or not
    /// reading, answers probes in its kernel and is never cut. peer_timeout 0:
    /// no detection. MQTT: the broker detects vanished peers, by the MQTT
    /// keepalive that mqtt.keepalive derives from peer_timeout.
    ///
    /// `keepalive`: default 30 s; at least 1 s (TCP keepalive counts whole seconds).
    std::chrono::milliseconds keepalive{std::chrono::seconds(30)};
    /// See keepalive. Default 60 s; 0 (no detection) or longer than keepalive.
    std::chrono::milliseconds peer_timeout{std::chrono::seconds(60)};

    /// merge_size, or max_size when unset.
    std::size_t effective_merge_size() const noexcept { return merge_size.value_or(max_size); }
    /// efficient_size, or max_size / 64 when unset.
    std::size_t effective_efficient_size() const noexcept { return efficient_size.value_or(max_size / 64); }
  } connection;  ///< connection settings

  /// MQTT (protocol mqtt): netloc is the broker's address.
  ///
  /// These fields are checked only when the protocol is mqtt.
  struct Mqtt {
    /// 1: every piece is acknowledged by the broker (PUBACK) before its puts
    /// resolve, and a lost broker connection fails the sessions loudly. 0: as
    /// net-queue does; a lost piece cannot be detected (nor its loss reported).
    /// Default 1; 0 or 1.
    int qos = 1;
    /// MQTT keepalive: the broker notices a silent client after 1.5x this and
    /// publishes its will (the server ends that client's session); Paho notices
    /// a silent broker. Unset (the default): from connection.peer_timeout (2/3
    /// of it, at least 1 s, so that a vanished peer is cut about peer_timeout
    /// after its last word; 40 s by default), 0 when peer_timeout is 0.
    /// 0 to 65535 s (MQTT's field).
    std::optional<std::chrono::seconds> keepalive;
    /// Publishes in flight at once per communicator (QoS 1: awaiting PUBACK).
    /// Paho buffers at most a few more than this (its payload copies stay bounded).
    /// window x publish_size is what one communicator has in flight: 512 KiB
    /// by default, enough for a broker on the same machine or LAN (with 0.5
    /// ms between publish and PUBACK, 8 Gbit/s). For a distant broker raise
    /// the window towards bandwidth x round trip. Past what the socket's send
    /// buffer holds, Paho C 1.3's partial-write stall (publish_size) strikes.
    /// Default 2; 1 to 4096.
    unsigned window = 2;
    /// Largest MQTT publish payload: each piece of connection.max_size bytes is
    /// published as payloads of at most this size. Paho C 1.3 stalls about
    /// 1 s whenever a socket write is only partly done, which large payloads
    /// and many in flight make likely; 256 KiB with a window of 2 was the
    /// fastest measured (bench/README.md).
    /// Default 256 KiB; 1 byte to 256 MiB - 1024 bytes (MQTT's largest packet).
    std::size_t publish_size = 256 * KiB;
    /// Client: attach only once a netqueue server announced itself on the
    /// broker (retained topic netqueue/server), so that nothing is published
    /// into the void before a server subscribes (puts wait, up to
    /// connect_timeout). Python net-queue servers announce nothing: set it to
    /// false to talk to one (then the client publishes at once, as net-queue's).
    /// Default true.
    bool await_server = true;
  } mqtt;  ///< MQTT settings

  /// gRPC (protocol grpc).
  struct Grpc {
    /// Client: poll, for a server that answers only at the start of each call,
    /// as net-queue's Python gRPC server does. Each exchange is then one call
    /// (what is queued is sent, the call half-closed, the answer read to its
    /// end), and empty calls poll for the server's data, backing off from
    /// 1/1024 s to 0.5 s while nothing comes, as net-queue's Python client
    /// does. Default false: one call kept open, on which a netqueue server
    /// pushes data as soon as it is queued (no polling, no added latency).
    /// A netqueue server serves both kinds of client; a server ignores it.
    bool poll = false;
  } grpc;  ///< gRPC settings

  /// Threads for connection handling. Default 1; at least 1.
  unsigned workers = 1;

  /// What is received: the largest message delivered whole, and the queue of messages waiting for get().
  struct Serialization {
    /// Largest incoming message delivered whole; larger ones come as parts.
    /// Default 1 GiB; at least 16 bytes (a hello and a goodbye are 16-byte messages). The message in progress is
    /// held until it is whole, so a server facing untrusted peers lowers it.
    std::uint64_t message_size = 1 * GiB;
    /// Largest number of received messages held for get(); unset: unlimited.
    /// When set, at least 1. Dropped messages are counted (Statistics::dropped) and logged as warnings.
    std::optional<std::size_t> queue_size;
    /// When queue_size is reached: drop the oldest queued message (true) or the incoming one.
    /// Default true.
    bool drop_oldest = true;
  } serialization;  ///< receive-side message settings

  /// TLS (tcp, grpc; MQTT: to the broker).
  ///
  /// Server: private key and certificate chain (PEM files); with `trust`, it
  /// also asks every client for a certificate and refuses clients without one
  /// signed by it (mutual TLS). Client: the trust chain to verify the server
  /// with (`certificate`, as net-queue's, or `trust`), or the system's default
  /// trust store when only `enabled` is set; with `key`, it presents
  /// `certificate` as its own (and then takes its trust chain from `trust`).
  /// Over MQTT both ends are clients of the broker and follow the client rules.
  ///
  /// inproc has no TLS, nor has tcp in a build without NETQUEUE_WITH_TLS: there an active Security throws
  /// OptionError ("security").
  struct Security {
    /// This end's private key (PEM file path). Default: unset; when set, a readable file. A TLS server (tcp, grpc)
    /// needs it; a client with a key presents `certificate` as its own (mutual TLS) and needs it too.
    std::optional<std::string> key;
    /// With `key`: this end's certificate chain. Without `key` (a client, net-queue's meaning): the trust chain to
    /// verify the server (MQTT: the broker) with. PEM file path. Default: unset; when set, a readable file. A TLS
    /// server (tcp, grpc) needs it.
    std::optional<std::string> certificate;
    /// The trust chain (CA certificates, PEM file path) the peer's certificate is verified with. Server (tcp,
    /// grpc): when set, clients must present a certificate it verifies (mutual TLS); when unset, no client
    /// certificate is asked for. Client: the server's (MQTT: the broker's) trust chain, for a client that presents
    /// its own certificate; a client without `key` may give it here or in `certificate`, not in both. Default:
    /// unset; when set, a readable file.
    std::optional<std::string> trust;
    /// Accept a chain that ends at any certificate of the trust chain, not only at a self-signed root (OpenSSL's
    /// X509_V_FLAG_PARTIAL_CHAIN): a client may then pin the server's own certificate, or an intermediate CA, as
    /// Python 3.13's default TLS context (and so a Python net-queue peer) allows. Default false. tcp only: gRPC and
    /// Paho verify chains themselves and offer no such mode (OptionError "security.partial_chain").
    bool partial_chain = false;
    bool enabled = false;  ///< implied by key or certificate. Default false.
    /// True when TLS is on: enabled, or key, certificate or trust set.
    bool active() const noexcept { return enabled || key || certificate || trust; }
  } security;  ///< TLS settings

  /// Event, as net-queue's: a peer said hello (a client: its server). Default: none.
  PeerHook on_peer_joined;
  /// Event, as net-queue's: a peer that had said hello left (goodbye or lost). Default: none.
  PeerHook on_peer_left;
  /// Diagnostics; default: warnings and errors to stderr.
  LogHook log;
};

/// A port number from text ("51966"), for programs that take it from the
/// command line.
/// @throws OptionError ("netloc.port") when it is not a number from 0 to 65535.
NETQUEUE_API std::uint16_t parse_port(std::string_view text);

}  // namespace netqueue
