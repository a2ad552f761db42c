// hello_client: says "hello" to a server, prints the reply, closes.
//
//   hello_client PROTOCOL [HOST] [PORT]     e.g. hello_client tcp 127.0.0.1 51966
//
// PROTOCOL is tcp, mqtt or grpc; for mqtt, HOST and PORT are the broker's.
#include <charconv>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <netqueue/netqueue.hpp>
#include <string>

namespace {

std::uint32_t parse_port(const char* text) {
  std::uint32_t port = 0;
  const char* end = text + std::strlen(text);
  if (auto [ptr, ec] = std::from_chars(text, end, port); ec != std::errc{} || ptr != end)
    throw netqueue::OptionError("netloc.port", "not a number: " + std::string(text));
  return port;  // the range is checked by the Communicator
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::cerr << "usage: hello_client PROTOCOL [HOST] [PORT]\n";
    return 2;
  }
  try {
    netqueue::Options options;
    if (argc > 2) options.netloc.host = argv[2];
    if (argc > 3) options.netloc.port = parse_port(argv[3]);
    // Returns at once: the client connects in the background, so it may start
    // before its server does.
    netqueue::Communicator client(netqueue::parse_protocol(argv[1]), netqueue::Purpose::client, options);
    netqueue::Queue<std::string> queue(client);

    queue.put("hello");  // to the server; the reply below tells us it arrived
    auto [peer, text] = queue.get();
    std::cout << peer.str() << " says: " << text << '\n';
    client.close();  // says goodbye and waits for the server's
  } catch (const netqueue::Error& e) {
    std::cerr << "hello_client: " << e.what() << '\n';
    return 1;
  }
}
