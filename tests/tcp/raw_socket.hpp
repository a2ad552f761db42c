// Small blocking raw TCP sockets for the TCP transport tests: a client that
// speaks bytes (not netqueue) to a netqueue server, and a listener that plays
// the server for a netqueue client. Everything is on 127.0.0.1 and every wait
// is bounded (poll with a timeout), so a misbehaving peer fails a test instead
// of hanging it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <netqueue/id.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace nqtest {

using Bytes = std::vector<std::byte>;

// ---- frames (the wire format, written by hand on purpose) ----

inline Bytes frame_header(std::uint64_t length) {
  Bytes out(8);
  for (int i = 7; i >= 0; --i, length >>= 8) out[static_cast<std::size_t>(i)] = static_cast<std::byte>(length & 0xff);
  return out;
}

// resize + memcpy rather than insert: GCC 12 misreads the inlined insert at -O3.
inline void append(Bytes& out, std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  const std::size_t at = out.size();
  out.resize(at + bytes.size());
  std::memcpy(out.data() + at, bytes.data(), bytes.size());
}
inline void append(Bytes& out, std::string_view text) { append(out, std::as_bytes(std::span(text))); }

inline Bytes frame(std::span<const std::byte> payload) {
  Bytes out = frame_header(payload.size());
  append(out, payload);
  return out;
}
inline Bytes frame(std::string_view payload) { return frame(std::as_bytes(std::span(payload))); }
// A hello (or goodbye): the 16-byte id as one frame.
inline Bytes hello_frame(const netqueue::Id& id) { return frame(id.as_bytes()); }

inline Bytes slice(const Bytes& bytes, std::size_t from, std::size_t to) {
  return Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.begin() + static_cast<std::ptrdiff_t>(to));
}

