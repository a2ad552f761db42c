// Tests that make a host vanish for real: the test runs itself again inside a
// private network namespace (unshare -n, as root), where it may change
// routes without touching the machine's. Skipped, saying why, where
// namespaces are not available.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/helpers.hpp"

namespace nqtest {

inline constexpr const char* netns_variable = "NQTEST_NETNS";

// True in the child, inside the namespace.
inline bool in_private_netns() { return std::getenv(netns_variable) != nullptr; }

// Runs `suite.test` of this program in a child inside a private network
// namespace and checks that it passed. The caller returns right after.
inline void run_in_private_netns(const std::string& suite, const std::string& test) {
  if (std::system("unshare -n true >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs a private network namespace (unshare -n, as root): not available here";
  // This program's own path: under unshare, /proc/self/exe would be unshare.
  std::vector<char> self(4096);
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  ASSERT_GT(n, 0) << "cannot read /proc/self/exe";
  Child child({"/usr/bin/unshare", "-n", std::string(self.data(), static_cast<std::size_t>(n)),
               "--gtest_filter=" + suite + "." + test},
              {std::string(netns_variable) + "=1"});
  const auto status = child.wait(std::chrono::milliseconds(100000));  // under ctest's 120 s
  ASSERT_TRUE(status) << "the test in the namespace did not end within 100 s:\n" << child.output();
  EXPECT_EQ(*status, 0) << child.output();
  EXPECT_NE(child.output().find("[  PASSED  ] 1 test"), std::string::npos) << child.output();
}

// Inside the namespace: loopback up, and 127.0.0.2 a black hole from now on.
inline void bring_loopback_up() { ASSERT_EQ(std::system("ip link set lo up"), 0) << "cannot bring loopback up"; }
inline void black_hole_127_0_0_2() {
  ASSERT_EQ(std::system("ip route add blackhole 127.0.0.2/32 table local"), 0) << "cannot add the blackhole route";
}

// What became of a put, for a failure message.
inline std::string fate_of(const netqueue::SendFuture& f) {
  if (!f.ready()) return "is still pending";
  try {
    f.get();
    return "was sent";
  } catch (const netqueue::Error& e) {
    return std::string("failed: ") + e.what();
  }
}

// A message each way between `server` and `client`, both acknowledged, each
// within 30 s: the link works. (The first exchange also connects; a loaded CI
// machine running sanitized tests side by side may take a while.)
inline void round_trip(netqueue::Communicator& server, netqueue::Communicator& client, const std::string& tag) {
  constexpr std::chrono::seconds within(30);
  auto up = client.put(text("up " + tag));
  auto m = server.get_for(within);
  ASSERT_TRUE(m) << tag << ": the server got nothing within " << within.count() << " s; the client's put "
                 << fate_of(up);
  EXPECT_EQ(m->peer, client.id()) << tag;
  EXPECT_EQ(m->data.to_string(), "up " + tag);
  auto down = server.put(text("down " + tag), client.id());
  auto r = client.get_for(within);
  ASSERT_TRUE(r) << tag << ": the client got nothing within " << within.count() << " s; the server's put "
                 << fate_of(down);
  EXPECT_EQ(r->data.to_string(), "down " + tag);
  ASSERT_TRUE(settled(up).wait_for(within) && settled(down).wait_for(within))
      << tag << ": the client's put " << fate_of(up) << ", the server's " << fate_of(down);
}

// `f` fails within 15 s with ClosedError naming `peer`.
inline void expect_closed(const netqueue::SendFuture& f, const netqueue::Id& peer, const std::string& what) {
  ASSERT_TRUE(f.wait_for(std::chrono::seconds(15))) << what << " never ended";
  try {
    f.get();
    ADD_FAILURE() << what << " succeeded";
  } catch (const netqueue::ClosedError& e) {
    EXPECT_EQ(e.peer(), peer) << what << ": " << e.what();
  }
}

}  // namespace nqtest
