// Unit tests of the serializers (include/netqueue/serializer.hpp, json.hpp) and
// the defaults Queue<T> picks (include/netqueue/queue.hpp).
#include "netqueue/serializer.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "netqueue/json.hpp"
#include "netqueue/queue.hpp"

namespace {

using netqueue::Chunk;
using netqueue::SerializerFor;
using netqueue::Stream;
namespace ser = netqueue::serializers;

// A user type with to_json/from_json found by ADL.
struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  bool operator==(const Point&) const = default;
};
void to_json(nlohmann::json& j, const Point& p) { j = nlohmann::json{{"x", p.x}, {"y", p.y}, {"label", p.label}}; }
void from_json(const nlohmann::json& j, Point& p) {
  j.at("x").get_to(p.x);
  j.at("y").get_to(p.y);
  j.at("label").get_to(p.label);
}

// A user-defined serializer: a 32-bit counter as 4 little-endian bytes.
struct Counter {
  std::uint32_t value = 0;
};
struct CounterSerializer {
  static Stream dump(const Counter& c) {
    std::vector<std::byte> out(4);
    for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>(c.value >> (8 * i));
    return Stream::adopt(std::move(out));
  }
  static Counter load(Stream data) {
    if (data.size() != 4) throw std::invalid_argument("a counter is 4 bytes");
    std::byte b[4];
    data.copy_to(b);
    Counter c;
    for (int i = 3; i >= 0; --i) c.value = (c.value << 8) | static_cast<std::uint8_t>(b[i]);
    return c;
  }
};
// Not a serializer: load returns the wrong type.
struct BrokenSerializer {
  static Stream dump(const Counter&) { return {}; }
  static int load(Stream) { return 0; }
};

static_assert(SerializerFor<CounterSerializer, Counter>);
static_assert(!SerializerFor<BrokenSerializer, Counter>);
static_assert(!SerializerFor<CounterSerializer, std::string>);
static_assert(SerializerFor<ser::Raw, Stream>);
static_assert(SerializerFor<ser::Bytes<std::string>, std::string>);
static_assert(SerializerFor<ser::Bytes<std::vector<std::byte>>, std::vector<std::byte>>);
static_assert(SerializerFor<ser::Bytes<std::vector<std::uint8_t>>, std::vector<std::uint8_t>>);
static_assert(SerializerFor<ser::Array<float>, std::vector<float>>);
static_assert(SerializerFor<ser::Json<>, nlohmann::json>);
static_assert(SerializerFor<ser::Json<Point>, Point>);
static_assert(SerializerFor<ser::Checksummed<ser::Bytes<std::string>>, std::string>);
static_assert(SerializerFor<ser::Checksummed<CounterSerializer>, Counter>);

// Queue<T> picks these unless told otherwise.
static_assert(std::is_same_v<netqueue::DefaultSerializer<Stream>::type, ser::Raw>);
static_assert(std::is_same_v<netqueue::DefaultSerializer<std::string>::type, ser::Bytes<std::string>>);
static_assert(
    std::is_same_v<netqueue::DefaultSerializer<std::vector<std::byte>>::type, ser::Bytes<std::vector<std::byte>>>);
static_assert(std::is_same_v<netqueue::DefaultSerializer<std::vector<char>>::type, ser::Bytes<std::vector<char>>>);
static_assert(std::is_same_v<netqueue::DefaultSerializer<std::vector<float>>::type, ser::Array<float>>);
static_assert(std::is_same_v<netqueue::DefaultSerializer<std::vector<std::int64_t>>::type, ser::Array<std::int64_t>>);
static_assert(std::is_same_v<netqueue::DefaultSerializer<nlohmann::json>::type, ser::Json<nlohmann::json>>);
// A Queue accepts a user serializer and refuses one that is not.
template <class T, class S>
concept QueueAccepts = requires {
  typename netqueue::Queue<T, S>;
};
static_assert(QueueAccepts<Counter, CounterSerializer>);
static_assert(!QueueAccepts<Counter, BrokenSerializer>);
static_assert(QueueAccepts<std::vector<float>, netqueue::DefaultSerializer<std::vector<float>>::type>);

