// Compiles every public header of an installed netqueue and calls into the
// library, so that a missing header, export or link dependency fails here:
// a message over inproc (threads, futures), and an OptionError thrown inside
// the library caught here by its type (its typeinfo must be exported).
#include <cstdlib>
#include <iostream>
#include <netqueue/netqueue.hpp>
#include <netqueue/version.hpp>

namespace {

int fail(const std::string& why) {
  std::cerr << "consumer: " << why << '\n';
  return EXIT_FAILURE;
}

}  // namespace

int main() {
  try {
    netqueue::make_communicator("no-such-protocol", "server");
    return fail("an unknown protocol was accepted");
  } catch (const netqueue::OptionError& e) {
    if (e.option() != "protocol") return fail("OptionError names '" + e.option() + "', not 'protocol'");
  }

  netqueue::Options options;
  options.netloc.host = "consumer";
  options.netloc.port = 1;
  netqueue::Communicator server(netqueue::Protocol::inproc, netqueue::Purpose::server, options);
  netqueue::Communicator client(netqueue::Protocol::inproc, netqueue::Purpose::client, options);
  client.put(netqueue::Stream::copy_of("hello")).get();
  const auto message = server.get_for(std::chrono::seconds(10));
  if (!message) return fail("no message within 10 s");
  if (message->data.to_string() != "hello") return fail("got '" + message->data.to_string() + "'");
  if (message->peer != client.id()) return fail("the message does not name its sender");
  client.close();
  server.close();
  std::cout << "netqueue " << NETQUEUE_VERSION_STRING << ": " << message->peer.str() << " said "
            << message->data.to_string() << '\n';
  return EXIT_SUCCESS;
}
