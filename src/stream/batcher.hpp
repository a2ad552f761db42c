// Batcher: the send side of one session's stream. Frames go in whole; batches
// of at most max_size bytes come out as gather lists (split), with frames
// smaller than efficient_size copied into the preallocated merge buffer so
// they leave together (merge). Large payloads are never copied: their spans
// point into the callers' chunks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "netqueue/stream.hpp"

namespace netqueue::detail {

class Batcher {
 public:
  using Buffer = std::span<const std::byte>;

  Batcher(std::size_t max_size, std::size_t merge_size, std::size_t efficient_size);

  // Queues one frame with this payload.
  void push(Stream payload);
  bool empty() const noexcept { return frames_.empty(); }
  // Bytes of merge buffer held now (0 until needed, and after a burst).
  std::size_t merge_capacity() const noexcept { return merge_ ? merge_size_ : 0; }
  // Bytes queued and not yet consumed, headers included.
  std::uint64_t pending_bytes() const noexcept { return pending_; }

  // The next batch: a prefix of the pending bytes, at most max_size long, as
  // buffers that stay valid until consume() or clear(). Empty when nothing is
  // pending. Calling it again without consume() rebuilds the same batch.
  std::span<const Buffer> next();
  std::size_t batch_bytes() const noexcept { return batch_bytes_; }
  struct Completed {
    std::size_t frames = 0;     // frames whose last byte was in the batch
    std::uint64_t payload = 0;  // their payload bytes
  };
  // The last batch went out whole.
  Completed consume();
  // The next batch as owned memory, consumed at once: the callers' owned
  // chunks are shared (no copy), merged, header and borrowed bytes copied.
  // Empty when nothing is pending.
  struct Taken {
    Stream piece;
    Completed completed;
  };
  Taken take();
  // Drops everything (the connection is gone).
  void clear() noexcept;

  static constexpr std::size_t max_buffers = 64;

 private:
  struct Frame {
    std::array<std::byte, 8> header;
    std::size_t header_sent = 0;
    std::uint64_t size = 0;  // payload bytes, as pushed
    Stream payload;
  };
  void add(const std::byte* data, std::size_t size, const std::shared_ptr<const void>* owner = nullptr);
  void add_merged(const std::byte* data, std::size_t size);

  std::size_t max_size_, merge_size_, efficient_size_;
  std::deque<Frame> frames_;
  std::uint64_t pending_ = 0;
  std::unique_ptr<std::byte[]> merge_;  // allocated on first use
  std::size_t merge_used_ = 0;
  std::size_t merge_peak_ = 0;  // the most of merge_ a batch used since it was allocated
  std::vector<Buffer> buffers_;
  std::vector<const std::shared_ptr<const void>*> owners_;  // per buffer: its owner, null when not owned
  std::size_t batch_bytes_ = 0;
};

}  // namespace netqueue::detail
