// `sctplb <command> [options]`: dispatch only; every command lives in its own file.
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/control.hpp"
#include "cli/options.hpp"
#include "cli/rules_command.hpp"

namespace {

using sctplb::cli::Command;

constexpr std::array kCommands{
    Command{"replay", "decide every packet of a capture file as the daemon would",
            sctplb::cli::run_replay},
    Command{"init", "create the shared memory (configuration and association table)",
            sctplb::cli::run_init},
    Command{"delete", "remove the shared memory", sctplb::cli::run_delete},
    Command{"activate", "add targets (fwmarks) to the Maglev table", sctplb::cli::run_activate},
    Command{"deactivate", "drain targets: no new associations, live ones stay",
            sctplb::cli::run_deactivate},
    Command{"down", "remove dead targets and forget their associations", sctplb::cli::run_down},
    Command{"show", "configuration, targets, Maglev excerpt, config digest", sctplb::cli::run_show},
    Command{"assoc", "list, export or import the associations", sctplb::cli::run_assoc},
    Command{"stats", "counters, packets per target, table fill, kernel queue drops",
            sctplb::cli::run_stats},
    Command{"fastpath", "the kernel fast path's map elements and per-target counters",
            sctplb::cli::run_fastpath},
    Command{"metrics", "serve the counters and states as Prometheus metrics (--listen ADDR:PORT)",
            sctplb::cli::run_metrics},
    Command{"loglevel", "set the daemon's log level (0..7)", sctplb::cli::run_loglevel},
    Command{"trace", "switch the per-packet decision trace", sctplb::cli::run_trace},
    Command{"lb", "run the data path: decide every queued packet and mark it for its target",
            sctplb::cli::run_lb},
    Command{"health", "probe the targets (SCTP INIT over raw IP); take failed ones out, bring them back",
            sctplb::cli::run_health},
    Command{"rules", "print, apply or delete the iptables rules, ip rules and routes of a DSR setup",
            sctplb::cli::run_rules},
    Command{"config", "check an instance's /etc/sctplb/NAME.conf (what the systemd units read)",
            sctplb::cli::run_config},
};

void print_help() {
    std::string text =
        "Usage: sctplb <command> [options]\n"
        "\n"
        "Load balancer for multihomed SCTP (NFQUEUE, fwmark, direct server return).\n"
        "\n"
        "Commands:\n";
    for (const auto& command : kCommands)
        text += "  " + std::string(command.name) +
                std::string(command.name.size() < 12 ? 12 - command.name.size() : 1, ' ') +
                std::string(command.summary) + "\n";
    text += "  version     print the version (also --version)\n";
    text += "\nRun 'sctplb <command> --help' for the options of a command.\n";
    std::fputs(text.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        return sctplb::cli::usage_error("", "no command given (try sctplb --help)");
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        print_help();
        return 0;
    }
    if (name == "--version" || name == "version") {
        std::printf("sctplb %s\n", SCTPLB_VERSION);
        return 0;
    }
    const std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& command : kCommands)
        if (command.name == name) return command.run(args);
    return sctplb::cli::usage_error("", "unknown command '" + name + "' (try sctplb --help)");
}
