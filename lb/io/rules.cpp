#include "io/rules.hpp"
#include "io/shared_state.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <span>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace sctplb {

namespace {

bool is_ipv6_link_local(const IpAddress& address) {
    return !address.is_v4() && address.bytes()[0] == 0xfe && (address.bytes()[1] & 0xc0) == 0x80;
}

// Interface names: 1..15 bytes (IFNAMSIZ - 1), no '/', ':' or white space.
bool valid_device_name(std::string_view name) {
    if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
    return std::none_of(name.begin(), name.end(), [](char c) {
        return c == '/' || c == ':' || c == '@' || static_cast<unsigned char>(c) <= 0x20 ||
               c == 0x7f;
    });
}

bool is_reserved_table(std::uint64_t table) {
    // 0 unspec, 253 default, 254 main, 255 local (rtnetlink.h rt_class_t).
    return table == 0 || table == 253 || table == 254 || table == 255;
}

std::string hex(std::uint32_t value) {
    char text[11];
    std::snprintf(text, sizeof text, "0x%x", value);
    return text;
}

std::string host_prefix(const IpAddress& address) {
    return address.to_string() + (address.is_v4() ? "/32" : "/128");
}

std::string family_name(bool v4) { return v4 ? "IPv4" : "IPv6"; }

// Builders for the three command families. `verb` is the only word that
// changes between the add, check and remove forms of one object.
struct Builder {
    const RulesConfig& config;
    std::string comment;

    std::string chain = "PREROUTING";

    Argv iptables(bool v4, std::string_view table, std::string_view verb, const Argv& match,
                  const Argv& target) const {
        Argv argv{v4 ? "iptables" : "ip6tables", "-w", "-t", std::string(table), std::string(verb), chain};
        argv.insert(argv.end(), match.begin(), match.end());
        argv.insert(argv.end(), {"-m", "comment", "--comment", comment});
        argv.insert(argv.end(), target.begin(), target.end());
        return argv;
    }

    RuleStep iptables_step(bool v4, std::string_view table, const Argv& match,
                           const Argv& target) const {
        return RuleStep{.add = iptables(v4, table, "-A", match, target),
                        .check = iptables(v4, table, "-C", match, target),
                        .check_kind = CheckKind::ExitZero,
                        .remove = iptables(v4, table, "-D", match, target),
                        .table = 0,
                        .destination = {}};
    }

    // `ip -4 route add|del [blackhole] PREFIX [via NH [dev D]] table T proto 132`.
    static RuleStep route_step(bool v4, const std::string& prefix, const RuleTarget* via,
                               std::uint64_t table) {
        const std::string family = v4 ? "-4" : "-6";
        Argv spec;
        if (via == nullptr) spec.push_back("blackhole");
        spec.push_back(prefix);
        Argv nexthop;
        if (via != nullptr) {
            nexthop = {"via", via->nexthop.to_string()};
            if (!via->device.empty()) nexthop.insert(nexthop.end(), {"dev", via->device});
        }
        const Argv owner{"table", std::to_string(table), "proto", std::to_string(kRouteProtocol)};

        RuleStep step;
        for (std::string_view verb : {"add", "del"}) {
            Argv argv{"ip", family, "route", std::string(verb)};
            argv.insert(argv.end(), spec.begin(), spec.end());
            argv.insert(argv.end(), nexthop.begin(), nexthop.end());
            argv.insert(argv.end(), owner.begin(), owner.end());
            (verb == "add" ? step.add : step.remove) = std::move(argv);
        }
        // `list ... exact P proto 132 via NH` prints the route only when all of these match.
        step.check = {"ip", family, "route", "list", "table", std::to_string(table), "exact", prefix,
                      "proto", std::to_string(kRouteProtocol)};
        if (via == nullptr) {
            step.check.insert(step.check.end(), {"type", "blackhole"});
        } else {
            step.check.insert(step.check.end(), nexthop.begin(), nexthop.end());
        }
        step.check_kind = CheckKind::AnyOutput;
        step.table = table;
        step.destination = prefix;
        return step;
    }

