#include "config.hpp"

#include <algorithm>

namespace iops {

std::string_view to_string(Purpose purpose) noexcept {
  switch (purpose) {
    case Purpose::server: return "server";
    case Purpose::client: return "client";
    case Purpose::both: return "both";
  }
  return "?";
}

std::string_view to_string(Mode mode) noexcept { return mode == Mode::sync ? "sync" : "async"; }

netqueue::Options make_options(const Config& config, netqueue::Purpose side) {
  netqueue::Options options;
  options.netloc.host = config.host;
  options.netloc.port = config.port;
  options.workers = config.workers;

  options.connection.max_size = config.split_size;
  if (config.merge_size) options.connection.merge_size = *config.merge_size;
  if (config.efficient_size) options.connection.efficient_size = *config.efficient_size;
  options.mqtt.publish_size = config.mqtt_publish_size;
  options.mqtt.window = config.mqtt_window;

  // Every message must arrive whole: it is checked as one, and a message in
  // parts would count as several operations.
  const std::uint64_t largest = std::uint64_t{1} << config.mix.max_size;
  options.serialization.message_size = std::max(options.serialization.message_size, largest);

  options.security.enabled = config.secure;
  if (config.protocol == netqueue::Protocol::mqtt) {
    // Both sides are clients of the broker, which holds --cert and --key.
    options.security.certificate = config.ca ? config.ca : config.cert;
  } else if (side == netqueue::Purpose::server) {
    options.security.certificate = config.cert;
    options.security.key = config.key;
  } else {
    options.security.certificate = config.ca ? config.ca : config.cert;  // the trust chain
  }
  return options;
}

}  // namespace iops
