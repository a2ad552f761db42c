// Compiles every public header of an installed netqueue and calls into the
// library, so that a missing header or link dependency fails here.
#include <iostream>
#include <netqueue/netqueue.hpp>
#include <netqueue/version.hpp>

int main() {
  const netqueue::Id id = netqueue::Id::random();
  const netqueue::Stream stream = netqueue::Stream::copy_of("hello");
  std::cout << "netqueue " << NETQUEUE_VERSION_STRING << ": id " << id.str() << ", stream of " << stream.size()
            << " bytes\n";
  return 0;
}
