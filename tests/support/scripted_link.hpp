// A Link that moves nothing: a test (or fuzz target) drives the Pipe by hand
// on its own thread, the link's strand, and reads here how the core closed it.
// Header only, so that the fuzz targets (built apart) can use it too.
#pragma once

#include <atomic>
#include <string>

#include "core/transport.hpp"

namespace nqtest {

class ScriptedLink final : public netqueue::detail::Link {
 public:
  void wake_send() override {}
  void wake_receive() override {}
  // From the test's thread or the core's worker (a deadline).
  void close(bool graceful) override {
    closed_gracefully = graceful;
    closed = true;
  }
  std::string remote() const override { return "scripted"; }

  std::atomic<bool> closed{false}, closed_gracefully{false};
};

}  // namespace nqtest
