/// @file
/// netqueue: queue-based network messaging over TCP, MQTT and gRPC.
/// The umbrella header (the JSON serializer is in netqueue/json.hpp).
#pragma once

#include "netqueue/communicator.hpp"
#include "netqueue/error.hpp"
#include "netqueue/future.hpp"
#include "netqueue/id.hpp"
#include "netqueue/message.hpp"
#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"
#include "netqueue/queue.hpp"
#include "netqueue/serializer.hpp"
#include "netqueue/stream.hpp"
#include "netqueue/version.hpp"

/// @namespace netqueue
/// Queue-based network messaging: Communicator, SendFuture, Stream, Queue, their Options and errors.
