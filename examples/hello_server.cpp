// hello_server: waits for one message, answers "world" to its sender, closes.
//
//   hello_server PROTOCOL [PORT]        e.g. hello_server tcp 51966
//
// PROTOCOL is tcp, mqtt or grpc; for mqtt, PORT is the broker's.
#include <iostream>
#include <netqueue/netqueue.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: hello_server PROTOCOL [PORT]\n";
    return 2;
  }
  try {
    netqueue::Options options;
    if (argc > 2) options.netloc.port = netqueue::parse_port(argv[2]);
    netqueue::Communicator server(netqueue::parse_protocol(argv[1]), netqueue::Purpose::server, options);
    netqueue::Queue<std::string> queue(server);  // strings in and out

    auto [peer, text] = queue.get();  // blocks until a client says something
    std::cout << peer.str() << " says: " << text << '\n';

    // To that client only. put() never throws; the future reports whether the
    // reply could be handed over.
    queue.put("world", peer).get();
    server.close();  // waits for the client to say goodbye
  } catch (const netqueue::Error& e) {
    std::cerr << "hello_server: " << e.what() << '\n';
    return 1;
  }
}
