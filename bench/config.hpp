// The benchmark's settings: what the command line says, and how that maps to
// netqueue::Options for each side.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"

namespace iops {

// PURPOSE on the command line: one side, or both as two processes.
enum class Purpose { server, client, both };
enum class Mode { sync, async };

std::string_view to_string(Purpose purpose) noexcept;
std::string_view to_string(Mode mode) noexcept;

// The message mix, as iops.py: sizes are exponents of two.
struct Mix {
  int min_size = 8;
  int step_size = 2;
  int max_size = 32;
  double step_expo = 0.5;
  std::uint64_t reps = 1;
};

struct Config {
  std::string protocol_name = "tcp";
  netqueue::Protocol protocol = netqueue::Protocol::tcp;
  Purpose purpose = Purpose::both;
  Mode mode = Mode::sync;
  Mix mix;

  // A client process runs this many client communicators; a server expects as many.
  unsigned clients = 1;
  double delay_seconds = 0;

  std::string host = "127.0.0.1";
  std::uint32_t port = 51966;
  unsigned workers = 1;

  bool secure = false;
  std::optional<std::string> key;
  std::optional<std::string> cert;
  std::optional<std::string> ca;  // the client's trust chain (default: cert)

  std::uint64_t split_size = netqueue::Options{}.connection.max_size;
  // Unset: the library's default, derived from split_size.
  std::optional<std::uint64_t> merge_size;
  std::optional<std::uint64_t> efficient_size;
  // MQTT only: mqtt.publish_size and mqtt.window.
  std::uint64_t mqtt_publish_size = netqueue::Options{}.mqtt.publish_size;
  unsigned mqtt_window = netqueue::Options{}.mqtt.window;

  std::optional<std::string> json_path;

  // Set when this process is one side of a `both` run (see both.cpp): the
  // side it plays; its result then goes to json_path + "." + side + ".json"
  // for the parent to print, and stdout stays quiet.
  std::optional<Purpose> child_side;
};

// The options for one side (server or client) of the run.
netqueue::Options make_options(const Config& config, netqueue::Purpose side);

}  // namespace iops
