// A slow consumer at QoS 1: a client puts 64 MiB in 256 KiB borrowed messages
// to a server that does not call get() for a while. The server's credit holds
// the sender back (its last puts stay pending), nothing is lost (all arrive
// intact and in order once get() runs), and both sides' memory stays bounded:
// the receiver keeps at most its receive bound plus the credit window, and the
// sender does not copy queued puts (at most mqtt.window publishes, each copied
// by netqueue and by Paho C, are in flight).
//
// The server runs in a child process (this test program, re-run on this test
// alone with NQTEST_MQTT_SLOW_SERVER set), so that the sender's resident
// memory is the sender's only.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include "support/child.hpp"
#include "support/helpers.hpp"
#include "support/mqtt_fixture.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace {

using namespace netqueue;
using namespace nqtest;

constexpr const char* role_variable = "NQTEST_MQTT_SLOW_SERVER";
constexpr std::size_t message_size = 256 * KiB;
constexpr int message_count = 256;  // 64 MiB
constexpr std::size_t growth_bound = 32 * MiB;           // the sender: what is in flight, not what waits
constexpr std::size_t receiver_growth_bound = 48 * MiB;  // the receive bound, the 32 MiB credit window, slack

double mib(std::size_t bytes) { return static_cast<double>(bytes) / MiB; }

// Reads one line from stdin within `within`; empty on timeout or end.
std::string read_line(std::chrono::milliseconds within) {
  std::string line;
  const auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd p{0, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char ch;
    const ssize_t n = ::read(0, &ch, 1);
    if (n <= 0) return {};
    if (ch == '\n') return line;
    line.push_back(ch);
  }
}

// The child's role: a netqueue server that takes nothing until told "go".
void slow_server(const std::string& spec) {
  std::istringstream in(spec);
  unsigned port = 0;
  in >> port;
  ASSERT_NE(port, 0u) << "bad " << role_variable << ": " << spec;
  Options o = nqtest::server_options(TransportCase{"mqtt", Protocol::mqtt});
  o.netloc.port = port;
  Communicator s(Protocol::mqtt, Purpose::server, o);
  const std::size_t rss_start = rss_bytes();
  std::printf("NQSLOW READY\n");
  std::fflush(stdout);

  ASSERT_EQ(read_line(120s), "go") << "the sender never said go";
  const std::size_t rss_go = rss_bytes();
  const std::size_t growth = rss_go - std::min(rss_go, rss_start);
  const auto stats = s.statistics();
  std::printf("NQSLOW server before get(): RSS grew by %.1f MiB, %llu messages queued, %.1f MiB of stream in\n",
              mib(growth), static_cast<unsigned long long>(stats.queued), mib(stats.stream_bytes_in));
  std::fflush(stdout);
#ifndef __SANITIZE_ADDRESS__
  EXPECT_LT(growth, receiver_growth_bound) << "the receiver kept " << mib(growth) << " MiB of what it did not take";
#endif

  int intact = 0;
  for (int i = 0; i < message_count; ++i) {
    auto m = s.get_for(30s);
    ASSERT_TRUE(m) << "message " << i << " of " << message_count << " never arrived";
    ASSERT_FALSE(m->truncated) << "message " << i << " was truncated";
    ASSERT_FALSE(m->part) << "message " << i << " came in parts";
    const auto want = pattern(message_size, static_cast<std::uint32_t>(i));
    const auto got = m->data.to_bytes();
    ASSERT_EQ(got.size(), want.size()) << "message " << i << " has the wrong size (lost or out of order?)";
    ASSERT_TRUE(std::memcmp(got.data(), want.data(), want.size()) == 0)
        << "message " << i << " is not the " << i << "th message sent (corrupted or out of order)";
    ++intact;
  }
  EXPECT_FALSE(s.try_get()) << "more messages than were sent";
  std::printf("NQSLOW DONE %d intact\n", intact);
  std::fflush(stdout);
  // The sender closes: its goodbye ends the session.
  EXPECT_TRUE(eventually([&] { return s.peers().empty(); }, 30s)) << "the sender's goodbye never came";
  EXPECT_TRUE(s.close_for(10s));
}

