// Errors: one exception hierarchy rooted at netqueue::Error (a std::system_error),
// with codes in netqueue's own category so that callers compare codes, not strings.
#pragma once

#include <string>
#include <system_error>

#include "netqueue/export.hpp"
#include "netqueue/id.hpp"

namespace netqueue {

// What went wrong, in a few meaningful classes. The transport's own error (an
// errno, an OpenSSL reason) is kept in the message as detail.
enum class errc {
  closed = 1,      // the peer or the communicator is closed or disconnected
  timeout,         // a deadline passed (a session that did not resume, close_for's deadline)
  connect_failed,  // a client could not reach its server within connect_timeout
  invalid_option,  // an option is out of range or inconsistent
  protocol_error,  // the peer broke the wire format (bad hello, duplicate id, ...)
  truncated,       // a message ended before the length its header announced (Queue<T>::get)
  serialization,   // a payload could not be loaded by the serializer
  transport,       // the network layer failed (I/O error, TLS failure)
  unavailable,     // the protocol is not built into this library
};

NETQUEUE_API const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

// Base of every exception netqueue throws (or stores in a future).
class NETQUEUE_API Error : public std::system_error {
 public:
  Error(errc code, const std::string& what) : std::system_error(make_error_code(code), what), what_(what) {}
  errc value() const noexcept { return static_cast<errc>(code().value()); }
  // The message alone (std::system_error would append the code's name).
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// The peer (or this communicator) is closed or gone. `peer()` names it; it is
// the nil id when the peer was never identified (a server that never answered).
// value() says why, so that a program can act on it:
//   closed          the peer closed, or its connection was dropped or reset
//   timeout         a deadline passed: it did not come back within
//                   connection.resume_timeout, or close_for's deadline cut it
//   protocol_error  it broke the wire format (bad hello, data after goodbye, ...)
//   transport       the network layer failed (an I/O or TLS error, a lost broker)
// `cause()` is the lower-level error behind it when there is one (the socket's
// errno, in std::system_category), else empty.
class NETQUEUE_API ClosedError : public Error {
 public:
  ClosedError(const Id& peer, const std::string& what, errc code = errc::closed, std::error_code cause = {})
      : Error(code, what), peer_(peer), cause_(cause) {}
  const Id& peer() const noexcept { return peer_; }
  const std::error_code& cause() const noexcept { return cause_; }

 private:
  Id peer_;
  std::error_code cause_;
};

// An option failed validation; `option()` is its dotted name ("connection.max_size").
class NETQUEUE_API OptionError : public Error {
 public:
  OptionError(std::string option, const std::string& why)
      : Error(errc::invalid_option, "invalid option " + option + ": " + why), option_(std::move(option)) {}
  const std::string& option() const noexcept { return option_; }

 private:
  std::string option_;
};

}  // namespace netqueue

template <>
struct std::is_error_code_enum<netqueue::errc> : std::true_type {};
