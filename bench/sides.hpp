// The two sides of a run, each in this process: start handshake, the timed
// exchange (sync or async), close.
#pragma once

#include "config.hpp"
#include "report.hpp"
#include "workload.hpp"

namespace iops {

// Serves config.clients clients: waits for each one's start message, answers
// all at once, then times the exchange up to the end of close().
Result run_server(const Config& config, const Workload& workload);

// Runs config.clients client communicators, one thread each; the clock starts
// when all have their start answer and stops when all have closed.
Result run_client(const Config& config, const Workload& workload);

}  // namespace iops
