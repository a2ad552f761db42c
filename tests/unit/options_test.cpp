// Unit tests of option validation (src/core/options.hpp), protocol names
// (include/netqueue/protocol.hpp) and the error types (include/netqueue/error.hpp).
#include "core/options.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <type_traits>

#include "core/transport.hpp"
#include "netqueue/communicator.hpp"
#include "netqueue/error.hpp"
#include "support/helpers.hpp"

namespace {

using netqueue::OptionError;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;
using netqueue::detail::validate;

static_assert(std::is_base_of_v<netqueue::Error, OptionError>);
static_assert(std::is_base_of_v<netqueue::Error, netqueue::ClosedError>);
static_assert(std::is_base_of_v<std::system_error, netqueue::Error>);
static_assert(std::is_error_code_enum_v<netqueue::errc>);

// The name of the option `validate` rejects, or "" when it accepts them all.
std::string rejected(const Options& o, Purpose purpose = Purpose::server, Protocol protocol = Protocol::tcp) {
  try {
    validate(o, purpose);
    if (const auto* t = netqueue::detail::find_transport(protocol)) t->validate(o, purpose);
    return "";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.code(), netqueue::errc::invalid_option);
    EXPECT_EQ(e.value(), netqueue::errc::invalid_option);
    EXPECT_NE(std::string(e.what()).find(e.option()), std::string::npos) << "the message names the option";
    return e.option();
  }
}

Options with(const std::function<void(Options&)>& change) {
  Options o;
  change(o);
  return o;
}

// A readable file for the TLS options, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(std::filesystem::temp_directory_path() /
              (name + "-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
               std::to_string(reinterpret_cast<std::uintptr_t>(this)))) {
    std::ofstream(path_) << "-----BEGIN NOTHING-----\n";
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

constexpr const char* missing_file = "/nonexistent/netqueue-unit-test/missing.pem";

TEST(Options, DefaultsAreValidForEveryProtocolAndPurpose) {
  for (Protocol p : {Protocol::tcp, Protocol::mqtt, Protocol::grpc, Protocol::inproc}) {
    for (Purpose u : {Purpose::client, Purpose::server}) {
      EXPECT_EQ(rejected(Options{}, u, p), "") << netqueue::to_string(p) << " " << netqueue::to_string(u);
    }
  }
}

TEST(Options, DefaultsFollowMaxSize) {
  Options o;
  EXPECT_EQ(o.netloc.host, "127.0.0.1");
  EXPECT_EQ(o.netloc.port, 51966u);
  EXPECT_EQ(o.connection.max_size, 4 * netqueue::MiB);
  EXPECT_EQ(o.connection.effective_merge_size(), o.connection.max_size);
  EXPECT_EQ(o.connection.effective_efficient_size(), o.connection.max_size / 64);
  o.connection.max_size = 6400;
  EXPECT_EQ(o.connection.effective_merge_size(), 6400u);
  EXPECT_EQ(o.connection.effective_efficient_size(), 100u);
  EXPECT_EQ(o.serialization.message_size, netqueue::GiB);
  EXPECT_FALSE(o.serialization.queue_size.has_value());
  EXPECT_EQ(o.workers, 1u);
  EXPECT_FALSE(o.security.active());
}

TEST(Options, BoundaryValuesAreValid) {
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.port = 65535; }), Purpose::client), "");
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.port = 0; }), Purpose::server), "");
  EXPECT_EQ(rejected(with([](Options& o) {
              o.connection.max_size = 1;
              o.connection.merge_size = 1;
              o.connection.efficient_size = 1;
            })),
            "");
  EXPECT_EQ(rejected(with([](Options& o) {
              o.connection.merge_size = 0;
              o.connection.efficient_size = 0;
            })),
            "");
  EXPECT_EQ(rejected(with([](Options& o) { o.serialization.message_size = 16; })), "");
  EXPECT_EQ(rejected(with([](Options& o) { o.serialization.queue_size = 1; })), "");
  EXPECT_EQ(rejected(with([](Options& o) { o.connection.connect_timeout = std::chrono::milliseconds(0); })), "");
}

TEST(Options, APortAbove65535IsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.port = 70000; })), "netloc.port");
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.port = 65536; }), Purpose::client), "netloc.port");
}

TEST(Options, AClientNeedsANonZeroPort) {
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.port = 0; }), Purpose::client), "netloc.port");
}

TEST(Options, AnEmptyHostIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.netloc.host.clear(); })), "netloc.host");
}

TEST(Options, ANegativeConnectTimeoutIsRejected) {
  EXPECT_EQ(
      rejected(with([](Options& o) { o.connection.connect_timeout = std::chrono::milliseconds(-1); }), Purpose::client),
      "connection.connect_timeout");
}

TEST(Options, AZeroMaxSizeIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.connection.max_size = 0; })), "connection.max_size");
}

TEST(Options, AMergeSizeLargerThanMaxSizeIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) {
              o.connection.max_size = 1024;
              o.connection.merge_size = 2048;
            })),
            "connection.merge_size");
}