    // `ip -4 rule add|del pref P SELECTOR table T protocol 132`.
    static RuleStep rule_step(bool v4, std::uint32_t priority, const Argv& selector,
                              std::uint64_t table) {
        const std::string family = v4 ? "-4" : "-6";
        RuleStep step;
        for (std::string_view verb : {"add", "del"}) {
            Argv argv{"ip", family, "rule", std::string(verb), "pref", std::to_string(priority)};
            argv.insert(argv.end(), selector.begin(), selector.end());
            argv.insert(argv.end(), {"table", std::to_string(table), "protocol",
                                     std::to_string(kRouteProtocol)});
            (verb == "add" ? step.add : step.remove) = std::move(argv);
        }
        // iproute2 6.1 filters `rule list` on pref, selector and table but not on
        // protocol: the protocol is matched in the output (-N: numbers, not names).
        step.check = {"ip", "-N", family, "rule", "list", "pref", std::to_string(priority)};
        step.check.insert(step.check.end(), selector.begin(), selector.end());
        step.check.insert(step.check.end(), {"table", std::to_string(table)});
        step.check_kind = CheckKind::OutputProtocol;
        step.table = table;
        return step;
    }
};

bool validate(const RulesConfig& config, std::string& error) {
    if (config.vips.empty()) {
        error = "--vip ADDR[,ADDR...] is required";
        return false;
    }
    if (config.targets.empty()) {
        error = "at least one --target FWMARK=NEXTHOP is required";
        return false;
    }
    if (!valid_shared_memory_name(config.tag, error)) return false;
    if (config.mark_mask == 0) {
        error = "--mark-mask must not be 0";
        return false;
    }
    if (config.queue_first > config.queue_last) {
        error = "--queue " + std::to_string(config.queue_first) + ":" +
                std::to_string(config.queue_last) + ": the first queue is above the last";
        return false;
    }
    if (config.priority == 0 || config.priority > kMaxRulePriority) {
        error = "--priority must be in 1.." + std::to_string(kMaxRulePriority) +
                " (its +1 must stay before the main table's 32766)";
        return false;
    }
    if (is_reserved_table(config.table_base)) {
        error = "--table-base " + std::to_string(config.table_base) +
                " is a reserved table (0, 253 default, 254 main, 255 local)";
        return false;
    }

    bool family_has_vip[2] = {false, false};  // [0] IPv6, [1] IPv4
    for (std::size_t i = 0; i < config.vips.size(); ++i) {
        const IpAddress& vip = config.vips[i];
        if (vip.is_unspecified()) {
            error = "--vip: " + vip.to_string() + " is the unspecified address";
            return false;
        }
        if (std::find(config.vips.begin(), config.vips.begin() + static_cast<long>(i), vip) !=
            config.vips.begin() + static_cast<long>(i)) {
            error = "--vip: " + vip.to_string() + " given twice";
            return false;
        }
        family_has_vip[vip.is_v4()] = true;
    }

    for (std::size_t i = 0; i < config.targets.size(); ++i) {
        const RuleTarget& target = config.targets[i];
        const std::string name = "--target " + std::to_string(target.fwmark) + "=" +
                                 target.nexthop.to_string();
        if (target.fwmark == 0) {
            error = name + ": fwmark 0 means unmarked and cannot select a target";
            return false;
        }
        if ((target.fwmark & ~config.mark_mask) != 0) {
            error = name + ": fwmark " + hex(target.fwmark) + " has bits outside --mark-mask " +
                    hex(config.mark_mask);
            return false;
        }
        if (target.nexthop.is_unspecified()) {
            error = name + ": the nexthop is the unspecified address";
            return false;
        }
        if (!target.device.empty() && !valid_device_name(target.device)) {
            error = name + ": '" + target.device + "' is not an interface name";
            return false;
        }
        if (is_ipv6_link_local(target.nexthop) && target.device.empty()) {
            error = name + ": a link-local nexthop needs its interface (FWMARK=NEXTHOP@DEV)";
            return false;
        }
        const bool v4 = target.nexthop.is_v4();
        if (!family_has_vip[v4]) {
            error = name + ": the nexthop is " + family_name(v4) + " but no --vip is " +
                    family_name(v4);
            return false;
        }
        for (std::size_t j = 0; j < i; ++j)
            if (config.targets[j].fwmark == target.fwmark &&
                config.targets[j].nexthop.is_v4() == v4) {
                error = name + ": fwmark " + std::to_string(target.fwmark) + " already has an " +
                        family_name(v4) + " nexthop";
                return false;
            }
        const std::uint64_t table = rule_target_table(config, target.fwmark);
        if (table > 0xffffffffu || is_reserved_table(table)) {
            error = name + ": its routing table " + std::to_string(table) +
                    " (table-base + fwmark under the mask) is out of range or reserved; "
                    "choose another --table-base";
            return false;
        }
    }

    // Every target serves every VIP: the Maglev table does not look at the
    // address family, so an IPv6 association may land on any target.
    for (const RuleTarget& target : config.targets)
        for (bool v4 : {true, false}) {
            if (!family_has_vip[v4]) continue;
            const bool has = std::any_of(config.targets.begin(), config.targets.end(),
                                         [&](const RuleTarget& other) {
                                             return other.fwmark == target.fwmark &&
                                                    other.nexthop.is_v4() == v4;
                                         });
            if (!has) {
                error = "fwmark " + std::to_string(target.fwmark) + " has no " + family_name(v4) +
                        " nexthop for the " + family_name(v4) + " VIPs (add --target " +
                        std::to_string(target.fwmark) + "=" + (v4 ? "IPV4" : "IPV6") + ")";
                return false;
            }
        }
    return true;
}

std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream stream{std::string(line)};
    std::string word;
    while (stream >> word) out.push_back(word);
    return out;
}

}  // namespace

