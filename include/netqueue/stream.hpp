/// @file
/// Stream: a chunked, zero-copy byte pipe.
///
/// A Chunk is a view of bytes plus (optionally) shared ownership of the memory
/// that holds them. The three ways to make one look different on purpose:
///
/// - `Chunk::borrow(bytes)`: no copy, no ownership: the caller keeps `bytes`
///   alive and unmodified for as long as any copy of the chunk (or of a Stream
///   holding it) exists, or until the put future that carries it resolves.
/// - `Chunk::adopt(container)`: no copy: the container is moved into shared
///   ownership and freed with the last chunk viewing it.
/// - `Chunk::copy_of(bytes)`: copies `bytes` into new memory the chunk owns.
///
/// A Stream is an ordered list of chunks. Writing adopts chunks, reading hands
/// them out, slicing shares memory; only to_bytes()/to_string()/copy_to() copy.
/// A Stream is not thread-safe; it is move-only (copy() makes a shallow copy).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "netqueue/export.hpp"

namespace netqueue {

/// A view of bytes plus (optionally) shared ownership of the memory that holds them.
///
/// A cheap value: copies and slices share the memory (an owned chunk's by reference count), and the bytes are never
/// modified through a chunk. They stay valid as long as the memory does: for an owned chunk, as long as it or any
/// chunk sharing its owner exists; for a borrowed one, as long as the caller keeps them. Thread safety as
/// `std::shared_ptr`'s: distinct chunks, even sharing memory, may be used from different threads at once.
class NETQUEUE_API Chunk {
 public:
  /// An empty chunk: no bytes, no owner.
  Chunk() noexcept = default;

  /// No copy, no ownership: the caller keeps `bytes` alive and unmodified for as long as any copy of the chunk (or
  /// of a Stream holding it) exists, or until the put future that carries it resolves.
  static Chunk borrow(std::span<const std::byte> bytes) noexcept { return Chunk({}, bytes); }
  /// As borrow(std::span<const std::byte>), the characters of `text`.
  static Chunk borrow(std::string_view text) noexcept { return borrow(std::as_bytes(std::span(text))); }

  /// Shares `owner`; `bytes` must lie in memory that `owner` keeps alive.
  static Chunk adopt(std::shared_ptr<const void> owner, std::span<const std::byte> bytes) noexcept {
    return Chunk(std::move(owner), bytes);
  }
  /// Moves a contiguous container (std::vector, std::string, ...) into shared
  /// ownership; its elements are the chunk's bytes. No copy of the elements (one allocation for the owner).
  template <class Container>
    requires(!std::is_lvalue_reference_v<Container> &&
             std::is_trivially_copyable_v<typename std::remove_cvref_t<Container>::value_type> &&
             requires(Container & c) { std::span(c); })
  static Chunk adopt(Container&& container) {
    auto owner = std::make_shared<const std::remove_cvref_t<Container>>(std::move(container));
    return Chunk(owner, std::as_bytes(std::span(*owner)));
  }
  /// Copies `bytes` into new memory the chunk owns.
  static Chunk copy_of(std::span<const std::byte> bytes);
  /// As copy_of(std::span<const std::byte>), the characters of `text`.
  static Chunk copy_of(std::string_view text) { return copy_of(std::as_bytes(std::span(text))); }

  /// The first byte (null for a default-constructed chunk); valid as long as the chunk's memory.
  const std::byte* data() const noexcept { return data_; }
  /// The number of bytes.
  std::size_t size() const noexcept { return size_; }
  /// True when size() is 0.
  bool empty() const noexcept { return size_ == 0; }
  /// The bytes (no copy); valid as long as the chunk's memory.
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  /// The bytes as characters (no copy); valid as long as the chunk's memory.
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_), size_}; }

  /// True when the chunk shares ownership of its memory (adopted or copied).
  bool owned() const noexcept { return owner_ != nullptr; }
  /// What keeps the memory alive; null for a borrowed chunk.
  const std::shared_ptr<const void>& owner() const noexcept { return owner_; }

  /// Bytes [offset, offset + count) of this chunk, sharing its memory. `count`
  /// is clamped to what is there; throws std::out_of_range if offset > size().
  Chunk slice(std::size_t offset, std::size_t count = static_cast<std::size_t>(-1)) const;

 private:
  Chunk(std::shared_ptr<const void> owner, std::span<const std::byte> bytes) noexcept
      : owner_(std::move(owner)), data_(bytes.data()), size_(bytes.size()) {}

  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// An ordered list of chunks: a message's bytes, without copies.
