// gRPC conformance cases: a server on 127.0.0.1 with port 0 read back, as
// for TCP, so the default Fixture fits; TLS with the test certificates; and
// grpc_poll, whose clients poll (grpc.poll, as for net-queue's Python server)
// against a netqueue server, which serves polling and pushing clients alike.
#include "support/helpers.hpp"

namespace nqtest {
namespace {

// Between two calls of a polling client, its session waits for the next one
// (connection.resume_timeout): a client that vanished then is noticed at
// that deadline. Polls come at least every 0.5 s, so the servers here give
// them 3 s, not the default 30 s.
class PollingFixture final : public Fixture {
 public:
  netqueue::Options server_options(const TransportCase& c) override {
    netqueue::Options o = Fixture::server_options(c);
    o.connection.resume_timeout = std::chrono::seconds(3);
    return o;
  }
  netqueue::Options server_options_at(const TransportCase& c, const Endpoint& where) override {
    netqueue::Options o = Fixture::server_options_at(c, where);
    o.connection.resume_timeout = std::chrono::seconds(3);
    return o;
  }
  netqueue::Options client_options(const TransportCase& c, const Endpoint& server) override {
    netqueue::Options o = Fixture::client_options(c, server);
    o.grpc.poll = true;
    return o;
  }
};

}  // namespace

std::vector<TransportCase> grpc_cases() {
  return {{"grpc", netqueue::Protocol::grpc},
          {"grpc_tls", netqueue::Protocol::grpc, true},
          {"grpc_poll", netqueue::Protocol::grpc, false, {}, std::make_shared<PollingFixture>()}};
}

}  // namespace nqtest