std::optional<RuleTarget> parse_rule_target(std::string_view text, std::string& error) {
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) {
        error = "--target: '" + std::string(text) + "' is not FWMARK=NEXTHOP[@DEV]";
        return std::nullopt;
    }
    RuleTarget target;
    const auto fwmark = parse_number32(text.substr(0, equals));
    if (!fwmark) {
        error = "--target: '" + std::string(text.substr(0, equals)) +
                "' is not a 32-bit fwmark (decimal or 0x-hex)";
        return std::nullopt;
    }
    target.fwmark = *fwmark;
    std::string_view rest = text.substr(equals + 1);
    const std::size_t at = rest.find('@');
    if (at != std::string_view::npos) {
        target.device = std::string(rest.substr(at + 1));
        rest = rest.substr(0, at);
        if (!valid_device_name(target.device)) {
            error = "--target: '" + target.device + "' is not an interface name";
            return std::nullopt;
        }
    }
    const auto nexthop = IpAddress::parse(rest);
    if (!nexthop) {
        error = "--target: '" + std::string(rest) + "' is not an IPv4 or IPv6 address";
        return std::nullopt;
    }
    target.nexthop = *nexthop;
    return target;
}

std::uint64_t rule_target_table(const RulesConfig& config, std::uint32_t fwmark) {
    const std::uint32_t mask = config.mark_mask == 0 ? 0xffffffffu : config.mark_mask;
    const std::uint32_t value = (fwmark & mask) >> std::countr_zero(mask);
    return std::uint64_t{config.table_base} + value;
}

