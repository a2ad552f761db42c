#include "stream/batcher.hpp"

#include <algorithm>
#include <cstring>

#include "stream/frame.hpp"

namespace netqueue::detail {

Batcher::Batcher(std::size_t max_size, std::size_t merge_size, std::size_t efficient_size)
    : max_size_(max_size), merge_size_(merge_size), efficient_size_(efficient_size) {
  buffers_.reserve(max_buffers);
  owners_.reserve(max_buffers);
}

void Batcher::push(Stream payload) {
  Frame& f = frames_.emplace_back();
  encode_frame_header(payload.size(), f.header.data());
  pending_ += frame_header_size + payload.size();
  f.size = payload.size();
  f.payload = std::move(payload);
}

void Batcher::add(const std::byte* data, std::size_t size, const std::shared_ptr<const void>* owner) {
  if (size == 0) return;
  buffers_.emplace_back(data, size);
  owners_.push_back(owner);
  batch_bytes_ += size;
}

void Batcher::add_merged(const std::byte* data, std::size_t size) {
  std::byte* dst = merge_.get() + merge_used_;
  if (size) std::memcpy(dst, data, size);
  merge_used_ += size;
  batch_bytes_ += size;
  // Consecutive merged bytes form one buffer.
  if (!buffers_.empty() && buffers_.back().data() + buffers_.back().size() == dst) {
    buffers_.back() = Buffer(buffers_.back().data(), buffers_.back().size() + size);
  } else if (size) {
    buffers_.emplace_back(dst, size);
    owners_.push_back(nullptr);
  }
}

std::span<const Batcher::Buffer> Batcher::next() {
  buffers_.clear();
  owners_.clear();
  batch_bytes_ = 0;
  merge_used_ = 0;
  if (frames_.empty()) return {};
  if (!merge_ && merge_size_ > 0) merge_ = std::make_unique_for_overwrite<std::byte[]>(merge_size_);

  for (Frame& f : frames_) {
    std::size_t room = max_size_ - batch_bytes_;
    if (room == 0 || buffers_.size() + 2 > max_buffers) break;
    const std::size_t header_left = frame_header_size - f.header_sent;
    const std::size_t whole = header_left + f.payload.size();

    // Merge: a small frame is copied whole into the merge buffer.
    if (f.header_sent == 0 && whole < efficient_size_ && whole <= room && merge_used_ + whole <= merge_size_) {
      add_merged(f.header.data(), frame_header_size);
      for (const Chunk& c : f.payload) add_merged(c.data(), c.size());
      continue;
    }
    // Otherwise the header (merged when there is space) and the caller's chunks as they are.
    const std::size_t h = std::min(header_left, room);
    if (merge_used_ + h <= merge_size_) {
      add_merged(f.header.data() + f.header_sent, h);
    } else {
      add(f.header.data() + f.header_sent, h);
    }
    room -= h;
    for (const Chunk& c : f.payload) {
      if (room == 0 || buffers_.size() == max_buffers) break;
      const std::size_t take = std::min(c.size(), room);
      add(c.data(), take, c.owned() ? &c.owner() : nullptr);
      room -= take;
    }
    // Split: stop at the first frame that did not fit whole.
    if (batch_bytes_ < max_size_ && room > 0 && buffers_.size() < max_buffers) continue;
    break;
  }
  merge_peak_ = std::max(merge_peak_, merge_used_);
  return buffers_;
}

Batcher::Completed Batcher::consume() {
  std::size_t n = batch_bytes_;
  Completed completed;
  pending_ -= n;
  while (n > 0) {
    Frame& f = frames_.front();
    const std::size_t header_left = frame_header_size - f.header_sent;
    if (n >= header_left + f.payload.size()) {
      n -= header_left + f.payload.size();
      ++completed.frames;
      completed.payload += f.size;
      frames_.pop_front();
      continue;
    }
    const std::size_t h = std::min(n, header_left);
    f.header_sent += h;
    n -= h;
    if (n > 0) {
      f.payload.read(n);
      n = 0;
    }
  }
  buffers_.clear();
  owners_.clear();
  batch_bytes_ = 0;
  // Everything went out: a merge buffer that a burst filled far gives its
  // pages back, so that a server's idle sessions do not each keep one (a
  // session that merges a little at a time keeps its buffer and its pages).
  constexpr std::size_t keep = 64 * 1024;
  if (frames_.empty() && merge_peak_ > keep) {
    merge_.reset();
    merge_peak_ = 0;
  }
  return completed;
}

Batcher::Taken Batcher::take() {
  Taken out;
  if (next().empty()) return out;
  for (std::size_t i = 0; i < buffers_.size();) {
    if (owners_[i]) {
      out.piece.write(Chunk::adopt(*owners_[i], buffers_[i]));
      ++i;
      continue;
    }
    // A run of bytes nobody owns (merged, headers, borrowed): one copy.
    std::size_t end = i, size = 0;
    for (; end < buffers_.size() && !owners_[end]; ++end) size += buffers_[end].size();
    auto memory = std::make_shared_for_overwrite<std::byte[]>(size);
    std::byte* at = memory.get();
    for (; i < end; ++i) {
      std::memcpy(at, buffers_[i].data(), buffers_[i].size());
      at += buffers_[i].size();
    }
    out.piece.write(Chunk::adopt(std::move(memory), {at - size, size}));
  }
  out.completed = consume();
  return out;
}

void Batcher::clear() noexcept {
  frames_.clear();
  buffers_.clear();
  owners_.clear();
  pending_ = 0;
  batch_bytes_ = 0;
}

}  // namespace netqueue::detail
