// The wire frame: an unsigned 64-bit big-endian length, then that many bytes.
// FrameDecoder cuts frames out of the bytes a transport receives, zero copy:
// small frames are sliced out of a shared receive arena, large ones (and parts
// of messages over message_size) are read straight into a buffer of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "netqueue/message.hpp"
#include "netqueue/stream.hpp"

namespace netqueue::detail {

inline constexpr std::size_t frame_header_size = 8;

inline void encode_frame_header(std::uint64_t length, std::byte* out) noexcept {
  for (int i = 7; i >= 0; --i, length >>= 8) out[i] = static_cast<std::byte>(length & 0xff);
}
inline std::uint64_t decode_frame_header(const std::byte* in) noexcept {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<std::uint8_t>(in[i]);
  return n;
}

// A frame cut out of the stream: a whole message, or one part of a message
// larger than message_size (then `part` is set; it is set on a truncated one too).
struct DecodedFrame {
  Stream data;
  std::optional<Part> part;
  bool truncated = false;
};

// Large receive buffers, reused: a message buffer dropped by the application
// comes back here, so the next large frame lands in pages that are already
// mapped (and warm) instead of faulting fresh ones. Thread-safe: buffers are
// released from whatever thread drops the last chunk.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  BufferPool(std::size_t max_buffer, std::size_t max_cached) : max_buffer_(max_buffer), max_cached_(max_cached) {}
  ~BufferPool();
  // A buffer of at least `size` bytes (uninitialized).
  std::shared_ptr<std::byte[]> get(std::size_t size);

 private:
  struct Free {
    std::byte* data;
    std::size_t capacity;
  };
  bool put(std::byte* data, std::size_t capacity);

  const std::size_t max_buffer_, max_cached_;
  std::mutex mutex_;
  std::vector<Free> free_;
  std::size_t cached_ = 0;
};

class FrameDecoder {
 public:
  struct Limits {
    std::uint64_t message_size = std::uint64_t{1} << 30;
    std::size_t arena_size = 256 * 1024;        // shared receive buffer for small frames
    std::size_t large_frame = 32 * 1024;        // frames this large get a buffer of their own
    std::size_t pool_buffer = 8 * 1024 * 1024;  // largest buffer kept for reuse
    std::size_t pool_cached = 4 * 1024 * 1024;  // bytes kept for reuse, at most
  };

  explicit FrameDecoder(Limits limits);

  // Where the transport writes received bytes next; never empty. Valid until
  // the next call to commit() or feed().
  std::span<std::byte> buffer();
  // `n` bytes were written at the start of the last buffer(). Complete frames
  // (and complete parts) are appended to `out`.
  void commit(std::size_t n, std::vector<DecodedFrame>& out);
  // A piece in owned memory (MQTT, gRPC, inproc): frames lying whole inside
  // it are sliced without copying, and so are large stretches of a large
  // frame (its message is then a Stream of several chunks).
  void feed(const Chunk& piece, std::vector<DecodedFrame>& out);
  // The byte stream ended. Returns true when it ended inside a frame (or its
  // header). What arrived of a frame whose header was complete comes out as
  // a last part marked truncated: `part` says where it stopped (offset of its
  // first byte, the announced total), for a whole message as for a part.
  bool finish(std::vector<DecodedFrame>& out);
  // Bytes known to be on their way: the rest of the frame (part) being
  // received; 0 when nothing is known (between frames, header incomplete).
  std::size_t expected() const noexcept;
  // The announced length of the frame being received, once its header is in.
  std::optional<std::uint64_t> pending_length() const noexcept;
  // True between frames (nothing of a frame received yet).
  bool at_boundary() const noexcept { return !large_ && end_ == begin_; }

 private:
  void parse_arena(std::vector<DecodedFrame>& out);
  void start_large(std::uint64_t length);
  void new_part();
  void emit_part(std::vector<DecodedFrame>& out, bool truncated);
  void make_room(std::size_t need);
  // The current part's own buffer, allocated when bytes must be copied into it.
  std::byte* part_buffer();

  Limits limits_;
  std::shared_ptr<BufferPool> pool_;
  // The arena: bytes [begin_, end_) are received and not yet cut into frames.
  std::shared_ptr<std::byte[]> arena_;
  std::size_t begin_ = 0, end_ = 0;
  std::size_t offered_ = 0;  // size of the last buffer() into the arena
  // A large frame in progress: total length, bytes of it delivered in earlier
  // parts, and the current part: slices of fed pieces first (part_chunks_),
  // then, from byte part_base_ on, bytes copied into a buffer of its own.
  bool large_ = false;
  std::uint64_t total_ = 0, done_ = 0;
  Stream part_chunks_;
  std::shared_ptr<std::byte[]> part_;
  std::size_t part_size_ = 0, part_filled_ = 0, part_base_ = 0;
};

}  // namespace netqueue::detail