std::optional<std::vector<RuleStep>> make_rule_plan(const RulesConfig& config, std::string& error) {
    if (!validate(config, error)) return std::nullopt;

    const Builder build{config, "sctplb:" + config.tag};
    const std::string encap_port = std::to_string(config.encapsulation_port);
    const bool encap = config.encapsulation_port != 0;
    std::vector<RuleStep> plan;

    // 1. raw PREROUTING: VIP SCTP skips conntrack. Its SCTP state machine calls
    // packets of a path it has not seen the INIT on INVALID (a secondary path,
    // a second LB). `-s VIP` covers setups where server replies cross this box.
    const bool shared = !config.targets_only;  // objects not tied to one target
    for (const IpAddress& vip : config.vips) {
        if (!shared) break;
        const bool v4 = vip.is_v4();
        const std::string host = host_prefix(vip);
        plan.push_back(build.iptables_step(v4, "raw", {"-d", host, "-p", "sctp"}, {"-j", "NOTRACK"}));
        plan.push_back(build.iptables_step(v4, "raw", {"-s", host, "-p", "sctp"}, {"-j", "NOTRACK"}));
        if (encap) {
            plan.push_back(build.iptables_step(v4, "raw", {"-d", host, "-p", "udp", "--dport", encap_port},
                                               {"-j", "NOTRACK"}));
            plan.push_back(build.iptables_step(v4, "raw", {"-s", host, "-p", "udp", "--sport", encap_port},
                                               {"-j", "NOTRACK"}));
        }
    }

    // 2. One table per target holding only VIP routes, so a mark that also
    // means something to someone else changes nothing but VIP traffic.
    for (const RuleTarget& target : config.targets) {
        const std::uint64_t table = rule_target_table(config, target.fwmark);
        for (const IpAddress& vip : config.vips)
            if (vip.is_v4() == target.nexthop.is_v4())
                plan.push_back(Builder::route_step(vip.is_v4(), host_prefix(vip), &target, table));
    }

    // 3. The blackhole table: unmarked VIP packets are dropped silently (no
    // ICMP) instead of reaching a host without the association, which answers
    // with ABORT or ICMP protocol unreachable (RFC 9260 §8.4, Appendix C).
    if (shared)
        for (const IpAddress& vip : config.vips)
            plan.push_back(Builder::route_step(vip.is_v4(), host_prefix(vip), nullptr, config.table_base));

    // 4. fwmark rules first (priority P), per family.
    for (bool v4 : {true, false})
        for (const RuleTarget& target : config.targets)
            if (target.nexthop.is_v4() == v4)
                plan.push_back(Builder::rule_step(
                    v4, config.priority, {"fwmark", hex(target.fwmark) + "/" + hex(config.mark_mask)},
                    rule_target_table(config, target.fwmark)));

    // 5. Then (P + 1) every VIP not routed by a mark goes to the blackhole table.
    if (!shared) return plan;
    for (const IpAddress& vip : config.vips)
        plan.push_back(Builder::rule_step(vip.is_v4(), config.priority + 1, {"to", host_prefix(vip)},
                                          config.table_base));

    // 6. Last, queue VIP SCTP to the daemon: by now every mark has its route.
    Argv queue;
    if (config.queue_first == config.queue_last) {
        queue = {"-j", "NFQUEUE", "--queue-num", std::to_string(config.queue_first)};
    } else {
        queue = {"-j", "NFQUEUE", "--queue-balance",
                 std::to_string(config.queue_first) + ":" + std::to_string(config.queue_last)};
    }
    if (config.queue_bypass) queue.push_back("--queue-bypass");
    for (const IpAddress& vip : config.vips) {
        const bool v4 = vip.is_v4();
        const std::string host = host_prefix(vip);
        Argv sctp_match{"-d", host, "-p", "sctp"};
        if (config.fast_path) sctp_match.insert(sctp_match.end(), {"-m", "mark", "--mark", "0/" + hex(config.mark_mask)});
        plan.push_back(build.iptables_step(v4, "mangle", sctp_match, queue));
        if (encap)
            plan.push_back(build.iptables_step(
                v4, "mangle", {"-d", host, "-p", "udp", "--dport", encap_port}, queue));
        // ICMP errors about packets the VIP sent (e.g. "fragmentation needed", "packet too
        // big"): the daemon marks them for the association's server, so path MTU discovery
        // works through DSR (RFC 1191, RFC 8201); the blackhole would swallow them.
        static constexpr std::array<const char*, 3> kIcmpErrors{"destination-unreachable", "time-exceeded",
                                                                 "parameter-problem"};
        static constexpr std::array<const char*, 4> kIcmpv6Errors{"destination-unreachable", "packet-too-big",
                                                                   "time-exceeded", "parameter-problem"};
        for (const char* type : v4 ? std::span<const char* const>(kIcmpErrors) : std::span<const char* const>(kIcmpv6Errors))
            plan.push_back(build.iptables_step(v4, "mangle",
                                               {"-d", host, "-p", v4 ? "icmp" : "icmpv6",
                                                v4 ? "--icmp-type" : "--icmpv6-type", type},
                                               queue));
        // A server's INIT from a VIP (its policy routing sends only those
        // through the LB): the daemon identifies the server and records the
        // association it opens. The daemon, not this rule, decides who is a server.
        if (config.server_queue)
            plan.push_back(build.iptables_step(v4, "mangle",
                                               {"-s", host, "-p", "sctp", "-m", "sctp", "--chunk-types", "any", "INIT"},
                                               {"-j", "NFQUEUE", "--queue-num", std::to_string(*config.server_queue)}));
    }
    return plan;
}

