// sctpt: SCTP test program (echo server, multihomed client, traffic generator, stats) on the
// kernel stack or usrsctp. `sctpt help` documents everything.
#include <string_view>

#include "cli.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
    const std::string_view command = argc > 1 ? argv[1] : "";
    if (command == "server") {
        return sctpt::run_server(argc, argv);
    }
    if (command == "client") {
        return sctpt::run_client(argc, argv);
    }
    if (command == "ctraffic") {
        return sctpt::run_ctraffic(argc, argv);
    }
    if (command == "stats") {
        return sctpt::run_stats(argc, argv);
    }
    if (command == "plot") {
        return sctpt::run_plot(argc, argv);
    }
    if (command == "version" || command == "--version") {
        sctpt::print_version();
        return sctpt::exit_success;
    }
    if (command == "help" || command == "--help" || command == "-h") {
        sctpt::print_usage(true);
        return sctpt::exit_success;
    }
    sctpt::print_usage(false);
    return sctpt::exit_usage;
}
