// Option validation and the defaults that depend on other options.
#pragma once

#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"

namespace netqueue::detail {

// Checks every field; throws OptionError naming the first bad one and why.
void validate(const Options& options, Protocol protocol, Purpose purpose);
// Whether this build has TLS for TCP (defined in registry.cpp).
bool tls_available() noexcept;

// Fills in what the user left to defaults (id, log hook).
Options resolve(Options options);

}  // namespace netqueue::detail
