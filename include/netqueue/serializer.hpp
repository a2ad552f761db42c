// Serializers: how a typed value becomes a Stream and back.
//
// A serializer S for a type T provides
//   static Stream dump(const T& value);   // may borrow `value`'s memory
//   static T      load(Stream data);      // throws on bad bytes
// and, optionally, `static Stream dump(T&& value)` that adopts the value.
// A dump that borrows (Bytes, Array) makes the caller keep the value alive and
// unmodified until the put future is ready; Queue::put(T&&) lifts that by
// taking ownership. A load that fails throws; Queue turns it into
// Error(errc::serialization) for that message only.
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

template <class S, class T>
concept SerializerFor = requires(const T& value, Stream data) {
  { S::dump(value) } -> std::same_as<Stream>;
  { S::load(std::move(data)) } -> std::same_as<T>;
};

namespace serializers {

// Streams as they are: no copy either way.
struct Raw {
  static Stream dump(const Stream& value) { return value.copy(); }
  static Stream dump(Stream&& value) { return std::move(value); }
  static Stream load(Stream data) { return data; }
};

// Byte containers (std::string, std::vector<std::byte|char|uint8_t>): the
// bytes as they are. dump borrows; load copies once into the container.
template <class T>
  requires(sizeof(typename T::value_type) == 1 && std::is_trivially_copyable_v<typename T::value_type>)
struct Bytes {
  static Stream dump(const T& value) { return Stream::borrow(std::as_bytes(std::span(value))); }
  static Stream dump(T&& value) { return Stream::adopt(std::move(value)); }
  static T load(Stream data) {
    T out(data.size(), typename T::value_type{});
    data.copy_to(std::as_writable_bytes(std::span(out)));
    return out;
  }
};

// Contiguous arrays of trivially copyable elements, sent straight from the
// caller's memory (dump borrows, no copy). Loading checks that the size is a
// whole number of elements.
template <class E>
  requires std::is_trivially_copyable_v<E>
struct Array {
  static Stream dump(const std::vector<E>& value) { return Stream::borrow(std::as_bytes(std::span(value))); }
  static Stream dump(std::vector<E>&& value) { return Stream::adopt(std::move(value)); }
  static std::vector<E> load(Stream data) {
    if (data.size() % sizeof(E) != 0)
      throw std::invalid_argument("array payload of " + std::to_string(data.size()) +
                                  " bytes is not a whole number of " + std::to_string(sizeof(E)) + "-byte elements");
    std::vector<E> out(data.size() / sizeof(E));
    data.copy_to(std::as_writable_bytes(std::span(out)));
    return out;
  }
};

// Composition: wraps another serializer and appends an 8-byte FNV-1a checksum
// of the payload, which load verifies before handing the rest to the inner
// serializer. The payload itself is not copied.
template <class Inner>
struct Checksummed {
  static std::uint64_t checksum(const Stream& data) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const Chunk& c : data)
      for (std::byte b : c.bytes()) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ULL;
    return h;
  }
  template <class T>
  static Stream dump(T&& value) {
    Stream out = Inner::dump(std::forward<T>(value));
    std::uint64_t h = checksum(out);
    std::vector<std::byte> tail(8);
    for (int i = 0; i < 8; ++i) tail[static_cast<std::size_t>(i)] = static_cast<std::byte>(h >> (56 - 8 * i));
    out.write(Chunk::adopt(std::move(tail)));
    return out;
  }
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

// The serializer Queue<T> uses unless told otherwise.
template <class T>
struct DefaultSerializer;
template <>
struct DefaultSerializer<Stream> {
  using type = serializers::Raw;
};
template <>
struct DefaultSerializer<std::string> {
  using type = serializers::Bytes<std::string>;
};
template <class E>
  requires(sizeof(E) == 1 && std::is_trivially_copyable_v<E>)
struct DefaultSerializer<std::vector<E>> {
  using type = serializers::Bytes<std::vector<E>>;
};
template <class E>
  requires(sizeof(E) > 1 && std::is_trivially_copyable_v<E>)
struct DefaultSerializer<std::vector<E>> {
  using type = serializers::Array<E>;
};

}  // namespace netqueue
