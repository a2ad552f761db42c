// The JSON serializer through the netqueue::json target (find_package(netqueue
// COMPONENTS json)): a value put as JSON comes back equal.
#include <cstdlib>
#include <iostream>
#include <netqueue/json.hpp>
#include <netqueue/netqueue.hpp>

int main() {
  netqueue::Options options;
  options.netloc.host = "consumer-json";
  options.netloc.port = 1;
  netqueue::Communicator server(netqueue::Protocol::inproc, netqueue::Purpose::server, options);
  netqueue::Communicator client(netqueue::Protocol::inproc, netqueue::Purpose::client, options);
  netqueue::Queue<nlohmann::json> to_server(client);
  netqueue::Queue<nlohmann::json> from_client(server);

  const nlohmann::json sent = {{"answer", 42}, {"list", {1, 2, 3}}};
  to_server.put(sent).get();
  const auto got = from_client.get_for(std::chrono::seconds(10));
  if (!got) {
    std::cerr << "consumer_json: no value within 10 s\n";
    return EXIT_FAILURE;
  }
  if (got->value != sent) {
    std::cerr << "consumer_json: got " << got->value.dump() << ", sent " << sent.dump() << '\n';
    return EXIT_FAILURE;
  }
  client.close();
  server.close();
  std::cout << "json: " << got->value.dump() << '\n';
  return EXIT_SUCCESS;
}
