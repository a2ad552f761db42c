// netqueue-put-memory: what one waiting put costs the library.
//
// A TCP client whose server never answers (127.0.0.1, a port nothing listens
// on) queues N puts of the same borrowed bytes; nothing is sent, so every put
// waits. The heap and resident memory grown by the puts, divided by N, is the
// library's memory per waiting put (the caller's bytes are not copied).
//
//   netqueue-put-memory [--puts N] [--size BYTES]
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

namespace {

std::size_t heap_bytes() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4096;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t puts = 1'000'000, size = 256;
  CLI::App app{"netqueue-put-memory: the library's memory per waiting put"};
  app.add_option("--puts", puts, "puts to queue")->capture_default_str();
  app.add_option("--size", size, "bytes per put (borrowed, not copied)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  netqueue::Options o;
  o.netloc.host = "127.0.0.1";
  o.netloc.port = 9;  // discard: nothing listens on it here, so the client keeps trying
  o.connection.connect_timeout = std::chrono::hours(1);
  o.log = [](netqueue::LogLevel, std::string_view) {};
  netqueue::Communicator client(netqueue::Protocol::tcp, netqueue::Purpose::client, o);
  const std::vector<std::byte> payload(size);

  const std::size_t heap_before = heap_bytes(), resident_before = resident_bytes();
  netqueue::SendFuture last;
  for (std::size_t i = 0; i < puts; ++i) last = client.put(netqueue::Stream::borrow(payload));
  const std::size_t heap = heap_bytes() - heap_before, resident = resident_bytes() - resident_before;
  if (last.ready()) {
    std::fprintf(stderr, "netqueue-put-memory: the last put ended: something listens on 127.0.0.1:9\n");
    return 1;
  }
  std::printf("%zu waiting puts of %zu B: heap %.1f MB (%.1f B per put), resident %.1f MB (%.1f B per put)\n", puts,
              size, heap / 1e6, double(heap) / double(puts), resident / 1e6, double(resident) / double(puts));
  client.close_for(std::chrono::seconds(0));
  return 0;
}
