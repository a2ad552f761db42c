#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>

#include "netqueue/error.hpp"
#include "netqueue/protocol.hpp"
#include "netqueue/version.hpp"
#include "workload.hpp"

namespace iops {

namespace {

const std::map<std::string, Purpose> purposes{
    {"server", Purpose::server}, {"client", Purpose::client}, {"both", Purpose::both}};
const std::map<std::string, Purpose> child_sides{{"server", Purpose::server}, {"client", Purpose::client}};
const std::map<std::string, Mode> modes{{"sync", Mode::sync}, {"async", Mode::async}};

// The command line as text, before it becomes a Config.
struct Names {
  std::string purpose;
  std::string mode;
  std::string child_side;
};

// netqueue::parse_protocol decides which names exist (its own error message
// repeats the option name, which CLI11 already prints).
const CLI::Validator protocol_name(
    [](const std::string& name) -> std::string {
      try {
        netqueue::parse_protocol(name);
        return {};
      } catch (const netqueue::OptionError&) {
        return "unknown protocol '" + name + "' (valid: tcp, mqtt, grpc, inproc)";
      }
    },
    "tcp|mqtt|grpc");

const CLI::Validator at_least_one(
    [](const std::string& value) -> std::string { return value == "0" ? "must be at least 1 byte" : std::string{}; },
    "");

void list_protocols() {
  for (const netqueue::Protocol protocol : netqueue::available_protocols()) {
    std::cout << netqueue::to_string(protocol) << '\n';
  }
  throw CLI::Success();
}

void define_arguments(CLI::App& app, Config& config, Names& names) {
  app.add_option("protocol", config.protocol_name, "Transport")->required()->check(protocol_name);
  app.add_option("purpose", names.purpose, "Which side this process runs; both: server and client as two processes")
      ->required()
      ->check(CLI::IsMember(purposes));
  app.add_option("mode", names.mode, "sync: all puts, then all gets; async: puts and gets at once")
      ->required()
      ->check(CLI::IsMember(modes));

  const std::string mix = "Message mix (sizes are powers of two)";
  app.add_option("--min-size", config.mix.min_size, "Smallest message: 2^E bytes")
      ->capture_default_str()
      ->check(CLI::Range(0, 36))
      ->group(mix);
  app.add_option("--step-size", config.mix.step_size, "Exponent step between sizes; 0: only 2^max-size messages")
      ->capture_default_str()
      ->check(CLI::Range(0, 36))
      ->group(mix);
  app.add_option("--max-size", config.mix.max_size, "Largest message, and the source buffer: 2^E bytes")
      ->capture_default_str()
      ->check(CLI::Range(0, 36))
      ->group(mix);
  app.add_option("--step-expo", config.mix.step_expo, "Messages of 2^i bytes: round((2^max / 2^i)^F)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 8.0))
      ->group(mix);
  app.add_option("--reps", config.mix.reps, "Repetitions of the whole mix")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, max_messages))
      ->group(mix);

