#include "stream/frame.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

namespace netqueue::detail {
namespace {

std::shared_ptr<std::byte[]> allocate(std::size_t n) {
  // Uninitialized on purpose: large allocations are mapped lazily, so pages
  // are committed as bytes arrive, not on the word of a length header.
  return std::make_shared_for_overwrite<std::byte[]>(n);
}

// True when no chunk cut from `arena` is alive any more, so that its bytes
// may be written again. use_count() is a relaxed load: the acquire fence pairs
// with the release in the last other owner's decrement, so that owner's reads
// happen before our writes. ThreadSanitizer cannot see fences, so under it
// arenas are never reused (a fresh one costs only speed).
bool sole_owner(const std::shared_ptr<std::byte[]>& arena) {
#if defined(__SANITIZE_THREAD__)
  (void)arena;
  return false;
#else
  if (arena.use_count() != 1) return false;
  std::atomic_thread_fence(std::memory_order_acquire);
  return true;
#endif
}

}  // namespace

BufferPool::~BufferPool() {
  for (const Free& f : free_) delete[] f.data;
}

std::shared_ptr<std::byte[]> BufferPool::get(std::size_t size) {
  std::byte* data = nullptr;
  std::size_t capacity = size;
  {
    std::lock_guard lock(mutex_);
    // Reuse a buffer that fits without wasting more than half of it.
    auto it = std::find_if(free_.begin(), free_.end(),
                           [&](const Free& f) { return f.capacity >= size && f.capacity / 2 <= size; });
    if (it != free_.end()) {
      data = it->data;
      capacity = it->capacity;
      cached_ -= capacity;
      free_.erase(it);
    }
  }
  if (!data) data = new std::byte[capacity];  // uninitialized: pages are committed as bytes arrive
  std::weak_ptr<BufferPool> pool = weak_from_this();
  return std::shared_ptr<std::byte[]>(data, [pool, capacity](std::byte* p) {
    if (auto live = pool.lock(); live && live->put(p, capacity)) return;
    delete[] p;
  });
}

bool BufferPool::put(std::byte* data, std::size_t capacity) {
  if (capacity > max_buffer_) return false;
  std::lock_guard lock(mutex_);
  if (cached_ + capacity > max_cached_) return false;
  free_.push_back({data, capacity});
  cached_ += capacity;
  return true;
}

FrameDecoder::FrameDecoder(Limits limits)
    : limits_(limits), pool_(std::make_shared<BufferPool>(limits.pool_buffer, limits.pool_cached)) {
  limits_.message_size = std::max<std::uint64_t>(limits_.message_size, 1);
  limits_.large_frame = std::min(limits_.large_frame, limits_.arena_size / 4);
}

std::byte* FrameDecoder::part_buffer() {
  if (!part_) {
    part_base_ = part_filled_;
    part_ = pool_->get(std::max<std::size_t>(part_size_ - part_filled_, 1));
  }
  return part_.get() + (part_filled_ - part_base_);
}

std::span<std::byte> FrameDecoder::buffer() {
  if (large_) return {part_buffer(), part_size_ - part_filled_};
  // A frame header, or a small frame, must fit whole after begin_.
  std::size_t need = frame_header_size;
  if (end_ - begin_ >= frame_header_size) need += decode_frame_header(arena_.get() + begin_);
  make_room(need);
  offered_ = limits_.arena_size - end_;
  return {arena_.get() + end_, offered_};
}

void FrameDecoder::make_room(std::size_t need) {
  const std::size_t min_read = 4096;
  if (arena_ && begin_ == end_ && sole_owner(arena_)) begin_ = end_ = 0;  // reuse, nobody holds it
  if (arena_ && limits_.arena_size - begin_ >= need && limits_.arena_size - end_ >= min_read) return;
  // Move the unparsed tail (less than a small frame) to a fresh or reusable arena.
  const std::size_t tail = end_ - begin_;
  if (arena_ && sole_owner(arena_)) {
    std::memmove(arena_.get(), arena_.get() + begin_, tail);
  } else {
    auto fresh = allocate(limits_.arena_size);
    if (tail) std::memcpy(fresh.get(), arena_.get() + begin_, tail);
    arena_ = std::move(fresh);
  }
  begin_ = 0;
  end_ = tail;
}

void FrameDecoder::commit(std::size_t n, std::vector<DecodedFrame>& out) {
  const bool into_arena = !large_;
  if (large_) {
    part_filled_ += n;
    if (part_filled_ == part_size_) emit_part(out, false);
  } else {
    end_ += n;
  }
  if (!large_) parse_arena(out);
  // The peer paused (a short read) after a burst that filled much of the
  // arena, and no frame is half received: let the arena go with the frames
  // cut from it, so that an idle session holds no receive memory (1,000
  // clients: 195 -> 183 MiB, bench/README.md); the next read takes a fresh one.
  constexpr std::size_t burst = 64 * 1024;
  if (into_arena && !large_ && n < offered_ && begin_ == end_ && end_ > burst) {
    arena_.reset();
    begin_ = end_ = 0;
  }
}

void FrameDecoder::parse_arena(std::vector<DecodedFrame>& out) {
  while (true) {
    if (large_) {
      // Move what the arena holds of the large frame into its own buffer.
      std::size_t take = std::min(end_ - begin_, part_size_ - part_filled_);
      if (take) std::memcpy(part_buffer(), arena_.get() + begin_, take);
      begin_ += take;
      part_filled_ += take;
      if (part_filled_ < part_size_) return;
      emit_part(out, false);
      continue;
    }
    std::size_t avail = end_ - begin_;
    if (avail < frame_header_size) return;
    std::uint64_t length = decode_frame_header(arena_.get() + begin_);
    if (length > limits_.message_size || length >= limits_.large_frame) {
      begin_ += frame_header_size;
      start_large(length);
      continue;
    }
    if (avail - frame_header_size < length) return;
    Chunk body = Chunk::adopt(arena_, {arena_.get() + begin_ + frame_header_size, static_cast<std::size_t>(length)});
    out.push_back(DecodedFrame{Stream(std::move(body)), std::nullopt, false});
    begin_ += frame_header_size + length;
  }
}

void FrameDecoder::start_large(std::uint64_t length) {
  large_ = true;
  total_ = length;
  done_ = 0;
  new_part();
}

void FrameDecoder::new_part() {
  // No memory yet: it is committed as bytes arrive (or never, for slices).
  part_size_ = static_cast<std::size_t>(std::min(total_ - done_, limits_.message_size));
  part_filled_ = part_base_ = 0;
  part_.reset();
  part_chunks_.clear();
}

void FrameDecoder::emit_part(std::vector<DecodedFrame>& out, bool truncated) {
  const bool parts = total_ > limits_.message_size;
  Stream data = std::move(part_chunks_);
  if (part_ && part_filled_ > part_base_) data.write(Chunk::adopt(part_, {part_.get(), part_filled_ - part_base_}));
  DecodedFrame f{std::move(data), std::nullopt, truncated};
  if (parts || truncated) f.part = Part{done_, total_, truncated || done_ + part_filled_ == total_};
  out.push_back(std::move(f));
  done_ += part_filled_;
  part_.reset();
  part_chunks_.clear();
  if (!truncated && done_ < total_) {
    new_part();
  } else {
    large_ = false;
  }
}

void FrameDecoder::feed(const Chunk& piece, std::vector<DecodedFrame>& out) {
  std::size_t at = 0;
  while (at < piece.size()) {
    // Between frames, a whole small frame inside the piece is sliced as it is.
    if (at_boundary() && piece.size() - at >= frame_header_size) {
      std::uint64_t length = decode_frame_header(piece.data() + at);
      if (length < limits_.large_frame && length <= limits_.message_size &&
          piece.size() - at - frame_header_size >= length) {
        out.push_back(DecodedFrame{Stream(piece.slice(at + frame_header_size, length)), std::nullopt, false});
        at += frame_header_size + length;
        continue;
      }
    }
    // A large stretch of a large frame, with nothing copied yet into this
    // part: sliced too.
    constexpr std::size_t worth_slicing = 1024;
    if (large_ && !part_ && piece.owned()) {
      const std::size_t n = std::min(piece.size() - at, part_size_ - part_filled_);
      if (n >= worth_slicing || n == part_size_ - part_filled_) {
        part_chunks_.write(piece.slice(at, n));
        part_filled_ += n;
        at += n;
        if (part_filled_ == part_size_) emit_part(out, false);
        continue;
      }
    }
    // Inside a frame: copy only what completes it (or its header), so that
    // the frames after it can be sliced again.
    std::span<std::byte> dst = buffer();
    std::size_t n = std::min(dst.size(), piece.size() - at);
    if (!large_) {
      const std::size_t have = end_ - begin_;
      const std::size_t need = have < frame_header_size
                                   ? frame_header_size - have
                                   : frame_header_size + decode_frame_header(arena_.get() + begin_) - have;
      n = std::min(n, need);
    }
    std::memcpy(dst.data(), piece.data() + at, n);
    at += n;
    commit(n, out);
  }
}

std::optional<std::uint64_t> FrameDecoder::pending_length() const noexcept {
  if (large_) return total_;
  if (end_ - begin_ < frame_header_size) return std::nullopt;
  return decode_frame_header(arena_.get() + begin_);
}

std::size_t FrameDecoder::expected() const noexcept {
  if (large_) return part_size_ - part_filled_;
  const std::size_t have = end_ - begin_;
  if (have < frame_header_size) return 0;
  return frame_header_size + decode_frame_header(arena_.get() + begin_) - have;
}

bool FrameDecoder::finish(std::vector<DecodedFrame>& out) {
  if (!large_) {
    const std::size_t have = end_ - begin_;
    if (have >= frame_header_size) {
      // A small frame cut short: what arrived of it, sliced from the arena.
      const std::uint64_t length = decode_frame_header(arena_.get() + begin_);
      Chunk body = Chunk::adopt(arena_, {arena_.get() + begin_ + frame_header_size, have - frame_header_size});
      out.push_back(DecodedFrame{Stream(std::move(body)), Part{0, length, true}, true});
    }
    begin_ = end_ = 0;
    return have != 0;
  }
  emit_part(out, true);
  return true;
}

}  // namespace netqueue::detail
