// The netfilter rules, policy-routing rules and routes a direct-server-return
// setup needs on the load balancer (`sctplb rules`), as argv vectors.
//
// Generation is pure (make_rule_plan): the same configuration always gives the
// same commands, so they can be printed for review, applied, or removed exactly.
// Every object carries a marker so that removal touches nothing it did not make:
//   - iptables/ip6tables rules: `-m comment --comment sctplb:<tag>`;
//   - ip rules: priority `--priority` (fwmark rules) and `--priority`+1 (VIP
//     blackhole rules), `protocol 132`;
//   - routes: only in the tables table-base..table-base+max, `proto 132`.
// (132 is IPPROTO_SCTP; it is not a routing protocol registered in
// /etc/iproute2/rt_protos.)
//
// Applying (apply_rule_plan) runs commands through a CommandRunner (fork/execvp
// in production, a fake in tests): each object is checked first and only added
// when absent, so applying twice adds nothing; the first failure rolls back
// what this run added.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/number_text.hpp"
#include "core/ip_address.hpp"

namespace sctplb {

inline constexpr std::uint32_t kRouteProtocol = 132;  // `proto`/`protocol` of our routes and ip rules
inline constexpr std::uint32_t kDefaultTableBase = 5000;
inline constexpr std::uint32_t kDefaultRulePriority = 10000;
inline constexpr std::uint32_t kMaxRulePriority = 32764;  // +1 must stay before main's 32766
inline constexpr std::uint16_t kDefaultRulesQueue = 2;    // as `sctplb lb`

// One server: packets marked `fwmark` go to `nexthop` (optionally via `device`,
// required for an IPv6 link-local nexthop).
struct RuleTarget {
    std::uint32_t fwmark = 0;
    IpAddress nexthop;
    std::string device;  // empty: the kernel resolves the nexthop
};

struct RulesConfig {
    std::vector<IpAddress> vips;
    std::vector<RuleTarget> targets;   // a fwmark may appear once per address family
    std::uint16_t queue_first = kDefaultRulesQueue;
    std::uint16_t queue_last = kDefaultRulesQueue;  // > queue_first: --queue-balance
    bool queue_bypass = false;         // NFQUEUE --queue-bypass (off: see docs/operations.md)
    std::uint32_t mark_mask = 0xffffffffu;
    std::uint32_t table_base = kDefaultTableBase;
    std::uint32_t priority = kDefaultRulePriority;
    std::uint16_t encapsulation_port = 0;  // RFC 6951 SCTP over UDP; 0: off
    std::string tag = "sctplb";        // the --shm name: comment "sctplb:<tag>"
    // Only the targets' routes and fwmark rules (to add or remove one target
    // while the rest of the setup stays).
    bool targets_only = false;
    // The kernel fast path (an nft table made through netlink, not by this
    // plan): VIP SCTP is queued only while no sctplb mark bit is set, i.e.
    // when the fast path's map did not mark it (`-m mark --mark 0/MASK`).
    bool fast_path = false;
    // Server-initiated associations (docs/design.md): SCTP INITs from a VIP
    // (a server's, routed through this LB) are queued here for `sctplb lb
    // --server-queue`. nullopt: not queued (they are routed on unrecorded).
    std::optional<std::uint16_t> server_queue;
};

using Argv = std::vector<std::string>;

// How to tell whether an object exists.
enum class CheckKind {
    ExitZero,        // `iptables -C`: exit status 0
    AnyOutput,       // `ip route list ... exact ... proto 132 ...`: exit 0 and a non-blank line
    OutputProtocol,  // `ip -N rule list ...` (cannot filter on protocol): a line with "proto 132"
};

// One object: the command that creates it, the one that tells whether it
// exists, and the one that removes exactly it.
struct RuleStep {
    Argv add;
    Argv check;
    CheckKind check_kind = CheckKind::ExitZero;
    Argv remove;
    // ip rules and routes: the routing table they point to or live in (0: an
    // iptables rule). Routes: their destination, a VIP's host prefix.
    std::uint64_t table = 0;
    std::string destination;
};

// Parsing helpers for the CLI (pure; nullopt with a one-line `error`).
// FWMARK=NEXTHOP or FWMARK=NEXTHOP@DEV; FWMARK decimal or 0x-hex.
[[nodiscard]] std::optional<RuleTarget> parse_rule_target(std::string_view text, std::string& error);
// (parse_number32 and parse_queue_range: number_text.hpp, shared with `sctplb lb`.)

// Routing table of a target: table_base + the fwmark's value within the mask
// (shifted down to bit 0), so it depends on the fwmark only, never on the order
// of --target options. The VIP blackhole table is table_base itself.
[[nodiscard]] std::uint64_t rule_target_table(const RulesConfig& config, std::uint32_t fwmark);

// Validates `config` and lists every step in apply order (NOTRACK, routes,
// blackholes, ip rules, then NFQUEUE last so nothing is queued before its
// routes exist). nullopt with a one-line `error` on invalid input.
[[nodiscard]] std::optional<std::vector<RuleStep>> make_rule_plan(const RulesConfig& config,
                                                                  std::string& error);

// On a server (`sctplb rules --server-side`): its outbound SCTP INITs from a
// VIP, and only those, go through the LB (docs/operations.md "Servers that
// open associations"): mangle OUTPUT marks them, an ip rule sends the mark to
// a table whose default route is the LB.
struct ServerSideConfig {
    std::vector<IpAddress> vips;
    RuleTarget via;                      // fwmark unused: the LB's address [and device]
    std::uint32_t mark = 0x10000000u;    // a bit of the server's own fwmark space
    std::uint32_t table = 4999;
    std::uint32_t priority = 9999;
    std::string tag = "sctplb";
};
[[nodiscard]] std::optional<std::vector<RuleStep>> make_server_side_plan(const ServerSideConfig& config,
                                                                         std::string& error);

// The argv as one shell command line (words quoted only where needed).
[[nodiscard]] std::string shell_command(const Argv& argv);

// Runs one command without a shell.
struct CommandResult {
    int exit_status = -1;  // 0..255; 128+N when killed by signal N; -1 when it could not start
    std::string output;    // stdout
    std::string errors;    // stderr (or why it could not start)
};

class CommandRunner {
public:
    virtual ~CommandRunner() = default;
    virtual CommandResult run(const Argv& argv) = 0;
};

// fork + execvp (PATH search), stdin from /dev/null, stdout and stderr captured.
class ProcessRunner final : public CommandRunner {
public:
    CommandResult run(const Argv& argv) override;
};

// Whether the object of `step` exists, from the result of its check command.
[[nodiscard]] bool step_exists(const RuleStep& step, const CommandResult& check_result);

// Overlap between instances. ip rules and routes carry no tag; the routing
// tables are the ownership record: a table of the plan (table-base, and
// table-base + each mark value) holds only routes to this instance's VIPs, so a
// route to any other destination there belongs to someone else (another
// instance with the same table-base and fwmark, a hand-made route), who then
// also uses our ip rules into that table.
// Destinations that `ip -4|-6 route show table T` lists, apart from `ours`
// (host prefixes such as "10.0.0.1/32"); each as listed ("10.9.9.9",
// "10.88.0.0/24", "default"). nullopt with `error` when the listing fails for
// another reason than the table not existing (it then holds nothing).
[[nodiscard]] std::optional<std::vector<std::string>> foreign_routes(bool v4, std::uint64_t table,
                                                                     std::span<const std::string> ours,
                                                                     CommandRunner& runner, std::string& error);

// For --apply, before anything is made: the first table of `plan` holding a
// foreign route, as a one-line error naming the table, the destination and the
// fix (--table-base); nullopt when every table of the plan is ours or empty.
[[nodiscard]] std::optional<std::string> find_table_conflict(const std::vector<RuleStep>& plan,
                                                             CommandRunner& runner);

// Progress lines: "+ CMD" (added), "= CMD" (already present), "- CMD" (removed),
// "! CMD" (rolled back).
using ProgressFn = std::function<void(std::string_view line)>;

struct ApplyOutcome {
    bool ok = true;
    std::string error;    // one line (plus the failed command's stderr) when !ok
    std::size_t added = 0;
    std::size_t present = 0;
    std::size_t removed = 0;
    std::size_t kept = 0;  // delete: ip rules left for another instance
    std::size_t rolled_back = 0;
};

// Adds every absent object in order. On the first failure: removes, in reverse
// order, what this call added, and reports the failed command with its stderr.
ApplyOutcome apply_rule_plan(const std::vector<RuleStep>& plan, CommandRunner& runner,
                             const ProgressFn& progress);

// Removes every object of the plan that exists, in reverse order; objects that
// are absent are skipped. A failed removal is reported and the others still run.
// An ip rule is kept while its table still routes a destination that is not
// one of the plan's (foreign_routes): progress then prints
// "kept: CMD (table T still routes D for another instance)".
ApplyOutcome delete_rule_plan(const std::vector<RuleStep>& plan, CommandRunner& runner,
                              const ProgressFn& progress);

}  // namespace sctplb
