// Option validation and the defaults that depend on other options.
#pragma once

#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"

namespace netqueue::detail {

// Checks every protocol-independent field; throws OptionError naming the
// first bad one and why. Transports check their own (TransportInfo::validate).
void validate(const Options& options, Purpose purpose);

// Fills in what the user left to defaults (id, log hook).
Options resolve(Options options);

}  // namespace netqueue::detail
