// `sctplb rules`: thin wiring of lb/io/rules.hpp to the command line.
#include "cli/rules_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/association_table.hpp"
#include "io/nft_fastpath.hpp"
#include "cli/options.hpp"
#include "io/rules.hpp"
#include "io/shared_state.hpp"

namespace sctplb::cli {

namespace {

constexpr std::string_view kCommand = "rules";

constexpr OptionSpec kSpecs[] = {
    {"vip", "ADDR[,ADDR...]", "virtual addresses, IPv4 and/or IPv6 (required)"},
    {"target", "FWMARK=NEXTHOP[@DEV]", "a server: marked packets go to NEXTHOP (repeat, or a,b,...)", true},
    {"queue", "Q|Q1:Q2", "NFQUEUE number, or a range (--queue-balance) (default 2, as 'sctplb lb')"},
    {"mark-mask", "M", "fwmark bits used by sctplb, as 'sctplb lb --mark-mask' (default 0xffffffff)"},
    {"table-base", "T", "blackhole table T; a target's table is T + its fwmark under the mask (default 5000)"},
    {"priority", "P", "ip rule priority of the fwmark rules; P+1 for the VIP blackhole (default 10000)"},
    {"encap-port", "P", "also queue SCTP over UDP to this port (RFC 6951; default off)"},
    {"queue-bypass", "", "pass VIP packets UNBALANCED when no daemon holds the queue (not advised)"},
    {"targets-only", "", "only the targets' routes and fwmark rules (add or remove one target)"},
    {"fastpath", "", "also the kernel fast path: an nft table (inet NAME) whose map forwards established associations"},
    {"fastpath-only", "", "only the fast path's nft table (the iptables rules, ip rules and routes are made elsewhere)"},
    {"server-queue", "Q", "also queue SCTP INITs from the VIPs (servers opening associations) to Q, for 'sctplb lb --server-queue Q'"},
    {"server-side", "LB[@DEV]", "on a SERVER instead: send its SCTP INITs from the VIPs via LB (--target not used)"},
    {"server-mark", "M", "with --server-side: the fwmark bit that marks those INITs (default 0x10000000)"},
    {"shm", "NAME", "instance name: rules are tagged sctplb:NAME (default sctplb)"},
    {"apply", "", "add what is missing (idempotent); roll back on the first failure"},
    {"delete", "", "remove what --apply added with the same options; nothing else"},
};

constexpr std::string_view kUsage =
    "sctplb rules --vip ADDR[,ADDR...] --target FWMARK=NEXTHOP[@DEV] [--target ...]\n"
    "                    [--queue Q|Q1:Q2] [--mark-mask M] [--table-base T] [--priority P]\n"
    "                    [--encap-port P] [--queue-bypass] [--targets-only] [--fastpath | --fastpath-only]\n"
    "                    [--server-queue Q]\n"
    "                    [--shm NAME]\n"
    "                    [--apply | --delete]";
constexpr std::string_view kDescription =
    "Prints (default), applies or deletes what a direct-server-return setup needs on the load\n"
    "balancer: NOTRACK for VIP SCTP (raw), NFQUEUE of VIP SCTP (mangle PREROUTING), one routing\n"
    "table per target with VIP routes only, fwmark rules, and a blackhole for unmarked VIP\n"
    "packets. iptables/ip6tables and ip -4/-6 are chosen by address family. Every object is\n"
    "tagged (comment sctplb:NAME, ip rule/route protocol 132) and --delete removes only those.\n"
    "--fastpath adds the nft table 'inet sctplb' (or 'sctplb-NAME'), made through netlink, whose map\n"
    "the daemon fills with established associations; its size and timeout come from the shared\n"
    "memory of 'sctplb init' (run that first). See docs/operations.md.";

std::optional<RulesConfig> make_config(const Options& options, std::string& error) {
    RulesConfig config;
    if (!options.positional().empty()) {
        error = "unexpected argument '" + options.positional().front() + "'";
        return std::nullopt;
    }
    if (options.has("apply") && options.has("delete")) {
        error = "--apply and --delete exclude each other";
        return std::nullopt;
    }
    const auto vip = options.value("vip");
    if (!vip) {
        error = "--vip ADDR[,ADDR...] is required";
        return std::nullopt;
    }
    if (!parse_address_list(*vip, "vip", config.vips, error)) return std::nullopt;
    const std::vector<std::string> target_texts = options.values("target");
    if (target_texts.empty()) {
        error = "at least one --target FWMARK=NEXTHOP is required";
        return std::nullopt;
    }
    for (const std::string& text : target_texts) {
        auto target = parse_rule_target(text, error);
        if (!target) return std::nullopt;
        config.targets.push_back(std::move(*target));
    }
    if (const auto text = options.value("queue")) {
        if (!parse_queue_range(*text, config.queue_first, config.queue_last)) {
            error = "--queue wants Q or Q1:Q2 (0..65535, Q1 <= Q2), not '" + *text + "'";
            return std::nullopt;
        }
    }
    if (const auto text = options.value("mark-mask")) {
        const auto mask = parse_number32(*text);
        if (!mask || *mask == 0) {
            error = "--mark-mask wants a non-zero 32-bit number (e.g. 0xff), not '" + *text + "'";
            return std::nullopt;
        }
        config.mark_mask = *mask;
    }
    if (const auto text = options.value("table-base")) {
        const auto base = parse_number32(*text);
        if (!base) {
            error = "--table-base wants a routing table number, not '" + *text + "'";
            return std::nullopt;
        }
        config.table_base = *base;
    }
    if (const auto text = options.value("priority")) {
        const auto priority = parse_unsigned(*text, 1, kMaxRulePriority);
        if (!priority) {
            error = "--priority wants 1.." + std::to_string(kMaxRulePriority) + ", not '" + *text + "'";
            return std::nullopt;
        }
        config.priority = static_cast<std::uint32_t>(*priority);
    }
    if (const auto text = options.value("encap-port")) {
        const auto port = parse_unsigned(*text, 1, 65535);
        if (!port) {
            error = "--encap-port wants 1..65535, not '" + *text + "'";
            return std::nullopt;
        }
        config.encapsulation_port = static_cast<std::uint16_t>(*port);
    }
    if (const auto text = options.value("server-queue")) {
        const auto queue = parse_unsigned(*text, 0, 65535);
        if (!queue) {
            error = "--server-queue wants 0..65535, not '" + *text + "'";
            return std::nullopt;
        }
        config.server_queue = static_cast<std::uint16_t>(*queue);
    }
    config.queue_bypass = options.has("queue-bypass");
    config.targets_only = options.has("targets-only");
    config.fast_path = options.has("fastpath") || options.has("fastpath-only");
    if (options.has("fastpath") && options.has("fastpath-only")) {
        error = "--fastpath and --fastpath-only exclude each other";
        return std::nullopt;
    }
    if (const auto text = options.value("shm")) config.tag = *text;
    return config;
}

// The fast path's nft objects for `config`: sized and timed from the
// instance's shared memory (the map holds what the table can hold; an
// element lives as long as an idle association).
std::optional<FastPathRuleset> make_fast_path_ruleset(const RulesConfig& config, std::string& error) {
    FastPathRuleset ruleset;
    ruleset.table = fastpath_table_name(config.tag);
    ruleset.vips = config.vips;
    ruleset.mark_mask = config.mark_mask;
    for (const RuleTarget& target : config.targets)
        if (std::find(ruleset.fwmarks.begin(), ruleset.fwmarks.end(), target.fwmark) == ruleset.fwmarks.end())
            ruleset.fwmarks.push_back(target.fwmark);
    auto state = SharedState::open(config.tag, error);
    if (!state) {
        error = "--fastpath sizes the kernel map from the shared memory: " + error;
        return std::nullopt;
    }
    const AssociationTable& table = state->table();
    ruleset.map_size = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::uint64_t{table.capacity()} * kMaxClientAddresses, 0x7fffffffu));
    ruleset.timeout_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(table.timeouts().idle).count());
    return ruleset;
}

