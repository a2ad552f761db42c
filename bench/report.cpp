#include "report.hpp"

#include <sys/resource.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "netqueue/version.hpp"

namespace iops {

namespace {

constexpr std::array<const char*, 9> si_prefixes{"", "K", "M", "G", "T", "P", "E", "Z", "Y"};

std::string fixed(double value, int decimals) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  return text.data();
}

// Python prints round(x, 2) in its shortest form: "4.1", "17.18", "2.0".
std::string strip_zeros(std::string number) {
  while (number.size() > 2 && number.back() == '0' && number[number.size() - 2] != '.') number.pop_back();
  return number;
}

// Right-aligned in `width` characters, as Python's f"{text:>5}".
std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

double per_second(double count, double seconds) noexcept { return seconds > 0 ? count / seconds : 0; }

template <class T>
Json or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

}  // namespace

std::string si(double value) {
  if (!(value > 0)) return "0";
  std::size_t prefix = 0;
  while (prefix + 1 < si_prefixes.size() && value >= std::pow(1000.0, static_cast<double>(prefix + 1))) ++prefix;
  // Divided once by 1000^prefix, as convert_size does, so rounding matches it.
  const auto scaled = [value](std::size_t p) { return fixed(value / std::pow(1000.0, static_cast<double>(p)), 2); };
  std::string number = scaled(prefix);
  if (std::stod(number) >= 1000 && prefix + 1 < si_prefixes.size()) number = scaled(++prefix);
  return strip_zeros(number) + si_prefixes[prefix];
}

double Result::mean_message_bytes() const noexcept {
  return messages > 0 ? static_cast<double>(payload_bytes) / static_cast<double>(messages) : 0;
}
double Result::bits_per_second() const noexcept { return per_second(8.0 * static_cast<double>(bytes()), seconds); }
double Result::iops() const noexcept { return per_second(static_cast<double>(operations()), seconds); }

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string format_report(const Result& r) {
  std::string out;
  out += "Time:       " + fixed(r.seconds, 1) + "s\n";
  out += "Data:       " + si(static_cast<double>(r.messages)) + " @ " + si(r.mean_message_bytes()) + "B\n";
  out += "Transfer:   " + si(static_cast<double>(r.bytes())) + "B @ " + pad_left(si(r.bits_per_second()), 5) + "bps\n";
  out += "Operations: " + si(static_cast<double>(r.operations())) + " @ " + si(r.iops()) + "IOPS\n";
  out += "Memory:     " + si(static_cast<double>(r.peak_rss_bytes)) + "B\n";
  return out;
}

Json options_json(const Config& config) {
  // The connection sizes as the library will use them, defaults resolved.
  const netqueue::Options options = make_options(config, netqueue::Purpose::client);
  return {
      {"protocol", config.protocol_name},
      {"purpose", to_string(config.purpose)},
      {"mode", to_string(config.mode)},
      {"min_size", config.mix.min_size},
      {"step_size", config.mix.step_size},
      {"max_size", config.mix.max_size},
      {"step_expo", config.mix.step_expo},
      {"reps", config.mix.reps},
      {"clients", config.clients},
      {"delay", config.delay_seconds},
      {"host", config.host},
      {"port", config.port},
      {"workers", config.workers},
      {"secure", config.secure},
      {"key", or_null(config.key)},
      {"cert", or_null(config.cert)},
      {"split_size", options.connection.max_size},
      {"merge_size", options.connection.effective_merge_size()},
      {"efficient_size", options.connection.effective_efficient_size()},
      {"message_size", options.serialization.message_size},
      {"mqtt_publish_size", options.mqtt.publish_size},
      {"mqtt_window", options.mqtt.window},
  };
}

Json result_json(const Result& r) {
  return {
      {"role", to_string(r.side)},
      {"seconds", r.seconds},
      {"messages", r.messages},
      {"payload_bytes", r.payload_bytes},
      {"mean_message_bytes", r.mean_message_bytes()},
      {"bytes", r.bytes()},
      {"operations", r.operations()},
      {"bits_per_second", r.bits_per_second()},
      {"gbps", r.bits_per_second() / 1e9},
      {"iops", r.iops()},
      {"peak_rss_bytes", r.peak_rss_bytes},
  };
}

Result result_from_json(const Json& json) {
  Result r;
  r.side = json.at("role").get<std::string>() == "client" ? Purpose::client : Purpose::server;
  r.seconds = json.at("seconds").get<double>();
  r.messages = json.at("messages").get<std::uint64_t>();
  r.payload_bytes = json.at("payload_bytes").get<std::uint64_t>();
  r.peak_rss_bytes = json.at("peak_rss_bytes").get<std::uint64_t>();
  return r;
}

Json document(const Config& config) {
  return {{"tool", "netqueue-iops"}, {"version", NETQUEUE_VERSION_STRING}, {"options", options_json(config)}};
}

std::string side_result_path(const std::string& json_path, Purpose side) {
  return json_path + "." + std::string(to_string(side)) + ".json";
}

void write_json(const std::string& path, const Json& json) {
  std::ofstream out(path);
  out << json.dump(2) << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

Json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return Json::parse(in);
}

namespace {
std::optional<Purpose> error_side;
}

void set_error_side(Purpose side) { error_side = side; }

void print_error(std::string_view what) {
  std::string line = "netqueue-iops: ";
  if (error_side) line += std::string(to_string(*error_side)) + ": ";
  line += what;
  line += '\n';
  std::cerr << line << std::flush;  // one write, so that lines of two processes do not mix
}

}  // namespace iops
