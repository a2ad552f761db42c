// netqueue-iops: netqueue's throughput benchmark, the counterpart of
// net-queue's iops.py (same command line, same message mix, same report).
#include <sys/resource.h>

#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

#include "both.hpp"
#include "cli.hpp"
#include "config.hpp"
#include "netqueue/protocol.hpp"
#include "report.hpp"
#include "sides.hpp"
#include "workload.hpp"

namespace {

// One side in this process: the whole run, or a child of a `both` run.
int run_side(const iops::Config& config) {
  const iops::Purpose side = config.child_side.value_or(config.purpose);
  if (config.child_side) iops::set_error_side(side);

  const iops::Workload workload(config.mix);
  const iops::Result result =
      side == iops::Purpose::server ? iops::run_server(config, workload) : iops::run_client(config, workload);

  // A child's report is printed by its parent, from the JSON it writes.
  if (!config.child_side) std::cout << iops::format_report(result) << std::flush;
  if (config.json_path) {
    iops::Json json = iops::document(config);
    json[std::string(iops::to_string(side))] = iops::result_json(result);
    iops::write_json(config.child_side ? iops::side_result_path(*config.json_path, side) : *config.json_path, json);
  }
  return 0;
}

// A server of --clients 1000 needs a socket per client: the soft limit on
// open files (1024 on a fresh Debian login) goes up to the hard one.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(const iops::Config& config, int argc, char** argv) {
  raise_open_file_limit();
  // Said once here rather than by both children of a `both` run.
  if (!netqueue::is_available(config.protocol)) {
    throw std::runtime_error(config.protocol_name + " is not built into this netqueue (see --list-protocols)");
  }
  if (config.purpose == iops::Purpose::both && !config.child_side) return iops::run_both(config, argc, argv);
  return run_side(config);
}

}  // namespace

int main(int argc, char** argv) {
  iops::Config config;
  if (const auto exit_code = iops::parse_command_line(argc, argv, config)) return *exit_code;
  try {
    return run(config, argc, argv);
  } catch (const std::exception& e) {
    iops::print_error(e.what());
    return 1;
  }
}
