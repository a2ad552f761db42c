#include "netqueue/id.hpp"

#include <random>
#include <string>

#include "netqueue/error.hpp"

namespace netqueue {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Id Id::random() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::array<std::uint8_t, size> b{};
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t r = engine();
    for (std::size_t j = 0; j < 8; ++j) b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return Id(b);
}

Id Id::parse(std::string_view text) {
  const std::string original(text);
  if (text.starts_with("urn:uuid:")) text.remove_prefix(9);
  if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
  std::string digits;
  for (char c : text)
    if (c != '-') digits.push_back(c);
  const bool dashes_ok = text.size() == 32 ||
                         (text.size() == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' && text[23] == '-');
  std::array<std::uint8_t, size> b{};
  bool ok = dashes_ok && digits.size() == 32;
  for (std::size_t i = 0; ok && i < size; ++i) {
    int hi = hex_value(digits[2 * i]), lo = hex_value(digits[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    b[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  if (!ok) throw Error(errc::invalid_option, "'" + original + "' is not a UUID (32 hex digits, dashes optional)");
  return Id(b);
}

Id Id::from_bytes(std::span<const std::byte> bytes) {
  if (bytes.size() != size) throw Error(errc::invalid_option, "an id is 16 bytes, not " + std::to_string(bytes.size()));
  std::array<std::uint8_t, size> b{};
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(bytes[i]);
  return Id(b);
}

std::string Id::hex() const {
  std::string out;
  out.reserve(32);
  for (std::uint8_t v : bytes_) {
    out.push_back(hex_digits[v >> 4]);
    out.push_back(hex_digits[v & 15]);
  }
  return out;
}

std::string Id::str() const {
  std::string h = hex();
  return h.substr(0, 8) + '-' + h.substr(8, 4) + '-' + h.substr(12, 4) + '-' + h.substr(16, 4) + '-' + h.substr(20);
}

}  // namespace netqueue
