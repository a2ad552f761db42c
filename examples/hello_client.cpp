// hello_client: says "hello" to a server, prints the reply, closes.
//
//   hello_client PROTOCOL [HOST] [PORT]     e.g. hello_client tcp 127.0.0.1 51966
//
// PROTOCOL is tcp, mqtt or grpc; for mqtt, HOST and PORT are the broker's.
#include <iostream>
#include <netqueue/netqueue.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::cerr << "usage: hello_client PROTOCOL [HOST] [PORT]\n";
    return 2;
  }
  try {
    netqueue::Options options;
    if (argc > 2) options.netloc.host = argv[2];
    if (argc > 3) options.netloc.port = netqueue::parse_port(argv[3]);
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
