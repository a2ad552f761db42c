// Mutual TLS (a server with security.trust asks every client for a
// certificate) and the partial-chain flag, over every transport that
// terminates TLS itself: tcp and grpc.
#ifdef NETQUEUE_TEST_HAVE_TLS

#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

#include "tcp_support.hpp"

namespace {

using namespace nqtest;
using netqueue::Communicator;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;

std::vector<TransportCase> tls_cases() {
  std::vector<TransportCase> cases{{"tcp_tls", Protocol::tcp, true}};
#ifdef NETQUEUE_TEST_HAVE_GRPC
  cases.push_back({"grpc_tls", Protocol::grpc, true});
#endif
  return cases;
}

std::string cert(const char* name) { return certs_dir() + "/" + name; }

// A client that presents `certificate` and `key` (none when empty) and
// trusts the test CA.
Options client_with(const TransportCase& c, std::uint16_t port, const char* certificate, const char* key) {
  Options o = client_options(c, port);
  o.security = {};
  o.security.trust = cert("ca.pem");
  if (*certificate) {
    o.security.certificate = cert(certificate);
    o.security.key = cert(key);
  }
  o.connection.connect_timeout = 3s;
  o.log = [](netqueue::LogLevel, std::string_view) {};
  return o;
}

// How the first put of a client with options `o` to `server` ends: "" when
// the server got it and answered, else the error that failed it.
std::string first_exchange(Communicator& server, Protocol protocol, const Options& o) {
  Communicator client(protocol, Purpose::client, o);
  auto f = client.put(text("hello from a client"));
  if (!f.wait_for(20s)) return "the put was still pending after 20 s";
  try {
    f.get();
  } catch (const netqueue::Error& e) {
    client.close_for(5s);
    return e.what();
  }
  // Over TLS 1.3 a client's handshake ends before the server has checked
  // its certificate, so a refused client's first put may leave (resolve)
  // and the refusal comes as the end of its session: get says why.
  std::optional<netqueue::Message> m;
  for (auto until = std::chrono::steady_clock::now() + 10s; !m && std::chrono::steady_clock::now() < until;) {
    m = server.get_for(20ms);
    try {
      if (!m) (void)client.get_for(0ms);
    } catch (const netqueue::Error& e) {
      return e.what();
    }
  }
  if (!m) return "the put succeeded but for 10 s the server got nothing and the client no error";
  EXPECT_EQ(text_of(*m), "hello from a client");
  settled(server.put(text("answer"), client.id())).get();
  auto answer = client.get_for(10s);
  if (!answer) return "the client got no answer within 10 s";
  EXPECT_EQ(text_of(*answer), "answer");
  client.close_for(5s);
  return {};
}

class MutualTls : public testing::TestWithParam<TransportCase> {
 protected:
  void SetUp() override {
    Options o = server_options(GetParam());
    o.security.trust = cert("ca.pem");
    o.log = log_.hook();
    server_.emplace(GetParam().protocol, Purpose::server, o);
  }
  void TearDown() override {
    if (server_) server_->close_for(10s);
  }

  std::string first_exchange(const Options& o) { return ::first_exchange(*server_, GetParam().protocol, o); }
  std::uint16_t port() const { return server_->local_port(); }

  LogCapture log_;
  std::optional<Communicator> server_;
};

TEST_P(MutualTls, AClientWithACertificateTheServerTrustsIsServed) {
  EXPECT_EQ(first_exchange(client_with(GetParam(), port(), "client.pem", "client.key")), "");
}

TEST_P(MutualTls, AClientWithoutACertificateIsRefusedAndOthersAreServed) {
  const std::string why = first_exchange(client_with(GetParam(), port(), "", ""));
  EXPECT_NE(why, "") << "a client without a certificate was served by a server that requires one";
  // TLS's alert over tcp; gRPC reports only a closed socket, and says what that may mean.
  const char* reason = GetParam().protocol == Protocol::tcp ? "certificate required" : "want a client certificate";
  EXPECT_NE(why.find(reason), std::string::npos) << "the error does not say a certificate was wanted: " << why;
  EXPECT_EQ(first_exchange(client_with(GetParam(), port(), "client.pem", "client.key")), "")
      << "a certified client was not served after a refused one";
}

TEST_P(MutualTls, AClientWithACertificateFromAnotherCaIsRefusedAndOthersAreServed) {
  const std::string why = first_exchange(client_with(GetParam(), port(), "other-client.pem", "other-client.key"));
  EXPECT_NE(why, "") << "a client with an untrusted certificate was served";
  const char* reason = GetParam().protocol == Protocol::tcp ? "unknown ca" : "refuse our client certificate";
  EXPECT_NE(why.find(reason), std::string::npos) << "the error does not say the certificate was refused: " << why;
  // The server says why too (gRPC keeps its handshake failures to its own log).
  if (GetParam().protocol == Protocol::tcp) {
    EXPECT_TRUE(log_.wait_for(netqueue::LogLevel::error, {"unable to get local issuer certificate"}, 5s))
        << log_.dump();
  }
  EXPECT_EQ(first_exchange(client_with(GetParam(), port(), "client.pem", "client.key")), "")
      << "a certified client was not served after a refused one";
}

INSTANTIATE_TEST_SUITE_P(Tls, MutualTls, testing::ValuesIn(tls_cases()), case_name);

// A client may pin the server's own certificate (signed by a CA it does not
// name) with security.partial_chain, as Python 3.13's default context does.
TEST(PartialChain, PinningTheServersCertificateNeedsTheFlag) {
  Communicator server(Protocol::tcp, Purpose::server, server_options(tls_tcp()));
  auto pinned = [&](bool partial_chain) {
    Options o = client_options(tls_tcp(), server.local_port());
    o.security.certificate = cert("server.pem");
    o.security.partial_chain = partial_chain;
    o.connection.connect_timeout = 3s;
    o.log = [](netqueue::LogLevel, std::string_view) {};
    return first_exchange(server, Protocol::tcp, o);
  };
  const std::string without = pinned(false);
  EXPECT_NE(without.find("unable to get local issuer certificate"), std::string::npos)
      << "a pinned server certificate without partial_chain: " << without;
  EXPECT_EQ(pinned(true), "");
  server.close_for(10s);
}

}  // namespace

#endif  // NETQUEUE_TEST_HAVE_TLS
