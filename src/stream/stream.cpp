#include "netqueue/stream.hpp"

#include <algorithm>
#include <stdexcept>

namespace netqueue {

Chunk Chunk::copy_of(std::span<const std::byte> bytes) {
  std::vector<std::byte> copy(bytes.begin(), bytes.end());
  return adopt(std::move(copy));
}

Chunk Chunk::slice(std::size_t offset, std::size_t count) const {
  if (offset > size_) throw std::out_of_range("Chunk::slice: offset past the end");
  return Chunk(owner_, {data_ + offset, std::min(count, size_ - offset)});
}

Chunk Stream::read() {
  if (chunks() == 0) throw std::out_of_range("Stream::read: stream is empty");
  Chunk c = std::move(chunks_[head_++]);
  bytes_ -= c.size();
  if (head_ == chunks_.size()) {
    chunks_.clear();
    head_ = 0;
  }
  return c;
}

const Chunk& Stream::peek() const {
  if (chunks() == 0) throw std::out_of_range("Stream::peek: stream is empty");
  return chunks_[head_];
}

void Stream::unread(Chunk chunk) {
  bytes_ += chunk.size();
  if (head_ > 0) {
    chunks_[--head_] = std::move(chunk);
  } else {
    chunks_.insert(chunks_.begin(), std::move(chunk));
  }
}

void Stream::write(Chunk chunk) {
  bytes_ += chunk.size();
  chunks_.push_back(std::move(chunk));
}

Chunk Stream::unwrite() {
  if (chunks() == 0) throw std::out_of_range("Stream::unwrite: stream is empty");
  Chunk c = std::move(chunks_.back());
  chunks_.pop_back();
  bytes_ -= c.size();
  if (head_ == chunks_.size()) clear();
  return c;
}

std::vector<Chunk> Stream::read_all() {
  std::vector<Chunk> out;
  if (head_ == 0) {
    out = std::move(chunks_);
  } else {
    out.assign(std::make_move_iterator(chunks_.begin() + static_cast<std::ptrdiff_t>(head_)),
               std::make_move_iterator(chunks_.end()));
  }
  clear();
  return out;
}

void Stream::append(Stream&& other) {
  if (chunks() == 0) {
    *this = std::move(other);
    other.clear();
  } else {
    for (Chunk& c : other.read_all()) write(std::move(c));
  }
}

Stream Stream::read(std::size_t n) {
  if (n > bytes_) throw std::out_of_range("Stream::read: " + std::to_string(n) + " bytes asked, " +
                                          std::to_string(bytes_) + " in the stream");
  Stream out;
  while (n > 0) {
    Chunk& front = chunks_[head_];
    if (front.size() <= n) {
      n -= front.size();
      out.write(read());
    } else {
      out.write(front.slice(0, n));
      front = front.slice(n);
      bytes_ -= n;
      n = 0;
    }
  }
  return out;
}

void Stream::clear() noexcept {
  chunks_.clear();
  head_ = 0;
  bytes_ = 0;
}

Stream Stream::copy() const {
  Stream out;
  out.chunks_.assign(begin(), end());
  out.bytes_ = bytes_;
  return out;
}

void Stream::keep_alive(const std::shared_ptr<const void>& owner) {
  for (auto it = chunks_.begin() + static_cast<std::ptrdiff_t>(head_); it != chunks_.end(); ++it)
    if (!it->owned()) *it = Chunk::adopt(owner, it->bytes());
}

void Stream::copy_to(std::span<std::byte> out) const {
  if (out.size() < bytes_) throw std::out_of_range("Stream::copy_to: destination smaller than the stream");
  std::byte* p = out.data();
  for (const Chunk& c : *this) {
    if (!c.empty()) std::memcpy(p, c.data(), c.size());
    p += c.size();
  }
}

std::vector<std::byte> Stream::to_bytes() const {
  std::vector<std::byte> out(bytes_);
  copy_to(out);
  return out;
}

std::string Stream::to_string() const {
  std::string out(bytes_, '\0');
  copy_to(std::as_writable_bytes(std::span(out)));
  return out;
}

}  // namespace netqueue
