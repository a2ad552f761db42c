// gRPC conformance cases: a server on 127.0.0.1 with port 0 read back, as
// for TCP, so the default Fixture fits; TLS with the test certificates.
#include "support/helpers.hpp"

namespace nqtest {

std::vector<TransportCase> grpc_cases() {
  return {{"grpc", netqueue::Protocol::grpc}, {"grpc_tls", netqueue::Protocol::grpc, true}};
}

}  // namespace nqtest