template <class T>
const std::byte* bytes_ptr(const T& container) {
  return reinterpret_cast<const std::byte*>(container.data());
}

TEST(BytesSerializer, RoundTripsAString) {
  using S = ser::Bytes<std::string>;
  const std::string value = std::string("text with a \0 inside", 20) + std::string(3000, 'z');
  EXPECT_EQ(S::load(S::dump(value)), value);
  EXPECT_EQ(S::load(Stream()), "");
}

TEST(BytesSerializer, DumpBorrowsTheCallersBytes) {
  using S = ser::Bytes<std::string>;
  const std::string value(100, 'b');
  Stream s = S::dump(value);
  ASSERT_EQ(s.chunks(), 1u);
  EXPECT_EQ(s.peek().data(), bytes_ptr(value));
  EXPECT_EQ(s.size(), value.size());
  EXPECT_FALSE(s.peek().owned());
}

TEST(BytesSerializer, DumpOfAnRvalueAdoptsItWithoutCopying) {
  using S = ser::Bytes<std::string>;
  std::string value(1000, 'r');
  const std::byte* where = bytes_ptr(value);
  Stream s = S::dump(std::move(value));
  EXPECT_TRUE(s.peek().owned());
  EXPECT_EQ(s.peek().data(), where);
  EXPECT_EQ(s.to_string(), std::string(1000, 'r'));
}

TEST(BytesSerializer, RoundTripsAByteVectorAndBorrowsIt) {
  using S = ser::Bytes<std::vector<std::byte>>;
  std::vector<std::byte> value(300);
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<std::byte>(i * 7);
  Stream s = S::dump(value);
  EXPECT_EQ(s.peek().data(), value.data());
  EXPECT_EQ(S::load(std::move(s)), value);
}

TEST(BytesSerializer, LoadJoinsEveryChunk) {
  using S = ser::Bytes<std::string>;
  Stream s;
  s.write(Chunk::copy_of("he"));
  s.write(Chunk::copy_of(""));
  s.write(Chunk::copy_of("llo"));
  EXPECT_EQ(S::load(std::move(s)), "hello");
}

TEST(ArraySerializer, RoundTripsFloats) {
  using S = ser::Array<float>;
  const std::vector<float> value{0.0f, -1.5f, 3.25f, 1e30f, -0.0f};
  std::vector<float> back = S::load(S::dump(value));
  ASSERT_EQ(back.size(), value.size());
  for (std::size_t i = 0; i < value.size(); ++i) EXPECT_EQ(std::memcmp(&back[i], &value[i], sizeof(float)), 0);
}

TEST(ArraySerializer, DumpBorrowsTheCallersElements) {
  using S = ser::Array<float>;
  const std::vector<float> value(1000, 2.5f);
  Stream s = S::dump(value);
  ASSERT_EQ(s.chunks(), 1u);
  EXPECT_EQ(s.peek().data(), bytes_ptr(value));
  EXPECT_EQ(s.size(), value.size() * sizeof(float));
  EXPECT_FALSE(s.peek().owned());
}

TEST(ArraySerializer, LoadsElementsSplitAcrossChunks) {
  using S = ser::Array<std::uint32_t>;
  const std::vector<std::uint32_t> value{1, 2, 0xdeadbeef, 4};
  Stream whole = S::dump(value);
  Stream split;
  Chunk c = whole.read();
  split.write(c.slice(0, 5));  // cuts the second element in two
  split.write(c.slice(5));
  EXPECT_EQ(S::load(std::move(split)), value);
}

TEST(ArraySerializer, LoadRejectsASizeThatIsNotAWholeNumberOfElements) {
  using S = ser::Array<float>;
  EXPECT_THROW((void)S::load(Stream::copy_of("1234567")), std::invalid_argument);
  EXPECT_THROW((void)S::load(Stream::copy_of("12345")), std::invalid_argument);
  EXPECT_EQ(S::load(Stream::copy_of("12345678")).size(), 2u);
  EXPECT_TRUE(S::load(Stream()).empty());
}

