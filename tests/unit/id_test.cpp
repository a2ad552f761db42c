// Unit tests of netqueue::Id (include/netqueue/id.hpp).
#include "netqueue/id.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "netqueue/error.hpp"

namespace {

using netqueue::Id;

static_assert(Id::size == 16);
static_assert(sizeof(Id) == 16);
static_assert(std::is_trivially_copyable_v<Id>);
static_assert(std::is_nothrow_default_constructible_v<Id>);
static_assert(Id{} == Id{}, "constexpr construction and comparison");

constexpr std::array<std::uint8_t, 16> sample_bytes{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
                                                    0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};
const Id sample(sample_bytes);

TEST(Id, DefaultIsNil) {
  EXPECT_TRUE(Id().is_nil());
  EXPECT_EQ(Id().hex(), std::string(32, '0'));
  EXPECT_FALSE(sample.is_nil());
}

TEST(Id, RandomIsAVersion4UuidWithTheRfc4122Variant) {
  for (int i = 0; i < 100; ++i) {
    const Id id = Id::random();
    EXPECT_EQ(id.bytes()[6] >> 4, 4) << id.str();
    EXPECT_EQ(id.bytes()[8] >> 6, 2) << id.str();
    EXPECT_EQ(id.str()[14], '4');
    EXPECT_NE(std::string("89ab").find(id.str()[19]), std::string::npos) << id.str();
  }
}

TEST(Id, RandomDiffersBetweenCalls) {
  std::set<Id> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(Id::random());
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(Id::random().is_nil());
}

TEST(Id, HexIs32LowercaseDigitsAndStrIsTheCanonicalForm) {
  EXPECT_EQ(sample.hex(), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
  EXPECT_EQ(sample.str(), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
}

TEST(Id, BytesAreInRfc4122Order) {
  EXPECT_EQ(sample.bytes(), sample_bytes);
  ASSERT_EQ(sample.as_bytes().size(), 16u);
  EXPECT_EQ(sample.as_bytes()[0], std::byte{0x0f});
  EXPECT_EQ(sample.as_bytes()[15], std::byte{0xf0});
}

TEST(Id, ParseAcceptsEveryUsualSpelling) {
  for (const char* text : {"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                           "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}", "{0f1e2d3c4b5a69788796a5b4c3d2e1f0}",
                           "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
                           "0F1E2D3C4B5A69788796A5B4C3D2E1F0", "0f1E2d3C-4b5A-6978-8796-a5B4c3D2e1F0"}) {
    EXPECT_EQ(Id::parse(text), sample) << text;
  }
}

TEST(Id, ParseRoundTripsHexAndStr) {
  for (int i = 0; i < 20; ++i) {
    const Id id = Id::random();
    EXPECT_EQ(Id::parse(id.hex()), id);
    EXPECT_EQ(Id::parse(id.str()), id);
  }
}

TEST(Id, ParseRejectsTextThatIsNotAUuid) {
  for (const char* text : {"", "not a uuid", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f",  // 31 digits
                           "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",                  // 33 digits
                           "0f1e2d3c4b5a69788796a5b4c3d2e1f", "0f1e2d3c4b5a69788796a5b4c3d2e1f0a",
                           "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",   // not hex
                           "0f1e2d3c4-b5a-6978-8796-a5b4c3d2e1f0",   // dash misplaced
                           "0f1e2d3c-4b5a-6978-8796a5b4c3d2e1f0",    // a dash missing
                           "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",  // unbalanced brace
                           " 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",  // leading space
                           "0x0f1e2d3c4b5a69788796a5b4c3d2e1f0", "--------------------------------"}) {
    try {
      (void)Id::parse(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const netqueue::Error& e) {
      EXPECT_EQ(e.value(), netqueue::errc::invalid_option) << text;
      EXPECT_EQ(e.code(), netqueue::errc::invalid_option) << text;
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << "the message names the text: " << e.what();
    }
  }
}

TEST(Id, FromBytesTakesExactlySixteenBytes) {
  std::vector<std::byte> raw(16);
  for (std::size_t i = 0; i < 16; ++i) raw[i] = static_cast<std::byte>(sample_bytes[i]);
  EXPECT_EQ(Id::from_bytes(raw), sample);
  EXPECT_EQ(Id::from_bytes(sample.as_bytes()), sample);

  std::vector<std::byte> short_raw(15), long_raw(17);
  EXPECT_THROW((void)Id::from_bytes(short_raw), netqueue::Error);
  EXPECT_THROW((void)Id::from_bytes(long_raw), netqueue::Error);
  EXPECT_THROW((void)Id::from_bytes({}), netqueue::Error);
}

TEST(Id, ComparesByItsBytes) {
  Id a = Id::parse("00000000-0000-0000-0000-000000000001");
  Id b = Id::parse("00000000-0000-0000-0000-000000000002");
  Id c = Id::parse("01000000-0000-0000-0000-000000000000");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, Id::parse("00000000000000000000000000000001"));
}

TEST(Id, HashWorksInAnUnorderedSet) {
  std::unordered_set<Id> ids;
  std::vector<Id> made;
  for (int i = 0; i < 500; ++i) made.push_back(Id::random());
  for (const Id& id : made) ids.insert(id);
  for (const Id& id : made) ids.insert(id);  // duplicates collapse
  EXPECT_EQ(ids.size(), made.size());
  for (const Id& id : made) EXPECT_TRUE(ids.contains(id));
  EXPECT_FALSE(ids.contains(Id()));
  EXPECT_EQ(std::hash<Id>{}(sample), std::hash<Id>{}(Id::parse(sample.str())));
  // Ids that differ in one byte (in either half) hash differently here.
  std::array<std::uint8_t, 16> low = sample_bytes, high = sample_bytes;
  low[15] ^= 1;
  high[0] ^= 1;
  EXPECT_NE(std::hash<Id>{}(Id(low)), std::hash<Id>{}(sample));
  EXPECT_NE(std::hash<Id>{}(Id(high)), std::hash<Id>{}(sample));
}

}  // namespace
