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

// Called on an empty stream (a new one, or one just cleared). A stream of one
// chunk, the common case, moves without touching the vector.
void Stream::take(Stream& other) noexcept {
  if (other.mode_ == Mode::many) {
    many_ = std::move(other.many_);
    other.many_.clear();
  } else {
    one_ = std::move(other.one_);
  }
  head_ = std::exchange(other.head_, 0);
  bytes_ = std::exchange(other.bytes_, 0);
  mode_ = std::exchange(other.mode_, Mode::none);
}

Chunk Stream::read() {
  if (chunks() == 0) throw std::out_of_range("Stream::read: stream is empty");
  Chunk c = std::move(*first());
  bytes_ -= c.size();
  if (mode_ == Mode::one || ++head_ == many_.size()) clear();
  return c;
}

const Chunk& Stream::peek() const {
  if (chunks() == 0) throw std::out_of_range("Stream::peek: stream is empty");
  return *begin();
}

// Adds a chunk at the front or the back; a second chunk moves the first out of line.
void Stream::insert(Chunk chunk, bool front) {
  bytes_ += chunk.size();
  if (mode_ == Mode::none) {
    one_ = std::move(chunk);
    mode_ = Mode::one;
    return;
  }
  if (mode_ == Mode::one) {
    many_.clear();
    many_.push_back(std::move(one_));
    one_ = Chunk();
    head_ = 0;
    mode_ = Mode::many;
  }
  if (!front) {
    many_.push_back(std::move(chunk));
  } else if (head_ > 0) {
    many_[--head_] = std::move(chunk);
  } else {
    many_.insert(many_.begin(), std::move(chunk));
  }
}

void Stream::unread(Chunk chunk) { insert(std::move(chunk), true); }
void Stream::write(Chunk chunk) { insert(std::move(chunk), false); }

Chunk Stream::unwrite() {
  if (chunks() == 0) throw std::out_of_range("Stream::unwrite: stream is empty");
  if (mode_ == Mode::one) return read();
  Chunk c = std::move(many_.back());
  many_.pop_back();
  bytes_ -= c.size();
  if (head_ == many_.size()) clear();
  return c;
}

std::vector<Chunk> Stream::read_all() {
  std::vector<Chunk> out;
  if (mode_ == Mode::many && head_ == 0) {
    out = std::move(many_);
  } else {
    out.reserve(chunks());
    for (Chunk* c = first(); c != end(); ++c) out.push_back(std::move(*c));
  }
  clear();
  return out;
}

void Stream::append(Stream&& other) {
  if (chunks() == 0) {
    *this = std::move(other);
    return;
  }
  for (Chunk* c = other.first(); c != other.end(); ++c) write(std::move(*c));
  other.clear();
}

Stream Stream::read(std::size_t n) {
  if (n > bytes_)
    throw std::out_of_range("Stream::read: " + std::to_string(n) + " bytes asked, " + std::to_string(bytes_) +
                            " in the stream");
  Stream out;
  while (n > 0) {
    Chunk& front = *first();
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
  one_ = Chunk();
  many_.clear();
  head_ = 0;
  bytes_ = 0;
  mode_ = Mode::none;
}

Stream Stream::copy() const {
  Stream out;
  if (mode_ == Mode::one) {
    out.one_ = one_;
  } else {
    out.many_.assign(begin(), end());
  }
  out.mode_ = out.many_.empty() && mode_ == Mode::many ? Mode::none : mode_;
  out.bytes_ = bytes_;
  return out;
}

void Stream::keep_alive(const std::shared_ptr<const void>& owner) {
  for (Chunk* c = first(); c != end(); ++c)
    if (!c->owned()) *c = Chunk::adopt(owner, c->bytes());
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
