// gRPC transport: one bidirectional streaming call /grpc/comm per link, its
// messages raw pieces of the session's byte stream (no protobuf, no
// compression). A netqueue client keeps one call open for its session and the
// server pushes on it; net-queue's Python clients make a call per exchange and
// keep their session across calls (the session key is the client's
// connection, ServerContext::peer()).
#pragma once

#include "core/transport.hpp"

namespace netqueue::detail {

extern const TransportInfo grpc_transport;

}  // namespace netqueue::detail
