// What a run measured, and how it is shown: the lines iops.py prints, JSON
// for scripts, and error messages.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "config.hpp"

namespace iops {

using Json = nlohmann::ordered_json;  // keeps keys in the order written: easier to read

// `value` in SI units as iops.py's convert_size: base 1000, rounded to two
// decimals and printed without trailing zeros but with at least one decimal
// ("4.1K", "17.18G", "2.0M"). Unlike convert_size, a value that rounds up to
// 1000 takes the next unit ("1.0M", not "1000.0K").
std::string si(double value);

// One side's figures. Counts are per direction, summed over clients; both
// ways is twice that, as iops.py counts it.
struct Result {
  Purpose side = Purpose::server;
  double seconds = 0;
  std::uint64_t messages = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t peak_rss_bytes = 0;

  std::uint64_t bytes() const noexcept { return 2 * payload_bytes; }
  std::uint64_t operations() const noexcept { return 2 * messages; }
  double mean_message_bytes() const noexcept;
  double bits_per_second() const noexcept;
  double iops() const noexcept;
};

// The peak resident memory of this process so far.
std::uint64_t peak_rss_bytes();

// "Time: ...", "Data: ...", "Transfer: ...", "Operations: ..." as iops.py
// prints them, then "Memory: ...", each line ending in a newline.
std::string format_report(const Result& result);

// A results document: {"tool", "version", "options", "server": {...}, "client": {...}}
// with whichever sides `document` was given.
Json options_json(const Config& config);
Json result_json(const Result& result);
Result result_from_json(const Json& json);
Json document(const Config& config);
// Where the child process of a `both` run that plays `side` writes its document.
std::string side_result_path(const std::string& json_path, Purpose side);
void write_json(const std::string& path, const Json& json);
Json read_json(const std::string& path);

// Errors go to stderr as "netqueue-iops: <what>", or "netqueue-iops: <side>:
// <what>" once set_error_side() named the side this process plays.
void set_error_side(Purpose side);
void print_error(std::string_view what);

}  // namespace iops
