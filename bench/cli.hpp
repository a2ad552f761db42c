// The command line, as iops.py's: netqueue-iops PROTOCOL PURPOSE MODE [options].
#pragma once

#include <optional>

#include "config.hpp"

namespace iops {

// What the tool exits with when the command line is wrong.
inline constexpr int usage_error = 2;

// Fills `config` from the command line. Returns the exit code when the program
// ends here: 0 after --help, --version or --list-protocols, usage_error after
// printing what is wrong; nullopt when the run goes on.
std::optional<int> parse_command_line(int argc, char** argv, Config& config);

}  // namespace iops
