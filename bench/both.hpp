// PURPOSE `both`: the server and the client as two processes from one command.
#pragma once

#include "config.hpp"

namespace iops {

// Runs this executable twice, as the server and then the client, with the
// same arguments plus --child SIDE; each child writes its result next to the
// --json path (a temporary one when none was given). Prints both reports and
// merges both results into --json. Returns 0 when both sides succeeded.
int run_both(const Config& config, int argc, char** argv);

}  // namespace iops
