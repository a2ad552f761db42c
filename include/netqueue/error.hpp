/// @file
/// Errors: one exception hierarchy rooted at netqueue::Error (a std::system_error),
/// with codes in netqueue's own category so that callers compare codes, not strings.
#pragma once

#include <string>
#include <system_error>

#include "netqueue/export.hpp"
#include "netqueue/id.hpp"

namespace netqueue {

/// What went wrong, in a few meaningful classes. The transport's own error (an
/// errno, an OpenSSL reason) is kept in the message as detail.
///
/// `std::is_error_code_enum<errc>` is specialized: an errc converts implicitly to a `std::error_code` in
/// error_category(), so `error.code() == errc::closed` compares codes.
enum class errc {
  closed = 1,  ///< the peer or the communicator is closed or disconnected
  /// a deadline passed (a session that did not resume, a peer silent past connection.peer_timeout, close_for's
  /// deadline)
  timeout,
  /// a client could not reach its server within connect_timeout (MQTT: the broker, or an announced server)
  connect_failed,
  invalid_option,  ///< an option is out of range or inconsistent (OptionError), or an id or a put's peer is invalid
  protocol_error,  ///< the peer broke the wire format (bad hello, duplicate id, ...)
  truncated,       ///< a message ended before the length its header announced (Queue<T>::get)
  serialization,   ///< a payload could not be loaded by the serializer (Queue<T>::get)
  transport,       ///< the network layer failed (I/O error, TLS failure, a lost MQTT broker, a port in use)
  unavailable,     ///< the protocol is not built into this library
};

/// The category of netqueue's error codes (its name is "netqueue"). One object for the program's lifetime; safe to
/// use from any thread.
NETQUEUE_API const std::error_category& error_category() noexcept;

/// `e` as a `std::error_code` in error_category(). Found by argument-dependent lookup: it is what makes an errc
/// convert to `std::error_code`.
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

/// Base of every exception netqueue throws (or stores in a future).
///
/// `code()` is an errc in error_category(); value() returns it as an errc. Only the misuse of a value type throws a
/// standard exception instead: `std::out_of_range` (Stream, Chunk) or `std::future_error` (an invalid SendFuture).
/// Queue turns a serializer's load failure into Error(errc::serialization); what a dump throws propagates unchanged.
class NETQUEUE_API Error : public std::system_error {
 public:
  /// An error with code `code` and the message `what`.
  Error(errc code, const std::string& what) : std::system_error(make_error_code(code), what), what_(what) {}
  /// The code, as an errc.
  errc value() const noexcept { return static_cast<errc>(code().value()); }
  /// The message alone (std::system_error would append the code's name). Valid as long as the exception object.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

/// The peer (or this communicator) is closed or gone. peer() names it; it is
/// the nil id when the peer was never identified (a server that never answered).
/// value() says why, so that a program can act on it:
/// - errc::closed: the peer closed, or its connection was dropped or reset;
/// - errc::timeout: a deadline passed: it did not come back within
///   connection.resume_timeout, answered nothing for connection.peer_timeout,
///   or close_for's deadline cut it;
/// - errc::protocol_error: it broke the wire format (bad hello, data after goodbye, ...);
/// - errc::transport: the network layer failed (an I/O or TLS error, a lost broker).
///
/// cause() is the lower-level error behind it when there is one, else empty.
class NETQUEUE_API ClosedError : public Error {
 public:
  /// The error for `peer`, with message `what`, code `code` and the lower-level `cause` (empty: none).
  ClosedError(const Id& peer, const std::string& what, errc code = errc::closed, std::error_code cause = {})
      : Error(code, what), peer_(peer), cause_(cause) {}
  /// The peer that is closed or gone: this communicator's own id when the communicator itself is closed; the nil id
  /// when the peer was never identified.
  const Id& peer() const noexcept { return peer_; }
  /// The lower-level error behind it: the socket's code (compare it with `std::errc`, such as
  /// `std::errc::connection_reset` for a peer that dropped its connection), the TLS library's, or an errc
  /// (errc::transport for a failed MQTT publish). Empty for an orderly end or when there is none.
  const std::error_code& cause() const noexcept { return cause_; }

 private:
  Id peer_;
  std::error_code cause_;
};

/// An option failed validation; option() is its dotted name ("connection.max_size").
///
/// Its code is errc::invalid_option; its message is `invalid option <name>: <why>`.
class NETQUEUE_API OptionError : public Error {
 public:
  /// The error for the option named `option`, failed because of `why`.
  OptionError(std::string option, const std::string& why)
      : Error(errc::invalid_option, "invalid option " + option + ": " + why), option_(std::move(option)) {}
  /// The option's dotted name ("netloc.port"), or "protocol" / "purpose" for a name parse_protocol() or
  /// parse_purpose() does not know, or "security" for TLS a build or protocol does not have.
  const std::string& option() const noexcept { return option_; }

 private:
  std::string option_;
};

}  // namespace netqueue

/// @cond
template <>
struct std::is_error_code_enum<netqueue::errc> : std::true_type {};
/// @endcond