  const std::string run = "Run";
  app.add_option("--clients", config.clients,
                 "Server: clients to expect; client: client communicators this process runs")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000u))
      ->group(run);
  app.add_option("--delay", config.delay_seconds, "Seconds to wait between putting and getting (sync), timed")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0))
      ->group(run);

  const std::string connection = "Connection";
  app.add_option("--host", config.host, "Server address (a client connects to it, a server listens on it)")
      ->capture_default_str()
      ->group(connection);
  app.add_option("--port", config.port, "Server port, or the MQTT broker's (0 with `both`: a free one; for mqtt, a broker of the run's own)")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Range(0u, 65535u))
      ->group(connection);
  app.add_option("--workers", config.workers, "Threads for connection handling")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u))
      ->group(connection);
  CLI::Option* secure =
      app.add_flag("--secure", config.secure, "TLS (needs --key and --cert on the server)")->group(connection);
  app.add_option("--key", config.key, "Server: private key (PEM; MQTT: the broker's, when the run starts its own)")
      ->check(CLI::ExistingFile)
      ->needs(secure)
      ->group(connection);
  app.add_option("--cert", config.cert,
                 "Server: certificate chain; client: trust chain unless --ca (PEM; default: the system's)")
      ->check(CLI::ExistingFile)
      ->needs(secure)
      ->group(connection);
  app.add_option("--ca", config.ca, "Client: the CA to trust (PEM), e.g. the one that signed the server's --cert")
      ->check(CLI::ExistingFile)
      ->needs(secure)
      ->group(connection);
  app.add_option("--split-size", config.split_size, "connection.max_size: largest piece handed to the transport")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(at_least_one)
      ->group(connection);
  app.add_option("--merge-size", config.merge_size, "connection.merge_size (default: --split-size)")
      ->transform(CLI::AsSizeValue(false))
      ->check(at_least_one)
      ->group(connection);
  app.add_option("--efficient-size", config.efficient_size, "connection.efficient_size (default: --split-size / 64)")
      ->transform(CLI::AsSizeValue(false))
      ->group(connection);
  app.add_option("--mqtt-publish-size", config.mqtt_publish_size, "mqtt.publish_size: largest MQTT publish payload")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(at_least_one)
      ->group(connection);
  app.add_option("--mqtt-window", config.mqtt_window,
                 "mqtt.window: MQTT publishes in flight (raise it for a distant broker: bandwidth x round trip)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u))
      ->group(connection);

  const std::string output = "Output";
  app.add_option("--json", config.json_path, "Also write every option and result to FILE")
      ->type_name("FILE")
      ->group(output);
  app.add_flag_callback("--list-protocols", list_protocols, "Print the protocols this build has, then exit")
      ->group(output);
  app.set_version_flag("--version", NETQUEUE_VERSION_STRING)->group(output);

  app.add_option("--child", names.child_side, "Run as the given side of a `both` run (set by `both` itself)")
      ->check(CLI::IsMember(child_sides))
      ->group("Internal");
}

CLI::ValidationError invalid(const std::string& what) { return CLI::ValidationError(what); }

// What single options cannot check: how they go together.
void resolve(Config& config, const Names& names) {
  config.protocol = netqueue::parse_protocol(config.protocol_name);
  config.purpose = purposes.at(names.purpose);
  config.mode = modes.at(names.mode);

  if (config.mix.step_size > 0 && config.mix.min_size > config.mix.max_size) {
    throw invalid("--min-size (" + std::to_string(config.mix.min_size) + ") is above --max-size (" +
                  std::to_string(config.mix.max_size) + ")");
  }
  try {
    message_count(config.mix);
  } catch (const std::length_error& e) {
    throw invalid(e.what());
  }
  if (config.secure && config.purpose != Purpose::client && (!config.key || !config.cert)) {
    throw invalid("--secure needs --key and --cert for the server");
  }

  if (names.child_side.empty()) return;
  if (config.purpose != Purpose::both || !config.json_path) {
    throw invalid("--child is for the processes that a `both` run starts");
  }
  config.child_side = child_sides.at(names.child_side);
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, Config& config) {
  CLI::App app{
      "netqueue's throughput benchmark, the counterpart of net-queue's iops.py.\n"
      "Both sides compute the same shuffled list of messages and exchange it; each prints\n"
      "time, data, transfer and operations (both ways) and its peak memory.",
      "netqueue-iops"};
  app.footer(
      "Examples:\n"
      "  netqueue-iops tcp both sync --step-size 0 --max-size 21 --reps 4000   2 MiB messages\n"
      "  netqueue-iops tcp server async   and   netqueue-iops tcp client async   in two shells");
  Names names;
  define_arguments(app, config, names);
  try {
    app.parse(argc, argv);
    resolve(config, names);
  } catch (const CLI::ParseError& e) {
    // CLI11 has an exit code per kind of error; this tool promises one.
    return app.exit(e) == 0 ? 0 : usage_error;
  }
  return std::nullopt;
}

}  // namespace iops