TEST(RawSerializer, PassesStreamsThroughWithoutCopying) {
  Stream s;
  s.write(Chunk::copy_of("one"));
  s.write(Chunk::copy_of("two"));
  const std::byte* first = s.peek().data();

  Stream shallow = ser::Raw::dump(s);  // const&: a shallow copy, s is untouched
  EXPECT_EQ(shallow.chunks(), 2u);
  EXPECT_EQ(shallow.peek().data(), first);
  EXPECT_EQ(s.chunks(), 2u);

  Stream moved = ser::Raw::dump(std::move(s));
  EXPECT_EQ(moved.peek().data(), first);

  Stream loaded = ser::Raw::load(std::move(moved));
  EXPECT_EQ(loaded.peek().data(), first);
  EXPECT_EQ(loaded.to_string(), "onetwo");
}

TEST(JsonSerializer, RoundTripsAJsonValue) {
  using S = ser::Json<>;
  const nlohmann::json value = {{"name", "netqueue"}, {"sizes", {1, 2, 3}}, {"nested", {{"ok", true}}}};
  Stream s = S::dump(value);
  EXPECT_EQ(s.to_string(), value.dump());  // the payload is the JSON text (Python interop)
  EXPECT_EQ(S::load(std::move(s)), value);
}

TEST(JsonSerializer, LoadsJsonTextWrittenByAnotherPeer) {
  using S = ser::Json<>;
  nlohmann::json v = S::load(Stream::copy_of(R"({"a": [1, 2.5, "x"], "b": null})"));
  EXPECT_EQ(v["a"][1], 2.5);
  EXPECT_TRUE(v["b"].is_null());
}

TEST(JsonSerializer, RoundTripsAUserTypeWithToJsonAndFromJson) {
  using S = ser::Json<Point>;
  const Point p{3, -0.5, "origin-ish"};
  Stream s = S::dump(p);
  EXPECT_EQ(nlohmann::json::parse(s.to_string())["label"], "origin-ish");
  EXPECT_EQ(S::load(std::move(s)), p);
}

TEST(JsonSerializer, BadJsonThrows) {
  EXPECT_THROW((void)ser::Json<>::load(Stream::copy_of("{\"unterminated\": ")), nlohmann::json::exception);
  EXPECT_THROW((void)ser::Json<>::load(Stream()), nlohmann::json::exception);
  // Valid JSON of the wrong shape for the type.
  EXPECT_THROW((void)ser::Json<Point>::load(Stream::copy_of("[1, 2]")), nlohmann::json::exception);
}

TEST(ChecksummedSerializer, RoundTripsAndAppendsEightBytes) {
  using S = ser::Checksummed<ser::Bytes<std::string>>;
  const std::string value = "checked payload";
  Stream s = S::dump(value);
  EXPECT_EQ(s.size(), value.size() + 8);
  EXPECT_EQ(s.peek().data(), bytes_ptr(value));  // the payload itself is not copied
  EXPECT_EQ(S::load(std::move(s)), value);
  EXPECT_EQ(S::load(S::dump(std::string())), "");
}

TEST(ChecksummedSerializer, DetectsAFlippedByte) {
  using S = ser::Checksummed<ser::Bytes<std::string>>;
  const std::string value = "checked payload";
  const std::string wire = S::dump(value).to_string();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    std::string bad = wire;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_THROW((void)S::load(Stream::copy_of(bad)), std::invalid_argument) << "flipped byte " << i;
  }
  EXPECT_THROW((void)S::load(Stream::copy_of("short")), std::invalid_argument);
  EXPECT_EQ(S::load(Stream::copy_of(wire)), value);
}

TEST(ChecksummedSerializer, ComposesWithAUserSerializer) {
  using S = ser::Checksummed<CounterSerializer>;
  Stream s = S::dump(Counter{0x01020304});
  EXPECT_EQ(s.size(), 12u);
  EXPECT_EQ(S::load(std::move(s)).value, 0x01020304u);
}

TEST(UserSerializer, RoundTripsAndRejectsBadBytes) {
  Stream s = CounterSerializer::dump(Counter{42});
  EXPECT_EQ(CounterSerializer::load(std::move(s)).value, 42u);
  EXPECT_THROW((void)CounterSerializer::load(Stream::copy_of("12345")), std::invalid_argument);
}

}  // namespace