TEST(Options, AnEfficientSizeLargerThanMergeSizeIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) {
              o.connection.max_size = 4096;
              o.connection.merge_size = 1024;
              o.connection.efficient_size = 2048;
            })),
            "connection.efficient_size");
  // Against the default merge size (max_size) too.
  EXPECT_EQ(rejected(with([](Options& o) {
              o.connection.max_size = 1024;
              o.connection.efficient_size = 1025;
            })),
            "connection.efficient_size");
}

TEST(Options, ZeroWorkersAreRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.workers = 0; })), "workers");
}

TEST(Options, AMessageSizeBelowAHelloIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.serialization.message_size = 0; })), "serialization.message_size");
  EXPECT_EQ(rejected(with([](Options& o) { o.serialization.message_size = 15; })), "serialization.message_size");
}

TEST(Options, AZeroQueueSizeIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.serialization.queue_size = 0; })), "serialization.queue_size");
}

TEST(Options, AZeroReceiveBoundIsRejected) {
  EXPECT_EQ(rejected(with([](Options& o) { o.connection.receive_bound = 0; })), "connection.receive_bound");
}

TEST(Options, ATlsServerNeedsAKeyAndACertificate) {
  TempFile cert("netqueue-cert"), key("netqueue-key");
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.certificate = cert.path(); })), "security.key");
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.key = key.path(); })), "security.certificate");
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.enabled = true; })), "security.key");
  EXPECT_EQ(rejected(with([&](Options& o) {
              o.security.key = key.path();
              o.security.certificate = cert.path();
            })),
            "");
}

TEST(Options, MissingKeyOrCertificateFilesAreRejected) {
  TempFile cert("netqueue-cert"), key("netqueue-key");
  EXPECT_EQ(rejected(with([&](Options& o) {
              o.security.key = missing_file;
              o.security.certificate = cert.path();
            })),
            "security.key");
  EXPECT_EQ(rejected(with([&](Options& o) {
              o.security.key = key.path();
              o.security.certificate = missing_file;
            })),
            "security.certificate");
  // A client's trust chain must be readable too.
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.certificate = missing_file; }), Purpose::client),
            "security.certificate");
}

TEST(Options, ATlsClientNeedsNoKey) {
  TempFile ca("netqueue-ca");
  EXPECT_EQ(rejected(with([](Options& o) { o.security.enabled = true; }), Purpose::client), "");
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.certificate = ca.path(); }), Purpose::client), "");
}

TEST(Options, AClientWithAKeyPresentsItsCertificate) {
  TempFile cert("netqueue-cert"), key("netqueue-key"), ca("netqueue-ca");
  for (const Protocol p : {Protocol::tcp, Protocol::grpc, Protocol::mqtt}) {
    if (!netqueue::detail::find_transport(p)) continue;
    const auto client = [&](auto set) { return rejected(with(set), Purpose::client, p); };
    EXPECT_EQ(client([&](Options& o) { o.security.key = key.path(); }), "security.certificate");
    EXPECT_EQ(client([&](Options& o) {
                o.security.key = key.path();
                o.security.certificate = cert.path();
                o.security.trust = ca.path();
              }),
              "");
    // Without a key, certificate is the trust chain: two trust chains are one too many.
    EXPECT_EQ(client([&](Options& o) {
                o.security.certificate = ca.path();
                o.security.trust = ca.path();
              }),
              "security.trust");
    EXPECT_EQ(client([&](Options& o) { o.security.trust = ca.path(); }), "");
    EXPECT_EQ(client([&](Options& o) { o.security.trust = missing_file; }), "security.trust");
  }
}

TEST(Options, AServerWithATrustChainAsksClientsForCertificates) {
  TempFile cert("netqueue-cert"), key("netqueue-key"), ca("netqueue-ca");
  const auto server = [&](Options& o) {
    o.security.key = key.path();
    o.security.certificate = cert.path();
  };
  EXPECT_EQ(rejected(with([&](Options& o) {
              server(o);
              o.security.trust = ca.path();
            })),
            "");
  // A trust chain alone turns TLS on, and a TLS server needs its own files.
  EXPECT_EQ(rejected(with([&](Options& o) { o.security.trust = ca.path(); })), "security.key");
}

TEST(Options, OnlyTcpOffersPartialChains) {
  TempFile ca("netqueue-ca");
  const auto pinned = [&](Options& o) {
    o.security.certificate = ca.path();
    o.security.partial_chain = true;
  };
  EXPECT_EQ(rejected(with(pinned), Purpose::client, Protocol::tcp), "");
  for (const Protocol p : {Protocol::grpc, Protocol::mqtt}) {
    if (!netqueue::detail::find_transport(p)) continue;
    EXPECT_EQ(rejected(with(pinned), Purpose::client, p), "security.partial_chain") << netqueue::to_string(p);
  }
}

TEST(Options, TheMessageSaysWhichOptionAndWhy) {
  try {
    validate(with([](Options& o) { o.netloc.port = 70000; }), Purpose::server);
    FAIL() << "port 70000 accepted";
  } catch (const OptionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("netloc.port"), std::string::npos) << what;
    EXPECT_NE(what.find("70000"), std::string::npos) << what;
  }
}

