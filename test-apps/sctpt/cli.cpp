#include "cli.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>

#include "log.hpp"

namespace sctpt {

OptionTable::OptionTable(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void OptionTable::add(std::string name, bool takes_value, std::string value_name, Handler handle) {
    options_.push_back(Option{std::move(name), takes_value, std::move(value_name), std::move(handle)});
}

void OptionTable::flag(std::string name, bool& target) {
    add(std::move(name), false, "", [&target](std::string_view, std::string&) {
        target = true;
        return true;
    });
}

void OptionTable::text(std::string name, std::string& target, std::string value_name) {
    add(std::move(name), true, std::move(value_name), [&target](std::string_view value, std::string&) {
        target = value;
        return true;
    });
}

void OptionTable::texts(std::string name, std::vector<std::string>& target,
                        std::string value_name) {
    add(std::move(name), true, std::move(value_name),
        [&target](std::string_view value, std::string&) {
            target.emplace_back(value);
            return true;
        });
}

void OptionTable::positionals(std::string value_name, std::vector<std::string>& target) {
    positional_name_ = std::move(value_name);
    positionals_ = &target;
}

void OptionTable::positional(std::string value_name, std::string& target) {
    positional_name_ = std::move(value_name);
    positional_ = &target;
}

void OptionTable::decimal(std::string name, double& target, std::string value_name) {
    add(name, true, std::move(value_name), [&target, name](std::string_view value, std::string& error) {
        const auto* end = value.data() + value.size();
        double parsed = 0;
        const auto [stop, result] = std::from_chars(value.data(), end, parsed);
        if (result != std::errc{} || stop != end || !(parsed >= 0)) {
            error = name + ": '" + std::string(value) + "' is not a valid non-negative number";
            return false;
        }
        target = parsed;
        return true;
    });
}

int OptionTable::print_help() const {
    std::string text = "usage: sctpt ";
    text += command_;
    text += " [OPTIONS]";
    if (positional_ != nullptr) {
        text += " [";
        text += positional_name_;
        text += ']';
    } else if (positionals_ != nullptr) {
        text += ' ';
        text += positional_name_;
        text += "...";
    }
    text += '\n';
    text += summary_;
    text += "\n\noptions:\n";
    for (const auto& option : options_) {
        text += "  " + option.name;
        if (option.takes_value) {
            text += ' ';
            text += option.value_name;
        }
        text += '\n';
    }
    text += "  --help\n'sctpt help' explains every option and the defaults.\n";
    std::fputs(text.c_str(), stdout);
    return exit_success;
}

bool OptionTable::parse(int argc, char** argv, int first, std::string& error) {
    for (int i = first; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument == "--help" || argument == "-h") {
            help_requested_ = true;
            return true;
        }
        if (positionals_ != nullptr && !argument.empty() && argument.front() != '-') {
            positionals_->emplace_back(argument);
            continue;
        }
        if (positional_ != nullptr && !argument.empty() && argument.front() != '-') {
            if (!positional_->empty()) {
                error = "unexpected argument '";
                error += argument;
                error += "' after '";
                error += *positional_;
                error += "'";
                return false;
            }
            *positional_ = argument;
            continue;
        }
        std::string_view inline_value;
        bool has_inline_value = false;
        if (const auto equals = argument.find('=');
            argument.starts_with("--") && equals != std::string_view::npos) {
            inline_value = argument.substr(equals + 1);
            argument = argument.substr(0, equals);
            has_inline_value = true;
        }
        const Option* match = nullptr;
        for (const auto& option : options_) {
            if (option.name == argument) {
                match = &option;
            }
        }
        if (match == nullptr) {
            error = "unknown option '" + std::string(argument) + "'";
            return false;
        }
        std::string_view value;
        if (match->takes_value) {
            if (has_inline_value) {
                value = inline_value;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                error = match->name + " needs a value";
                return false;
            }
        } else if (has_inline_value) {
            error = match->name + " takes no value";
            return false;
        }
        if (!match->handle(value, error)) {
            return false;
        }
    }
    return true;
}

void add_stack_options(OptionTable& table, StackChoice& choice) {
    auto& timers = choice.timers;
    table.text("--stack", choice.stack, "kernel|usrsctp|auto");
    table.number("--hb-interval", timers.heartbeat_interval_ms, "MS");
    table.number("--rto-min", timers.rto_min_ms, "MS");
    table.number("--rto-max", timers.rto_max_ms, "MS");
    table.number("--rto-initial", timers.rto_initial_ms, "MS");
    table.number("--path-max-retrans", timers.path_max_retrans);
    table.number("--init-max-retrans", timers.init_max_retrans);
    table.number("--sack-delay", timers.sack_delay_ms, "MS");
    table.number("--udp-encap", timers.udp_encapsulation_port, "PORT");
    table.flag("--debug", timers.debug);
}

void add_log_option(OptionTable& table, int& level) { table.number("--log", level, "0-7"); }

bool apply_log_option(int level, std::string& error) {
    if (level < 0 || level > 7) {
        error = "--log: ";
        error += std::to_string(level);
        error += " is not a level 0-7";
        return false;
    }
    set_log_level(level);
    return true;
}

bool validate_stack_options(const StackChoice& choice, std::string& error) {
    const auto& timers = choice.timers;
    if (choice.stack != "auto" && choice.stack != "kernel" && choice.stack != "usrsctp") {
        error = "--stack: '" + choice.stack + "' is not one of kernel, usrsctp, auto";
        return false;
    }
    if (timers.rto_min_ms == 0 || timers.rto_min_ms > timers.rto_max_ms ||
        timers.rto_initial_ms < timers.rto_min_ms || timers.rto_initial_ms > timers.rto_max_ms) {
        error = "need 0 < --rto-min <= --rto-initial <= --rto-max";
        return false;
    }
    if (timers.rto_max_ms > 65535) {
        error = "--rto-max: at most 65535 ms";
        return false;
    }
    if (timers.path_max_retrans == 0 || timers.path_max_retrans > 65535 ||
        timers.init_max_retrans > 65534) {
        error = "--path-max-retrans must be 1..65535, --init-max-retrans at most 65534";
        return false;
    }
    // RFC 9260 §6.2: the SACK delay MUST NOT exceed 500 ms.
    if (timers.sack_delay_ms == 0 || timers.sack_delay_ms > 500) {
        error = "--sack-delay must be 1..500 ms";
        return false;
    }
    return true;
}

std::unique_ptr<Stack> open_stack(const StackChoice& choice, std::string& error) {
    std::string stack = choice.stack;
    if (stack == "auto") {
        std::string why;
        stack = kernel_stack_built() && kernel_sctp_available(why) ? "kernel" : "usrsctp";
    }
    if (stack == "kernel") {
        return make_kernel_stack(choice.timers, error);
    }
    return make_usrsctp_stack(choice.timers, error);
}

namespace {
sigset_t termination_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    return signals;
}
}  // namespace