std::optional<std::vector<RuleStep>> make_server_side_plan(const ServerSideConfig& config, std::string& error) {
    if (config.vips.empty()) {
        error = "--vip ADDR[,ADDR...] is required";
        return std::nullopt;
    }
    if (config.mark == 0) {
        error = "--server-mark must not be 0";
        return std::nullopt;
    }
    const bool via_v4 = config.via.nexthop.is_v4();
    RulesConfig scope;
    scope.tag = config.tag;
    Builder build{scope, "sctplb:" + config.tag};
    build.chain = "OUTPUT";
    std::vector<RuleStep> plan;
    const std::string mark = hex(config.mark) + "/" + hex(config.mark);
    for (const IpAddress& vip : config.vips) {
        if (vip.is_v4() != via_v4) continue;  // the LB's family carries that family's VIPs
        plan.push_back(build.iptables_step(vip.is_v4(), "mangle",
                                           {"-s", host_prefix(vip), "-p", "sctp", "-m", "sctp", "--chunk-types",
                                            "any", "INIT"},
                                           {"-j", "MARK", "--set-xmark", mark}));
    }
    if (plan.empty()) {
        error = "no --vip of the family of --via " + config.via.nexthop.to_string();
        return std::nullopt;
    }
    plan.push_back(Builder::route_step(via_v4, via_v4 ? "0.0.0.0/0" : "::/0", &config.via, config.table));
    plan.push_back(Builder::rule_step(via_v4, config.priority, {"fwmark", mark}, config.table));
    return plan;
}

std::string shell_command(const Argv& argv) {
    std::string line;
    for (const std::string& word : argv) {
        if (!line.empty()) line += ' ';
        const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   std::strchr("_-+=:,./@%", c) != nullptr;
        });
        if (plain) {
            line += word;
            continue;
        }
        line += '\'';
        for (char c : word) {
            if (c == '\'') {
                line += "'\\''";
            } else {
                line += c;
            }
        }
        line += '\'';
    }
    return line;
}

CommandResult ProcessRunner::run(const Argv& argv) {
    CommandResult result;
    if (argv.empty()) {
        result.errors = "empty command";
        return result;
    }
    int out_pipe[2];
    int err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
        result.errors = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        result.errors = std::string("pipe: ") + std::strerror(errno);
        close(out_pipe[0]);
        close(out_pipe[1]);
        return result;
    }
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> args;
    for (const std::string& word : argv) args.push_back(const_cast<char*>(word.c_str()));
    args.push_back(nullptr);

    const pid_t pid = fork();
    if (pid < 0) {
        result.errors = std::string("fork: ") + std::strerror(errno);
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
        return result;
    }
    if (pid == 0) {
        // O_CLOEXEC: the spare descriptor must not leak into the program; the
        // copy dup2() makes on stdin has FD_CLOEXEC clear (dup2(2)). When the
        // open itself returned 0 (stdin was closed), dup2 is a no-op: clear it by hand.
        const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd == STDIN_FILENO) fcntl(null_fd, F_SETFD, 0);
        else if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
        execvp(args[0], args.data());
        const char* reason = std::strerror(errno);  // glibc: a static table, safe here
        const char prefix[] = "cannot run ";
        (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
        (void)!write(STDERR_FILENO, args[0], std::strlen(args[0]));
        (void)!write(STDERR_FILENO, ": ", 2);
        (void)!write(STDERR_FILENO, reason, std::strlen(reason));
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);

    constexpr std::size_t kMaxCaptured = 1 << 20;  // a rule listing is a few lines
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.output, &result.errors};
    int open_count = 2;
    while (open_count > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buffer[4096];
            const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                if (sinks[i]->size() < kMaxCaptured) sinks[i]->append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_count;
            }
        }
    }
    for (const pollfd& fd : fds)
        if (fd.fd >= 0) close(fd.fd);

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            result.errors += std::string("waitpid: ") + std::strerror(errno);
            return result;
        }
    }
    if (WIFEXITED(status)) {
        result.exit_status = WEXITSTATUS(status);
        if (result.exit_status == 127 && result.errors.starts_with("cannot run ")) result.exit_status = -1;
    } else if (WIFSIGNALED(status)) {
        result.exit_status = 128 + WTERMSIG(status);
    }
    return result;
}