std::string fast_path_summary(const FastPathRuleset& r) {
    std::string marks;
    // Not `(marks.empty() ? "" : ",") + text`: gcc 12 at -O3 reports a false -Wrestrict
    // inside libstdc++ for that (GCC bugs 105329, 105651).
    for (std::uint32_t fwmark : r.fwmarks) {
        if (!marks.empty()) marks += ',';
        marks += std::to_string(fwmark);
    }
    return "nft table inet " + r.table + " (netlink): maps assoc4/assoc6 of " + std::to_string(r.map_size) +
           " elements, timeout " + std::to_string(r.timeout_ms) + " ms; target chains for fwmarks " + marks +
           "; see 'nft list table inet " + r.table + "'";
}

// --targets-only: the table's target chains change, the rest stays.
bool merge_fast_path_targets(NftSession& nft, FastPathRuleset& ruleset, bool removing, std::string& error) {
    const auto info = nft.describe(ruleset.table, error);
    if (!info) return false;
    std::vector<std::uint32_t> given = ruleset.fwmarks;
    ruleset.fwmarks = info->fwmarks;
    for (std::uint32_t fwmark : given) {
        const auto it = std::find(ruleset.fwmarks.begin(), ruleset.fwmarks.end(), fwmark);
        if (removing && it != ruleset.fwmarks.end()) ruleset.fwmarks.erase(it);
        if (!removing && it == ruleset.fwmarks.end()) ruleset.fwmarks.push_back(fwmark);
    }
    ruleset.mark_mask = info->mark_mask;
    return true;
}

int failure(const std::string& error) {
    std::fprintf(stderr, "sctplb rules: %s\n", error.c_str());
    return 1;
}

void print_line(std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
}

}  // namespace