void block_termination_signals() {
    const sigset_t signals = termination_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

bool termination_requested() { return !sleep_unless_terminated(0); }

bool sleep_unless_terminated(int64_t milliseconds) {
    const sigset_t signals = termination_signals();
    if (milliseconds < 0) {
        milliseconds = 0;
    }
    struct timespec timeout {
        static_cast<time_t>(milliseconds / 1000), static_cast<long>(milliseconds % 1000) * 1'000'000
    };
    while (true) {
        const int result = sigtimedwait(&signals, nullptr, &timeout);
        if (result > 0) {
            return false;
        }
        if (result < 0 && errno == EINTR) {
            continue;  // timeout is not updated: a rare longer sleep is harmless here
        }
        return true;
    }
}

void print_usage(bool to_stdout) {
    std::fputs(
        R"(usage: sctpt COMMAND [OPTIONS]
SCTP test program: an echo server, a multihomed client and a traffic generator, on the Linux
kernel's SCTP (libsctp) or on usrsctp (user-space SCTP over raw IP).

commands (COMMAND --help lists the options of one):
  server   --addr A[,B...] [--port P] [--name NAME] [--verbose] [--log N]
      Binds exactly the addresses A,B... (sctp_bindx, so the INIT ACK lists only those: bind
      only the VIPs behind a load balancer) and echoes every message as "NAME: message".
      NAME defaults to the hostname. Runs until SIGINT or SIGTERM.
  client   --addr R1[,R2...] --laddr L1[,L2...] [--port P] [--lport Q]
           [--count N [--interval MS]] [--primary R --primary-after K]
           [--add-laddr L --add-laddr-after K] [--del-laddr L --del-laddr-after K]
           [--echo-wait MS] [--connect-timeout MS] [--size N] [--abort] [--verbose] [--log N]
           [--events FILE]
      One association bound to exactly the local addresses L1,L2... (port Q, default
      ephemeral) and connected to all of R1,R2... (sctp_connectx). Every stdin line is sent
      as one message, or with --count N the messages "message 1" ... "message N", one every
      MS (1000) ms; every echo is printed on stdout, events go to stderr (--verbose: also
      "sent MESSAGE" and "echo via ADDRESS: ECHO" for each message). Before message K+1
      (after K messages) R becomes the primary path, L is added to the association (ASCONF
      Add-IP, RFC 5061) or removed from it (Delete-IP; then a pause of MS/2, at least 100 ms,
      before the next message). At the end: waits up to MS (2000) for the echoes, then
      SHUTDOWN (--abort: ABORT). Fails (1) unless every message (all N with --count) was
      echoed, the association ended with SHUTDOWN COMPLETE (or was aborted as asked) and
      every requested step succeeded.
  ctraffic --addr R1[,R2...] --laddr SET[;SET...] --clients N --rate R --duration D
           [--port P] [--lport-fixed Q] [--size BYTES] [--primary R --primary-after K]
           [--echo-wait MS] [--connect-timeout MS] [--stats-file FILE] [--shm NAME] [--log N]
           [--events FILE]
      N associations in one process; client i binds local address set i mod (number of
      sets), a SET being L1[,L2...] (quote the ';' for the shell). Each sends R messages per
      second for D seconds (both may be fractional), then waits up to MS (2000) for the
      echoes and shuts down. Prints one JSON document: per association the local and remote
      addresses and ports, sent, echoed, lost, RTT p50/p99/max in ms, which servers answered
      (the echo prefix) and from which server addresses, path failovers (SCTP_PEER_ADDR_CHANGE
      UNREACHABLE) and every peer address change; then totals. Fails (1) if an association
      did not come up, was lost or lost a message.
      SIGUSR1 ends the sending early, as if D had elapsed (echo wait, SHUTDOWN, the report
      with "stopped": true, not "interrupted"): a test sets D as a ceiling and stops the
      traffic once it has seen what it waits for. SIGINT/SIGTERM interrupt (exit 1).
      Local ports are ephemeral (one per association) unless --lport-fixed Q. Two endpoints
      can have only one association between them (RFC 9260 §1.3): with a fixed port every
      client needs its own local addresses, so --lport-fixed requires N local address sets
      that share no address (e.g. --clients 2 --laddr '10.1.0.1,10.2.0.1;10.1.0.2,10.2.0.2').
      --events FILE (also client): one JSON line per message sent or echoed (RTT, server,
      path), association and peer address change and failover, for 'sctpt plot'.
      Snapshots go to FILE every second (default /tmp/sctpt-ctraffic-PID.json, removed at
      the end) for 'sctpt stats'.
  plot     EVENTS... -o FILE.png|FILE.svg [--marker T=LABEL]... [--title TEXT]
      A timeline picture of --events files, drawn by gnuplot (Debian: gnuplot-nox): one lane
      per association, each message a mark at its send time coloured by the server that
      answered and shaped by the path (address) the echo came from, lost messages, path
      down/up, failovers, association changes; the RTTs below on the same time axis; dashed
      lines at markers (--marker 12.5="path A cut", or "marker" lines in the files). Several
      files line up by their start clocks. docs/experiments.md has the schema.
  stats    [--stats-file FILE]
      Prints the latest snapshot of a running ctraffic (the same JSON with "running": true).
      Without --stats-file: the only running ctraffic that writes the default file.
  stats    [--shm NAME] [--buckets N] [--interval US] init|clear|show|json
      The RTT histogram of ctraffic --shm in POSIX shared memory (see stats --help).
  help     This text.
  version  The version (also --version).

Xcluster ovl/sctp's sctpt options, with the same meaning (its README's commands work):
  --log N          every command: 0-7, syslog-like; below 5 only errors, 5-6 the event notes
                   on stderr (default 6), 7 also every message (as --verbose)
  --port P         default 6000 (server, client, ctraffic)
  client --size N  one N-byte message instead of stdin; exit 0 when its echo came back
  ctraffic --shm NAME  RTT histogram in shared memory NAME: as 'stats --shm NAME init' made
                   it, else 16 buckets of 1000 us; without --shm into "sctpstats" if it exists
  ctraffic --clients --rate --duration  as above: --rate is per association here (ovl/sctp
                   divides it among the clients)
  stats --shm NAME (default sctpstats) --buckets N (16) --interval US (1000, microseconds)
                   init|clear|show|json; plain 'stats' shows "sctpstats" when no ctraffic runs
  Differences: --addr/--laddr have no ::1 default; the client prints echoes, not prompts.

stack options (every command but stats):
  --stack kernel|usrsctp|auto   auto (default): the kernel where
                                socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) works, else usrsctp
  --hb-interval MS (1000)  --rto-min MS (200)  --rto-max MS (1000)  --rto-initial MS (500)
  --path-max-retrans N (2)  --init-max-retrans N (8)  --sack-delay MS (50)
      Fast test timers: a dead path is declared after about 1-2 s.
  --udp-encap PORT  SCTP over UDP (RFC 6951): usrsctp listens on and sends to PORT; the kernel
                    sends to PORT and listens on the sysctl net.sctp.udp_port
  --debug           usrsctp's own diagnostics on stderr

usrsctp (user-space SCTP over raw IP; needs root or CAP_NET_RAW):
  - One usrsctp process per network namespace: its raw socket sees every SCTP packet of the
    namespace, and a second stack would answer the first one's packets with ABORT. Run the
    server and the clients in different namespaces (or use the kernel stack).
  - It ignores addresses on lo: put VIPs on a real or veth interface.
  - It writes IPv4 headers itself and picks the source address without routing (it used the
    last bound address on every path). sctpt cannot fix this; the topology must, e.g. with a
    stateless nft rule per outgoing interface in each usrsctp namespace:
      oifname "eth1" ip protocol sctp ip saddr set 192.168.2.221   (postrouting hook)
    (the SCTP checksum does not cover the IP header). IPv6 sources come from the kernel:
    give routes 'src' hints.
  - sctpt sets the timers after usrsctp_init (which resets them), shortens the delayed SACK
    below the minimum RTO (else spurious retransmissions) and turns automatic ASCONF off.

exit status: 0 success, 1 failure, 2 usage error.
)",
        to_stdout ? stdout : stderr);
    std::fprintf(to_stdout ? stdout : stderr, "stacks built in:%s%s\n",
                 kernel_stack_built() ? " kernel" : "", usrsctp_stack_built() ? " usrsctp" : "");
}

void print_version() { std::printf("sctpt %s\n", SCTPT_VERSION); }

int usage_error(const std::string& message) {
    complain("%s (see 'sctpt help')", message.c_str());
    return exit_usage;
}

}  // namespace sctpt