bool step_exists(const RuleStep& step, const CommandResult& check_result) {
    if (check_result.exit_status != 0) return false;
    switch (step.check_kind) {
        case CheckKind::ExitZero:
            return true;
        case CheckKind::AnyOutput:
            return check_result.output.find_first_not_of(" \t\r\n") != std::string::npos;
        case CheckKind::OutputProtocol: {
            const std::string protocol = std::to_string(kRouteProtocol);
            std::istringstream lines(check_result.output);
            std::string line;
            while (std::getline(lines, line)) {
                const auto tokens = words(line);
                for (std::size_t i = 0; i + 1 < tokens.size(); ++i)
                    if (tokens[i] == "proto" && tokens[i + 1] == protocol) return true;
            }
            return false;
        }
    }
    return false;
}

namespace {

std::string failure_text(const Argv& argv, const CommandResult& result) {
    std::string text = "failed: " + shell_command(argv);
    if (result.exit_status >= 0) text += " (exit " + std::to_string(result.exit_status) + ")";
    std::string errors = result.errors;
    while (!errors.empty() && (errors.back() == '\n' || errors.back() == ' ')) errors.pop_back();
    if (!errors.empty()) text += ": " + errors;
    return text;
}

void report(const ProgressFn& progress, char sign, const Argv& argv) {
    if (progress) progress(std::string(1, sign) + " " + shell_command(argv));
}

}  // namespace

ApplyOutcome apply_rule_plan(const std::vector<RuleStep>& plan, CommandRunner& runner,
                             const ProgressFn& progress) {
    ApplyOutcome outcome;
    std::vector<const RuleStep*> added;
    for (const RuleStep& step : plan) {
        if (step_exists(step, runner.run(step.check))) {
            ++outcome.present;
            report(progress, '=', step.add);
            continue;
        }
        const CommandResult result = runner.run(step.add);
        if (result.exit_status == 0) {
            ++outcome.added;
            added.push_back(&step);
            report(progress, '+', step.add);
            continue;
        }
        outcome.ok = false;
        outcome.error = failure_text(step.add, result);
        // Undo this run only: objects that were there before stay.
        for (auto it = added.rbegin(); it != added.rend(); ++it) {
            const CommandResult undo = runner.run((*it)->remove);
            if (undo.exit_status == 0) {
                ++outcome.rolled_back;
                report(progress, '!', (*it)->remove);
            } else {
                outcome.error += "; rollback " + failure_text((*it)->remove, undo);
            }
        }
        return outcome;
    }
    return outcome;
}

namespace {

// "10.0.0.1/32" and "10.0.0.1" are one host; anything else stays as written.
std::string host_or_prefix(std::string_view text) {
    std::string_view address = text;
    if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
        address = text.substr(0, slash);
        const auto parsed = IpAddress::parse(address);
        const std::string_view length = text.substr(slash + 1);
        if (!parsed || length != (parsed->is_v4() ? "32" : "128")) return std::string(text);
    }
    const auto parsed = IpAddress::parse(address);
    return parsed ? parsed->to_string() : std::string(text);
}

// The destination of each route line of `ip route show` (the first word, or the
// second after a route type; multipath "nexthop" lines are indented).
std::vector<std::string> listed_destinations(std::string_view listing) {
    static constexpr std::array<std::string_view, 10> kTypes{
        "unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat",
        "anycast"};
    std::vector<std::string> out;
    std::istringstream lines{std::string(listing)};
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;
        const auto tokens = words(line);
        std::size_t i = 0;
        if (i < tokens.size() && std::find(kTypes.begin(), kTypes.end(), tokens[i]) != kTypes.end()) ++i;
        if (i < tokens.size()) out.push_back(tokens[i]);
    }
    return out;
}

