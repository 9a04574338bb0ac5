// `sctplb <command> [options]`: dispatch only; every command lives in its own file.
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.hpp"
#include "options.hpp"
#include "rules_command.hpp"

namespace {

using sctplb::cli::Command;

constexpr std::array kCommands{
    Command{"replay", "decide every packet of a capture file as the daemon would",
            sctplb::cli::run_replay},
    Command{"lb", "run the data path: decide every queued packet and mark it for its target",
            sctplb::cli::run_lb},
    Command{"rules", "print, apply or delete the iptables rules, ip rules and routes of a DSR setup",
            sctplb::cli::run_rules},
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
                std::string(command.name.size() < 10 ? 10 - command.name.size() : 1, ' ') +
                std::string(command.summary) + "\n";
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
    const std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& command : kCommands)
        if (command.name == name) return command.run(args);
    return sctplb::cli::usage_error("", "unknown command '" + name + "' (try sctplb --help)");
}