// Samples this process's RSS until stopped; keeps the peak.
class RssSampler {
 public:
  RssSampler() : thread_([this] {
      while (!stop_) {
        peak_ = std::max(peak_.load(), rss_bytes());
        std::this_thread::sleep_for(2ms);
      }
    }) {}
  ~RssSampler() { stop(); }
  std::size_t stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    peak_ = std::max(peak_.load(), rss_bytes());
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> peak_{0};
  std::thread thread_;
};

TEST(Mqtt, ASlowConsumerAtQos1HoldsTheSenderBackAndLosesNothing) {
  if (const char* spec = std::getenv(role_variable)) return slow_server(spec);

  Broker broker;
  broker.start();
  std::vector<std::vector<std::byte>> data;  // written now: resident before the baseline
  for (int i = 0; i < message_count; ++i) data.push_back(pattern(message_size, static_cast<std::uint32_t>(i)));

  Child server({"/proc/self/exe", "--gtest_filter=Mqtt.ASlowConsumerAtQos1HoldsTheSenderBackAndLosesNothing"},
               {std::string(role_variable) + "=" + std::to_string(broker.port())});
  ASSERT_TRUE(server.wait_for_output("NQSLOW READY", 20s)) << "the server process did not start:\n" << server.output();

  Options o = nqtest::client_options(TransportCase{"mqtt", Protocol::mqtt}, broker.port());
  o.mqtt.qos = 1;
  Communicator c(Protocol::mqtt, Purpose::client, o);

  const std::size_t baseline = rss_bytes();
  RssSampler sampler;
  std::vector<SendFuture> futures;
  for (auto& d : data) futures.push_back(c.put(Stream::borrow(d)));
  // The server takes nothing: its credit stops the sender well before 64 MiB.
  EXPECT_FALSE(futures.back().wait_for(2s)) << "all 64 MiB were acknowledged to a server that took nothing";
  int resolved = 0;
  while (resolved < message_count && futures[resolved].ready()) ++resolved;
  const std::size_t peak = sampler.stop();
  const std::size_t growth = peak - std::min(peak, baseline);
  std::printf("sender: %d of %d x %zu KiB acknowledged in 2 s while the server took nothing; RSS %.1f MiB at the "
              "start, peak growth %.1f MiB\n",
              resolved, message_count, message_size / KiB, mib(baseline), mib(growth));
#ifdef __SANITIZE_ADDRESS__
  // ASan keeps freed memory resident (its quarantine): RSS says nothing here.
  std::printf("sender: RSS bound not checked under AddressSanitizer (quarantined frees stay resident)\n");
#else
  EXPECT_LT(growth, growth_bound) << "the sender's RSS grew by " << mib(growth) << " MiB while "
                                  << mib(message_size * message_count) << " MiB of borrowed puts were queued";
#endif

  // Now the server takes everything, and checks it; every put resolves.
  server.send("go\n");
  ASSERT_TRUE(server.wait_for_output("NQSLOW DONE", 90s)) << "the server did not get everything:\n"
                                                          << server.output();
  for (int i = 0; i < message_count; ++i) {
    ASSERT_TRUE(futures[i].wait_for(30s)) << "put " << i << " never resolved once the server took everything";
    EXPECT_NO_THROW(futures[i].get()) << "put " << i;
  }
  EXPECT_TRUE(c.close_for(20s)) << "the client's close was not graceful";
  const auto status = server.wait(30s);
  ASSERT_TRUE(status) << "the server process did not end:\n" << server.output();
  EXPECT_EQ(*status, 0) << server.output();
  // Its figures, for the record.
  const std::string out = server.output();
  for (std::size_t at = out.find("NQSLOW"); at != std::string::npos; at = out.find("NQSLOW", at + 1))
    std::printf("%s\n", out.substr(at, out.find('\n', at) - at).c_str());
}

}  // namespace
