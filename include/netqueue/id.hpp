/// @file
/// Id: the 16-byte identity of a communicator (RFC 4122 UUID, byte order as
/// Python's uuid.bytes, which is also the wire format of hello and goodbye).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "netqueue/export.hpp"

namespace netqueue {

/// The identity of a communicator: 16 bytes, an RFC 4122 UUID.
///
/// A regular value: copyable, ordered and compared by its bytes, hashable (`std::hash<Id>` is specialized), so it
/// can key ordered and unordered containers. The nil id (all zero bytes) names no peer: a hello naming it is refused.
/// Const members may be called from any thread at once.
class NETQUEUE_API Id {
 public:
  static constexpr std::size_t size = 16;  ///< the bytes in an id

  /// The nil id (all zero bytes).
  constexpr Id() noexcept = default;
  /// The id made of `bytes`, in wire order.
  explicit constexpr Id(const std::array<std::uint8_t, size>& bytes) noexcept : bytes_(bytes) {}

  /// A random version 4 UUID from a cryptographically seeded generator.
  ///
  /// Safe to call from any thread at once: each thread has its own generator (std::mt19937_64 seeded from
  /// std::random_device). The ids are unique in practice, not secrets.
  static Id random();
  /// Parses 32 hex digits (either case), with or without the canonical dashes (8-4-4-4-12),
  /// optionally in braces or prefixed by "urn:uuid:".
  /// @throws Error errc::invalid_option, naming the text, when it is not a UUID.
  static Id parse(std::string_view text);
  /// The id made of `bytes`, which must be exactly 16.
  /// @throws Error errc::invalid_option when `bytes` is not 16 bytes long.
  static Id from_bytes(std::span<const std::byte> bytes);

  /// The 16 bytes, in wire order; the reference is valid as long as this Id.
  const std::array<std::uint8_t, size>& bytes() const noexcept { return bytes_; }
  /// The 16 bytes as a byte span viewing this Id (valid as long as it).
  std::span<const std::byte> as_bytes() const noexcept { return std::as_bytes(std::span(bytes_)); }
  /// True for the nil id (all zero bytes).
  bool is_nil() const noexcept { return *this == Id{}; }

  /// "0f1e2d3c4b5a69788796a5b4c3d2e1f0": the MQTT client id and topic form (lowercase).
  std::string hex() const;
  /// "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0": the canonical form (lowercase), as in messages and logs.
  std::string str() const;

  /// Byte-wise lexicographic order; `==` and `!=` compare the 16 bytes.
  friend constexpr auto operator<=>(const Id&, const Id&) noexcept = default;

 private:
  std::array<std::uint8_t, size> bytes_{};
};

}  // namespace netqueue

/// @cond
template <>
struct std::hash<netqueue::Id> {
  std::size_t operator()(const netqueue::Id& id) const noexcept {
    // A v4 UUID is random already: fold its two halves.
    std::uint64_t a = 0, b = 0;
    for (int i = 0; i < 8; ++i) a = (a << 8) | id.bytes()[i];
    for (int i = 8; i < 16; ++i) b = (b << 8) | id.bytes()[i];
    return static_cast<std::size_t>(a ^ (b * 0x9E3779B97F4A7C15ULL));
  }
};
/// @endcond
