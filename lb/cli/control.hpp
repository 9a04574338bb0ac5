// The control commands: everything that reads or changes a segment made by
// `sctplb init` while `sctplb lb` runs (nfqlb-style names). Each takes the
// words after its name and returns the exit status: 0 ok, 2 usage error
// (one line on stderr), 1 runtime failure (one line on stderr). One file per
// command (init_command.cpp, ..., trace_command.cpp); shared plumbing in control_common.
#pragma once

#include <span>
#include <string>

#include "cli/kernel_queues.hpp"  // parse_kernel_queue_stats, for the tests

namespace sctplb::cli {

int run_init(std::span<const std::string> args);
int run_delete(std::span<const std::string> args);
int run_activate(std::span<const std::string> args);
int run_deactivate(std::span<const std::string> args);
int run_down(std::span<const std::string> args);
int run_show(std::span<const std::string> args);
int run_assoc(std::span<const std::string> args);
int run_stats(std::span<const std::string> args);
int run_fastpath(std::span<const std::string> args);
int run_loglevel(std::span<const std::string> args);
int run_trace(std::span<const std::string> args);
int run_metrics(std::span<const std::string> args);  // metrics_command.cpp: Prometheus

}  // namespace sctplb::cli
