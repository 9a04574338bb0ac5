// The subcommands of the `sctplb` binary. Each takes the words after its name
// and returns the process exit status (0 ok, 2 usage error, 1 runtime failure).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace sctplb::cli {

using CommandFunction = int (*)(std::span<const std::string> args);

struct Command {
    std::string_view name;
    std::string_view summary;  // one line for `sctplb --help`
    CommandFunction run;
};

// `sctplb replay`: the daemon's decisions over a capture file (replay.cpp).
int run_replay(std::span<const std::string> args);
// `sctplb lb`: the NFQUEUE data path (lb_command.cpp).
int run_lb(std::span<const std::string> args);
// `sctplb config check`: an instance's /etc/sctplb/NAME.conf (config_command.cpp).
int run_config(std::span<const std::string> args);
// `sctplb health`: the health checker of the targets (health_command.cpp).
int run_health(std::span<const std::string> args);

}  // namespace sctplb::cli