TEST(Options, ResolveFillsInAnIdAndALogHook) {
  Options resolved = netqueue::detail::resolve(Options{});
  ASSERT_TRUE(resolved.id.has_value());
  EXPECT_FALSE(resolved.id->is_nil());
  EXPECT_TRUE(static_cast<bool>(resolved.log));

  Options given;
  given.id = netqueue::Id::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  EXPECT_EQ(netqueue::detail::resolve(given).id, given.id);
}

TEST(ProtocolNames, ParseProtocolKnowsTcpMqttAndGrpc) {
  EXPECT_EQ(netqueue::parse_protocol("tcp"), Protocol::tcp);
  EXPECT_EQ(netqueue::parse_protocol("mqtt"), Protocol::mqtt);
  EXPECT_EQ(netqueue::parse_protocol("grpc"), Protocol::grpc);
  for (Protocol p : {Protocol::tcp, Protocol::mqtt, Protocol::grpc, Protocol::inproc})
    EXPECT_EQ(netqueue::parse_protocol(netqueue::to_string(p)), p);
}

TEST(ProtocolNames, AnUnknownProtocolThrowsAnOptionErrorListingTheValidOnes) {
  try {
    (void)netqueue::parse_protocol("udp");
    FAIL() << "udp accepted";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.code(), netqueue::errc::invalid_option);
    EXPECT_EQ(e.option(), "protocol");
    const std::string what = e.what();
    for (const char* name : {"udp", "tcp", "mqtt", "grpc"}) EXPECT_NE(what.find(name), std::string::npos) << what;
  }
  EXPECT_THROW((void)netqueue::parse_protocol("TCP"), OptionError);  // case-sensitive
  EXPECT_THROW((void)netqueue::parse_protocol(""), OptionError);
}

TEST(ProtocolNames, ParsePurposeKnowsClientAndServer) {
  EXPECT_EQ(netqueue::parse_purpose("client"), Purpose::client);
  EXPECT_EQ(netqueue::parse_purpose("server"), Purpose::server);
  EXPECT_EQ(netqueue::to_string(Purpose::client), "client");
  EXPECT_THROW((void)netqueue::parse_purpose("broker"), OptionError);
}

TEST(Errors, CodesCompareWithTheEnumAndHaveMessages) {
  const netqueue::Error e(netqueue::errc::timeout, "waited too long");
  EXPECT_EQ(e.code(), netqueue::errc::timeout);
  EXPECT_NE(e.code(), netqueue::errc::closed);
  EXPECT_EQ(e.value(), netqueue::errc::timeout);
  EXPECT_STREQ(e.code().category().name(), "netqueue");
  EXPECT_EQ(e.code().message(), "timed out");
  EXPECT_NE(std::string(e.what()).find("waited too long"), std::string::npos);

  const netqueue::Id peer = netqueue::Id::random();
  const netqueue::ClosedError closed(peer, "gone");
  EXPECT_EQ(closed.code(), netqueue::errc::closed);
  EXPECT_EQ(closed.peer(), peer);

  const OptionError bad("workers", "at least one");
  EXPECT_EQ(bad.code(), netqueue::errc::invalid_option);
  EXPECT_EQ(bad.option(), "workers");
}

TEST(CommunicatorOptions, TheConstructorRejectsInvalidOptions) {
  Options bad;
  bad.connection.max_size = 0;
  try {
    netqueue::Communicator c(Protocol::tcp, Purpose::server, bad);
    FAIL() << "a server was made with max_size 0";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "connection.max_size");
    EXPECT_EQ(e.code(), netqueue::errc::invalid_option);
  }

  Options no_port;
  no_port.netloc.port = 0;
  EXPECT_THROW(netqueue::Communicator(Protocol::tcp, Purpose::client, no_port), OptionError);

  Options too_high;
  too_high.netloc.port = 70000;
  EXPECT_THROW(netqueue::Communicator(Protocol::tcp, Purpose::server, too_high), OptionError);
}

}  // namespace

TEST(MakeCommunicator, BuildsFromRunTimeNamesAndRejectsUnknownOnes) {
  netqueue::Options o;
  o.netloc.port = 0;
  o.log = nqtest::quiet_log();
  netqueue::Communicator server = netqueue::make_communicator("tcp", "server", o);
  EXPECT_EQ(server.protocol(), netqueue::Protocol::tcp);
  EXPECT_EQ(server.purpose(), netqueue::Purpose::server);
  EXPECT_NE(server.local_port(), 0);
  server.close();
  EXPECT_THROW(netqueue::make_communicator("udp", "server", o), netqueue::OptionError);
  EXPECT_THROW(netqueue::make_communicator("tcp", "both", o), netqueue::OptionError);
}

TEST(ParsePort, AcceptsPortNumbersAndRejectsTheRest) {
  EXPECT_EQ(netqueue::parse_port("51966"), 51966);
  EXPECT_EQ(netqueue::parse_port("0"), 0);
  for (const char* bad : {"", "65536", "-1", "80a", "port"}) {
    try {
      netqueue::parse_port(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const netqueue::OptionError& e) {
      EXPECT_EQ(e.option(), "netloc.port");
    }
  }
}