// --server-side: what a server that opens associations from the VIPs needs.
int run_server_side(const Options& options) {
    std::string error;
    ServerSideConfig config;
    const auto vip = options.value("vip");
    if (!vip) return usage_error(kCommand, "--vip ADDR[,ADDR...] is required");
    if (!parse_address_list(*vip, "vip", config.vips, error)) return usage_error(kCommand, error);
    std::string via = "0=";
    via += *options.value("server-side");
    auto target = parse_rule_target(via, error);
    if (!target) return usage_error(kCommand, "--server-side: " + error);
    config.via = *target;
    if (const auto text = options.value("server-mark")) {
        const auto mark = parse_number32(*text);
        if (!mark || *mark == 0) return usage_error(kCommand, "--server-mark wants a non-zero 32-bit number, not '" + *text + "'");
        config.mark = *mark;
    }
    if (const auto text = options.value("shm")) config.tag = *text;
    const auto plan = make_server_side_plan(config, error);
    if (!plan) return usage_error(kCommand, error);
    if (!options.has("apply") && !options.has("delete")) {
        for (const RuleStep& step : *plan) print_line(shell_command(step.add));
        return 0;
    }
    ProcessRunner runner;
    const ApplyOutcome outcome = options.has("apply") ? apply_rule_plan(*plan, runner, print_line)
                                                      : delete_rule_plan(*plan, runner, print_line);
    std::fflush(stdout);
    if (!outcome.ok) return failure(outcome.error);
    return 0;
}

int run_rules(std::span<const std::string> args) {
    int parse_status = 0;
    const auto options = parse_or_help(kCommand, kSpecs, args, kUsage, kDescription, parse_status);
    if (!options) return parse_status;
    if (options->has("server-side")) return run_server_side(*options);
    std::string error;
    const auto config = make_config(*options, error);
    if (!config) return usage_error(kCommand, error);
    auto plan = make_rule_plan(*config, error);
    if (!plan) return usage_error(kCommand, error);
    if (options->has("fastpath-only")) plan->clear();

    std::optional<FastPathRuleset> ruleset;
    if (config->fast_path) {
        ruleset = make_fast_path_ruleset(*config, error);
        if (!ruleset) return failure(error);
    }

    if (!options->has("apply") && !options->has("delete")) {
        if (ruleset) print_line("# " + fast_path_summary(*ruleset));
        for (const RuleStep& step : *plan) print_line(shell_command(step.add));
        return 0;
    }

    std::optional<NftSession> nft;
    if (ruleset) {
        nft = NftSession::open(error);
        if (!nft) return failure("--fastpath: " + error);
    }
    ProcessRunner runner;
    if (options->has("apply")) {
        // Before anything is made (the nft table included): see find_table_conflict.
        if (const auto conflict = find_table_conflict(*plan, runner)) {
            std::string refused = "refused: ";
            refused += *conflict;
            return failure(refused);
        }
        // The nft table first: its map is empty, so until the daemon fills it
        // nothing is marked and the NFQUEUE rules below queue everything.
        bool table_existed = false;
        if (ruleset) {
            if (config->targets_only && !merge_fast_path_targets(*nft, *ruleset, false, error))
                return failure("--fastpath --targets-only: " + error);
            table_existed = nft->describe(ruleset->table, error).has_value();
            if (!nft->install(*ruleset, error)) return failure("--fastpath: " + error);
            print_line((table_existed ? "= " : "+ ") + fast_path_summary(*ruleset));
        }
        const ApplyOutcome outcome = apply_rule_plan(*plan, runner, print_line);
        std::fflush(stdout);
        if (!outcome.ok) {
            if (ruleset && !table_existed && nft->remove(ruleset->table, error))
                print_line("! nft table inet " + ruleset->table);
            std::fprintf(stderr, "sctplb rules: %s\nsctplb rules: rolled back %zu added object(s)\n",
                         outcome.error.c_str(), outcome.rolled_back);
            return 1;
        }
        std::printf("sctplb rules: %zu added, %zu already present\n", outcome.added + (ruleset && !table_existed),
                    outcome.present + (ruleset && table_existed));
        return 0;
    }
    const ApplyOutcome outcome = delete_rule_plan(*plan, runner, print_line);
    std::fflush(stdout);
    std::size_t removed = outcome.removed;
    if (ruleset) {
        // After the NFQUEUE rules: everything is queued again before the map goes.
        bool existed = false;
        if (config->targets_only) {
            if (merge_fast_path_targets(*nft, *ruleset, true, error) && nft->install(*ruleset, error))
                print_line("- target chains of nft table inet " + ruleset->table);
            else
                std::fprintf(stderr, "sctplb rules: --fastpath --targets-only: %s\n", error.c_str());
        } else if (!nft->remove(ruleset->table, error, &existed)) {
            std::fprintf(stderr, "sctplb rules: --fastpath: %s\n", error.c_str());
            return 1;
        } else if (existed) {
            print_line("- nft table inet " + ruleset->table);
            ++removed;
        }
    }
    if (!outcome.ok) {
        std::fprintf(stderr, "sctplb rules: %s\n", outcome.error.c_str());
        return 1;
    }
    if (outcome.kept > 0)
        std::printf("sctplb rules: %zu removed, %zu kept for another instance\n", removed, outcome.kept);
    else
        std::printf("sctplb rules: %zu removed\n", removed);
    return 0;
}

}  // namespace sctplb::cli