// The destinations of the plan's routes in (family, table).
std::vector<std::string> plan_destinations(const std::vector<RuleStep>& plan, bool v4, std::uint64_t table) {
    std::vector<std::string> out;
    for (const RuleStep& step : plan)
        if (!step.destination.empty() && step.table == table && (step.add[1] == "-4") == v4)
            out.push_back(step.destination);
    return out;
}

bool is_ip_step(const RuleStep& step) { return step.table != 0 && step.add.size() > 1; }

// "10.9.9.9" or "10.9.9.9 (and 2 more)".
std::string first_of(const std::vector<std::string>& destinations) {
    std::string text = destinations.front();
    if (destinations.size() > 1) {
        text += " (and ";
        text += std::to_string(destinations.size() - 1);
        text += " more)";
    }
    return text;
}

}  // namespace

std::optional<std::vector<std::string>> foreign_routes(bool v4, std::uint64_t table,
                                                       std::span<const std::string> ours,
                                                       CommandRunner& runner, std::string& error) {
    const Argv list{"ip", v4 ? "-4" : "-6", "route", "show", "table", std::to_string(table)};
    const CommandResult result = runner.run(list);
    std::vector<std::string> foreign;
    if (result.exit_status != 0) {
        // iproute2 6.x with strict dumps: "Error: ipv4: FIB table does not exist."
        if (result.exit_status > 0 && result.errors.find("does not exist") != std::string::npos) return foreign;
        error = failure_text(list, result);
        return std::nullopt;
    }
    std::vector<std::string> own;
    for (const std::string& prefix : ours) own.push_back(host_or_prefix(prefix));
    for (const std::string& destination : listed_destinations(result.output))
        if (std::find(own.begin(), own.end(), host_or_prefix(destination)) == own.end())
            foreign.push_back(destination);
    return foreign;
}

std::optional<std::string> find_table_conflict(const std::vector<RuleStep>& plan, CommandRunner& runner) {
    std::vector<std::pair<bool, std::uint64_t>> listed;
    for (const RuleStep& step : plan) {
        if (!is_ip_step(step)) continue;
        const bool v4 = step.add[1] == "-4";
        if (std::find(listed.begin(), listed.end(), std::pair{v4, step.table}) != listed.end()) continue;
        listed.emplace_back(v4, step.table);
        std::string error;
        const auto foreign = foreign_routes(v4, step.table, plan_destinations(plan, v4, step.table), runner, error);
        if (!foreign) return error;
        if (foreign->empty()) continue;
        error = "table ";
        error += std::to_string(step.table);
        error += v4 ? " (IPv4)" : " (IPv6)";
        error += " already routes ";
        error += first_of(*foreign);
        error += ", which is no --vip of this instance: another instance (or the user) uses the table and "
                 "would share its ip rules; give this instance its own --table-base";
        return error;
    }
    return std::nullopt;
}

ApplyOutcome delete_rule_plan(const std::vector<RuleStep>& plan, CommandRunner& runner,
                              const ProgressFn& progress) {
    ApplyOutcome outcome;
    for (auto it = plan.rbegin(); it != plan.rend(); ++it) {
        if (!step_exists(*it, runner.run(it->check))) continue;
        if (is_ip_step(*it) && it->destination.empty()) {  // an ip rule: does someone else use its table?
            const bool v4 = it->add[1] == "-4";
            std::string why;
            const auto foreign =
                foreign_routes(v4, it->table, plan_destinations(plan, v4, it->table), runner, why);
            if (!foreign || !foreign->empty()) {
                if (foreign) {
                    why = "table ";
                    why += std::to_string(it->table);
                    why += " still routes ";
                    why += first_of(*foreign);
                    why += " for another instance";
                }
                ++outcome.kept;
                if (progress) {
                    std::string line = "kept: ";
                    line += shell_command(it->add);
                    line += " (";
                    line += why;
                    line += ')';
                    progress(line);
                }
                continue;
            }
        }
        const CommandResult result = runner.run(it->remove);
        if (result.exit_status == 0) {
            ++outcome.removed;
            report(progress, '-', it->remove);
            continue;
        }
        outcome.ok = false;
        if (!outcome.error.empty()) outcome.error += "; ";
        outcome.error += failure_text(it->remove, result);
    }
    return outcome;
}

}  // namespace sctplb