///
/// Writing adopts chunks, reading hands them out, slicing shares memory; only to_bytes()/to_string()/copy_to()
/// copy. Move-only (copy() makes a shallow copy); a moved-from stream is empty. A stream of one chunk (the common
/// case) keeps it inline: making and passing one allocates nothing.
///
/// Not thread-safe: one Stream object is used by one thread at a time (concurrent const calls excepted). Streams
/// sharing memory may be used from different threads, as chunks may.
class NETQUEUE_API Stream {
 public:
  /// An empty stream: no chunks.
  Stream() noexcept = default;
  /// A stream of one chunk (no allocation).
  explicit Stream(Chunk chunk) noexcept : one_(std::move(chunk)), bytes_(one_.size()), mode_(Mode::one) {}
  /// Takes the chunks of `other`, leaving it empty.
  Stream(Stream&& other) noexcept { take(other); }
  /// Drops this stream's chunks and takes those of `other`, leaving it empty.
  Stream& operator=(Stream&& other) noexcept {
    if (this != &other) {
      clear();
      take(other);
    }
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  /// One-chunk stream viewing `bytes`; the same ownership rules as Chunk::borrow (no copy: the caller keeps the
  /// bytes alive and unmodified).
  static Stream borrow(std::span<const std::byte> bytes) noexcept { return Stream(Chunk::borrow(bytes)); }
  /// As borrow(std::span<const std::byte>), the characters of `text`.
  static Stream borrow(std::string_view text) noexcept { return Stream(Chunk::borrow(text)); }
  /// One-chunk stream owning `container`, moved in without a copy; the same rules as Chunk::adopt.
  template <class Container>
    requires(!std::is_lvalue_reference_v<Container>)
  static Stream adopt(Container&& container) { return Stream(Chunk::adopt(std::forward<Container>(container))); }
  /// One-chunk stream of a copy of `bytes` (Chunk::copy_of).
  static Stream copy_of(std::span<const std::byte> bytes) { return Stream(Chunk::copy_of(bytes)); }
  /// As copy_of(std::span<const std::byte>), the characters of `text`.
  static Stream copy_of(std::string_view text) { return Stream(Chunk::copy_of(text)); }

  /// The number of chunks, empty ones included.
  std::size_t chunks() const noexcept { return static_cast<std::size_t>(end() - begin()); }
  std::size_t size() const noexcept { return bytes_; }  ///< bytes, in all chunks
  /// True when the stream has no chunks (a stream of empty chunks is not empty, though its size() is 0).
  bool empty() const noexcept { return bytes_ == 0 && mode_ == Mode::none; }

  /// First chunk, removed (read) or not (peek()). Throws std::out_of_range when empty.
  Chunk read();
  /// First chunk, left in place; the reference is valid until the stream changes.
  /// @throws std::out_of_range when the stream is empty.
  const Chunk& peek() const;
  /// Puts a chunk back in front (the inverse of read).
  void unread(Chunk chunk);
  /// Appends a chunk (empty chunks are kept: they count as chunks, not bytes).
  void write(Chunk chunk);
  /// Removes the last chunk (the inverse of write). Throws std::out_of_range when empty.
  Chunk unwrite();
  /// All chunks, leaving the stream empty.
  std::vector<Chunk> read_all();
  /// Appends each chunk of `chunks` in order, as write() does (a chunk copied from the range shares its memory).
  template <class Range>
  void write_all(Range&& chunks) {
    for (auto&& c : chunks) write(Chunk(std::forward<decltype(c)>(c)));
  }
  /// Appends every chunk of `other`, leaving it empty.
  void append(Stream&& other);
  /// The first n bytes as a new stream, splitting a chunk without copying if
  /// needed. Throws std::out_of_range when n > size().
  Stream read(std::size_t n);
  /// Drops every chunk (and its share of their memory), leaving the stream empty.
  void clear() noexcept;
  /// A shallow copy: new chunk list, same memory.
  ///
  /// Borrowed chunks stay borrowed: the copy needs the caller's bytes as the original does.
  Stream copy() const;
  /// Makes borrowed chunks share ownership of `owner` (which must keep their
  /// memory alive): used to turn a borrowed view of a value the library now owns
  /// into an owned one.
  void keep_alive(const std::shared_ptr<const void>& owner);

  /// All bytes, copied into one vector. With to_string() and copy_to(), the only copying operations: contiguous
  /// bytes out.
  std::vector<std::byte> to_bytes() const;
  /// All bytes, copied into one string.
  std::string to_string() const;
  /// Copies all bytes into `out`; throws std::out_of_range if out.size() < size().
  ///
  /// Bytes of `out` past size() are left as they were.
  void copy_to(std::span<std::byte> out) const;
  /// The single chunk's bytes when the stream is one chunk (no copy), else empty.
  ///
  /// Valid as long as that chunk's memory (see Chunk).
  std::span<const std::byte> contiguous() const noexcept {
    return chunks() == 1 ? begin()->bytes() : std::span<const std::byte>{};
  }

  /// The first chunk, for range-for over the chunks; begin() and end() are invalidated by any change to the stream.
  const Chunk* begin() const noexcept { return mode_ == Mode::one ? &one_ : many_.data() + head_; }
  /// Past the last chunk (see begin()).
  const Chunk* end() const noexcept { return mode_ == Mode::one ? &one_ + 1 : many_.data() + many_.size(); }

 private:
  // A stream of one chunk (the common case: one message, one buffer) keeps it
  // inline, so making and passing one allocates nothing.
  enum class Mode : unsigned char { none, one, many };
  Chunk* first() noexcept { return const_cast<Chunk*>(begin()); }
  void take(Stream& other) noexcept;
  void insert(Chunk chunk, bool front);

  Chunk one_;                // Mode::one
  std::vector<Chunk> many_;  // Mode::many: chunks from head_ on
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;
  Mode mode_ = Mode::none;
};

}  // namespace netqueue
