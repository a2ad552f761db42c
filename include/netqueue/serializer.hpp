/// @file
/// Serializers: how a typed value becomes a Stream and back.
///
/// A serializer S for a type T provides
/// @code
///   static Stream dump(const T& value);   // may borrow `value`'s memory
///   static T      load(Stream data);      // throws on bad bytes
/// @endcode
/// and, optionally, `static Stream dump(T&& value)` that adopts the value.
/// A dump that borrows (Bytes, Array) makes the caller keep the value alive and
/// unmodified until the put future is ready; Queue::put(T&&) lifts that by
/// taking ownership. A load that fails throws; Queue turns it into
/// Error(errc::serialization) for that message only.
///
/// netqueue's serializers are stateless (static members only): safe to use from any thread at once.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "netqueue/stream.hpp"

namespace netqueue {

/// S serializes T: `S::dump(const T&)` returns a Stream and `S::load(Stream)` returns a T.
template <class S, class T>
concept SerializerFor = requires(const T& value, Stream data) {
  { S::dump(value) } -> std::same_as<Stream>;
  { S::load(std::move(data)) } -> std::same_as<T>;
};

/// The serializers netqueue provides; DefaultSerializer picks one by type.
namespace serializers {

/// Streams as they are: no copy either way.
struct Raw {
  /// A shallow copy of `value` (Stream::copy()): its chunks' memory is shared, borrowed chunks stay borrowed.
  static Stream dump(const Stream& value) { return value.copy(); }
  /// `value` itself, moved.
  static Stream dump(Stream&& value) { return std::move(value); }
  /// `data` itself; never throws.
  static Stream load(Stream data) { return data; }
};

/// Byte containers (`std::string`, `std::vector` of `std::byte`, `char` or `uint8_t`): the
/// bytes as they are. dump borrows; load copies once into the container.
template <class T>
  requires(sizeof(typename T::value_type) == 1 && std::is_trivially_copyable_v<typename T::value_type>)
struct Bytes {
  /// Borrows `value`'s bytes (no copy): keep it alive and unmodified until the put future is ready.
  static Stream dump(const T& value) { return Stream::borrow(std::as_bytes(std::span(value))); }
  /// Adopts `value` (Stream::adopt: moved, not copied); nothing to keep alive.
  static Stream dump(T&& value) { return Stream::adopt(std::move(value)); }
  /// The bytes of `data`, copied once into a new container; any bytes are valid.
  static T load(Stream data) {
    T out(data.size(), typename T::value_type{});
    data.copy_to(std::as_writable_bytes(std::span(out)));
    return out;
  }
};

/// Contiguous arrays of trivially copyable elements, sent straight from the
/// caller's memory (dump borrows, no copy). Loading checks that the size is a
/// whole number of elements.
///
/// The elements travel in the sender's representation (no byte-order conversion).
template <class E>
  requires std::is_trivially_copyable_v<E>
struct Array {
  /// Borrows `value`'s elements (no copy): keep it alive and unmodified until the put future is ready.
  static Stream dump(const std::vector<E>& value) { return Stream::borrow(std::as_bytes(std::span(value))); }
  /// Adopts `value` (Stream::adopt: moved, not copied); nothing to keep alive.
  static Stream dump(std::vector<E>&& value) { return Stream::adopt(std::move(value)); }
  /// The elements, copied once into a new vector.
  /// @throws std::invalid_argument when the size of `data` is not a whole number of elements.
  static std::vector<E> load(Stream data) {
    if (data.size() % sizeof(E) != 0)
      throw std::invalid_argument("array payload of " + std::to_string(data.size()) +
                                  " bytes is not a whole number of " + std::to_string(sizeof(E)) + "-byte elements");
    std::vector<E> out(data.size() / sizeof(E));
    data.copy_to(std::as_writable_bytes(std::span(out)));
    return out;
  }
};

/// Composition: wraps another serializer and appends an 8-byte FNV-1a checksum
/// of the payload, which load verifies before handing the rest to the inner
/// serializer. The payload itself is not copied.
template <class Inner>
struct Checksummed {
  /// The 64-bit FNV-1a hash of the bytes of `data`.
  static std::uint64_t checksum(const Stream& data) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const Chunk& c : data)
      for (std::byte b : c.bytes()) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
    return h;
  }
  /// Inner's dump of `value` (borrowing or adopting as Inner does for it), followed by a chunk holding the
  /// checksum, big-endian.
  template <class T>
  static Stream dump(T&& value) {
    Stream out = Inner::dump(std::forward<T>(value));
    std::uint64_t h = checksum(out);
    std::vector<std::byte> tail(8);
    for (int i = 0; i < 8; ++i) tail[static_cast<std::size_t>(i)] = static_cast<std::byte>(h >> (56 - 8 * i));
    out.write(Chunk::adopt(std::move(tail)));
    return out;
  }
  /// Verifies the checksum, then returns Inner's load of the payload before it.
  /// @throws std::invalid_argument when `data` is shorter than 8 bytes or the checksum does not match; else what
  ///         Inner's load throws.
  static auto load(Stream data) {
    if (data.size() < 8) throw std::invalid_argument("checksummed payload shorter than its 8-byte checksum");
    Stream body = data.read(data.size() - 8);
    std::byte tail[8];
    data.copy_to(tail);
    std::uint64_t want = 0;
    for (std::byte b : tail) want = (want << 8) | static_cast<std::uint8_t>(b);
    if (checksum(body) != want) throw std::invalid_argument("checksum mismatch: payload corrupted");
    return Inner::load(std::move(body));
  }
};

}  // namespace serializers

/// The serializer Queue<T> uses unless told otherwise.
///
/// Specialized for Stream, `std::string`, vectors of trivially copyable elements and, in netqueue/json.hpp,
/// `nlohmann::json`. For another T, give Queue a serializer as its second argument, or specialize this template
/// with a member `type`.
template <class T>
struct DefaultSerializer;
/// A Stream goes as it is.
template <>
struct DefaultSerializer<Stream> {
  using type = serializers::Raw;  ///< serializers::Raw
};
/// A string goes as its bytes.
template <>
struct DefaultSerializer<std::string> {
  using type = serializers::Bytes<std::string>;  ///< serializers::Bytes
};
/// A vector of one-byte elements goes as its bytes (one of larger trivially copyable elements: as an array).
template <class E>
  requires(sizeof(E) == 1 && std::is_trivially_copyable_v<E>)
struct DefaultSerializer<std::vector<E>> {
  using type = serializers::Bytes<std::vector<E>>;  ///< serializers::Bytes
};
/// A vector of larger trivially copyable elements goes as an array.
template <class E>
  requires(sizeof(E) > 1 && std::is_trivially_copyable_v<E>)
struct DefaultSerializer<std::vector<E>> {
  using type = serializers::Array<E>;  ///< serializers::Array
};

}  // namespace netqueue