inline std::string hex_dump(std::span<const std::byte> bytes, std::size_t max = 96) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto b = static_cast<unsigned>(bytes[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
    out += ' ';
  }
  if (bytes.size() > max) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

// First offset where a and b differ (or the shorter size); npos when equal.
inline std::size_t first_difference(std::span<const std::byte> a, std::span<const std::byte> b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  return a.size() == b.size() ? std::string::npos : n;
}

// ---- sockets ----

class RawSocket {
 public:
  using ms = std::chrono::milliseconds;

  RawSocket() = default;
  explicit RawSocket(int fd) : fd_(fd) {}
  RawSocket(RawSocket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  RawSocket& operator=(RawSocket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  ~RawSocket() { close(); }

  // Connects to 127.0.0.1:port (blocking; loopback answers at once).
  static RawSocket connect(std::uint16_t port, bool nodelay = true) {
    RawSocket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
    if (nodelay) s.set_nodelay(true);
    return s;
  }

  int fd() const noexcept { return fd_; }
  // This end's port (the server names the connection by it: "127.0.0.1:<port>").
  std::uint16_t local_port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    return ntohs(addr.sin_port);
  }
  bool is_open() const noexcept { return fd_ >= 0; }

  void set_nodelay(bool on) {
    int v = on ? 1 : 0;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
  }

  // Writes everything (blocking, bounded by `timeout`); false when the peer
  // reset the connection or the timeout passed.
  bool write_all(std::span<const std::byte> bytes, ms timeout = ms(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t done = 0;
    while (done < bytes.size()) {
      if (!wait(POLLOUT, deadline)) return false;
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool write_all(std::string_view text, ms timeout = ms(10000)) {
    return write_all(std::as_bytes(std::span(text)), timeout);
  }

  // Writes `bytes` in pieces whose sizes come from `next_size()`, sleeping a
  // little now and then so that the receiver really sees small reads.
  template <class NextSize>
  bool write_in_pieces(std::span<const std::byte> bytes, NextSize&& next_size, ms timeout = ms(30000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t done = 0, pieces = 0;
    while (done < bytes.size()) {
      const std::size_t n = std::min<std::size_t>(std::max<std::size_t>(next_size(), 1), bytes.size() - done);
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !write_all(bytes.subspan(done, n), left)) return false;
      done += n;
      ++pieces;
      // Every piece of the first few hundred (headers, small frames), then every 64th.
      if (pieces < 256 || pieces % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }

  enum class Read { data, eof, timeout, error };

  // One read of up to `max` bytes, appended to `out`.
  Read read_some(Bytes& out, std::size_t max, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!wait(POLLIN, deadline)) return Read::timeout;
    const std::size_t at = out.size();
    out.resize(at + max);
    ssize_t n;
    do {
      n = ::recv(fd_, out.data() + at, max, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    out.resize(at + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (n > 0) return Read::data;
    if (n == 0) return Read::eof;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Read::data;  // spurious wakeup: nothing read
    last_errno_ = errno;
    return Read::error;
  }

  // Reads exactly `n` bytes unless EOF, an error or the timeout comes first;
  // returns what was read (check its size).
  Bytes read_exact(std::size_t n, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Bytes out;
    while (out.size() < n) {
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (read_some(out, n - out.size(), left) != Read::data) break;
    }
    return out;
  }

  // Reads until EOF (returns eof), a reset (error) or the timeout; the bytes go to `out`.
  Read read_to_end(Bytes& out, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Read::timeout;
      const Read r = read_some(out, 64 * 1024, left);
      if (r != Read::data) return r;
    }
  }

  // True when the peer closed the connection (EOF or reset) within `timeout`;
  // whatever it sent before is discarded.
  bool wait_closed(ms timeout) {
    Bytes ignored;
    const Read r = read_to_end(ignored, timeout);
    return r == Read::eof || r == Read::error;
  }

  // Everything readable within `timeout` (then whatever follows at once).
  Bytes drain(ms timeout = ms(0)) {
    Bytes out;
    while (true) {
      const std::size_t before = out.size();
      if (read_some(out, 64 * 1024, timeout) != Read::data || out.size() == before) return out;
      timeout = ms(0);
    }
  }

  void shutdown_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }
  // An abrupt end: the kernel answers with RST, as for a killed process
  // whose socket had unread data (or SO_LINGER 0, as here).
  void abort() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }
  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  int last_errno() const noexcept { return last_errno_; }

 private:
  bool wait(short events, std::chrono::steady_clock::time_point deadline) {
    while (true) {
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
      if (r > 0) return true;  // ready, or an error/hang-up that the next call reports
      if (r == 0) return false;
      if (errno != EINTR) return false;
    }
  }

  int fd_ = -1;
  int last_errno_ = 0;
};

// A listening socket on 127.0.0.1, port chosen by the kernel.
class RawListener {
 public:
  // `listen` false: the port is bound but refuses connections (nothing listens
  // on it, and no other socket can take it while this one lives).
  explicit RawListener(bool listen = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || (listen && ::listen(fd_, 16) != 0))
      throw std::runtime_error(std::string("bind/listen: ") + std::strerror(errno));
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  RawListener(const RawListener&) = delete;
  RawListener& operator=(const RawListener&) = delete;
  ~RawListener() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::uint16_t port() const noexcept { return port_; }

  // The next connection, or a closed RawSocket when none came within `timeout`.
  RawSocket accept(std::chrono::milliseconds timeout, bool nodelay = true) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return RawSocket();
    RawSocket s(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (s.is_open() && nodelay) s.set_nodelay(true);
    return s;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Forwards bytes both ways between two connected sockets on a thread of its
// own, until both directions ended (EOF or error) or it is destroyed. Tests use
// it as a gate: a client connects to a RawListener, the test does what must
// happen "before the server answers", then relays to the real server.
class Relay {
 public:
  Relay(RawSocket a, RawSocket b) : a_(std::move(a)), b_(std::move(b)), thread_([this] { run(); }) {}
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay() {
    stop_ = true;
    thread_.join();
  }

 private:
  void run() {
    bool a_open = true, b_open = true;  // reading from a (to b), from b (to a)
    std::vector<std::byte> buf(64 * 1024);
    while (!stop_ && (a_open || b_open)) {
      pollfd p[2] = {{a_open ? a_.fd() : -1, POLLIN, 0}, {b_open ? b_.fd() : -1, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!p[i].revents) continue;
        RawSocket& from = i == 0 ? a_ : b_;
        RawSocket& to = i == 0 ? b_ : a_;
        bool& open = i == 0 ? a_open : b_open;
        const ssize_t n = ::recv(from.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) {
          if (!to.write_all(std::span(buf.data(), static_cast<std::size_t>(n)), std::chrono::milliseconds(5000)))
            open = false;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          open = false;
          to.shutdown_write();
        }
      }
    }
  }

  RawSocket a_, b_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace nqtest
