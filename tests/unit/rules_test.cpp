// `sctplb rules` generation (lb/io/rules.hpp): the exact commands per setup,
// input validation, and apply/delete/rollback against a fake command runner.
#include "io/rules.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>
#include "support/address.hpp"

namespace sctplb {
namespace {

using test::ip;  // tests/support/address.hpp

RuleTarget target(std::uint32_t fwmark, const char* nexthop, std::string device = {}) {
    return RuleTarget{.fwmark = fwmark, .nexthop = ip(nexthop), .device = std::move(device)};
}

std::vector<std::string> added_commands(const RulesConfig& config) {
    std::string error;
    const auto plan = make_rule_plan(config, error);
    EXPECT_TRUE(plan.has_value()) << error;
    std::vector<std::string> lines;
    if (plan)
        for (const auto& step : *plan) lines.push_back(shell_command(step.add));
    return lines;
}

// ------------------------------------------------------------ generation

TEST(RulesPlan, Ipv4SingleTargetIsExactlyTheseCommands) {
    RulesConfig config;
    config.vips = {ip("10.0.0.1")};
    config.targets = {target(1, "192.168.1.1"), target(2, "192.168.1.2")};
    config.tag = "lb0";
    const std::vector<std::string> expected = {
        "iptables -w -t raw -A PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:lb0 -j NOTRACK",
        "iptables -w -t raw -A PREROUTING -s 10.0.0.1/32 -p sctp -m comment --comment sctplb:lb0 -j NOTRACK",
        "ip -4 route add 10.0.0.1/32 via 192.168.1.1 table 5001 proto 132",
        "ip -4 route add 10.0.0.1/32 via 192.168.1.2 table 5002 proto 132",
        "ip -4 route add blackhole 10.0.0.1/32 table 5000 proto 132",
        "ip -4 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132",
        "ip -4 rule add pref 10000 fwmark 0x2/0xffffffff table 5002 protocol 132",
        "ip -4 rule add pref 10001 to 10.0.0.1/32 table 5000 protocol 132",
        "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
        // ICMP errors about the VIP's packets go to the daemon too (path MTU discovery through DSR).
        "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p icmp --icmp-type destination-unreachable -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
        "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p icmp --icmp-type time-exceeded -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
        "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p icmp --icmp-type parameter-problem -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
    };
    EXPECT_EQ(added_commands(config), expected);
}

TEST(RulesPlan, CheckAndRemoveMirrorAdd) {
    RulesConfig config;
    config.vips = {ip("10.0.0.1")};
    config.targets = {target(7, "192.168.1.7")};
    std::string error;
    const auto plan = make_rule_plan(config, error);
    ASSERT_TRUE(plan) << error;
    struct Case {
        std::size_t index;
        const char* check;
        CheckKind kind;
        const char* remove;
    };
    const Case cases[] = {
        {0, "iptables -w -t raw -C PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:sctplb -j NOTRACK",
         CheckKind::ExitZero,
         "iptables -w -t raw -D PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:sctplb -j NOTRACK"},
        {2, "ip -4 route list table 5007 exact 10.0.0.1/32 proto 132 via 192.168.1.7", CheckKind::AnyOutput,
         "ip -4 route del 10.0.0.1/32 via 192.168.1.7 table 5007 proto 132"},
        {3, "ip -4 route list table 5000 exact 10.0.0.1/32 proto 132 type blackhole", CheckKind::AnyOutput,
         "ip -4 route del blackhole 10.0.0.1/32 table 5000 proto 132"},
        {4, "ip -N -4 rule list pref 10000 fwmark 0x7/0xffffffff table 5007", CheckKind::OutputProtocol,
         "ip -4 rule del pref 10000 fwmark 0x7/0xffffffff table 5007 protocol 132"},
        {5, "ip -N -4 rule list pref 10001 to 10.0.0.1/32 table 5000", CheckKind::OutputProtocol,
         "ip -4 rule del pref 10001 to 10.0.0.1/32 table 5000 protocol 132"},
    };
    ASSERT_EQ(plan->size(), 10u);
    for (const auto& c : cases) {
        SCOPED_TRACE(c.index);
        EXPECT_EQ(shell_command((*plan)[c.index].check), c.check);
        EXPECT_EQ((*plan)[c.index].check_kind, c.kind);
        EXPECT_EQ(shell_command((*plan)[c.index].remove), c.remove);
    }
}

// Table-driven: one setup per row, the commands every row must (and must not) contain.
struct PlanCase {
    const char* name;
    RulesConfig config;
    std::size_t command_count;
    std::vector<std::string> must_contain;
    std::vector<std::string> must_not_contain;
};

RulesConfig make(std::vector<IpAddress> vips, std::vector<RuleTarget> targets,
                 void (*tweak)(RulesConfig&) = nullptr) {
    RulesConfig config;
    config.vips = std::move(vips);
    config.targets = std::move(targets);
    if (tweak) tweak(config);
    return config;
}

// With the kernel fast path only VIP SCTP that its map did not mark (no bit
// of the mask set) is queued; ICMP errors are queued as before.
TEST(RulesPlan, FastPathQueuesOnlyUnmarkedSctp) {
    RulesConfig config;
    config.vips = {ip("10.0.0.1"), ip("2001:db8::10")};
    config.targets = {target(1, "192.168.1.1"), target(1, "fd00::1")};
    config.mark_mask = 0xff;
    config.tag = "lb0";
    config.fast_path = true;
    const auto lines = added_commands(config);
    for (const char* expected :
         {"iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p sctp -m mark --mark 0/0xff -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
          "ip6tables -w -t mangle -A PREROUTING -d 2001:db8::10/128 -p sctp -m mark --mark 0/0xff -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2",
          "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p icmp --icmp-type destination-unreachable -m comment --comment sctplb:lb0 -j NFQUEUE --queue-num 2"})
        EXPECT_NE(std::find(lines.begin(), lines.end(), expected), lines.end()) << expected;
    config.fast_path = false;
    EXPECT_EQ(added_commands(config).size(), lines.size()) << "the same objects, only the match differs";
}

TEST(RulesPlan, TableOfSetups) {
    const std::vector<PlanCase> cases = {
        {"ipv6",
         make({ip("2001:db8::10")}, {target(1, "fd00::1"), target(2, "fd00::2")}),
         9 + 4,  // + ICMPv6 errors: unreachable, too big, time exceeded, parameter problem
         {"ip6tables -w -t raw -A PREROUTING -d 2001:db8::10/128 -p sctp -m comment --comment sctplb:sctplb -j NOTRACK",
          "ip6tables -w -t raw -A PREROUTING -s 2001:db8::10/128 -p sctp -m comment --comment sctplb:sctplb -j NOTRACK",
          "ip -6 route add 2001:db8::10/128 via fd00::2 table 5002 proto 132",
          "ip -6 route add blackhole 2001:db8::10/128 table 5000 proto 132",
          "ip -6 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132",
          "ip -6 rule add pref 10001 to 2001:db8::10/128 table 5000 protocol 132",
          "ip6tables -w -t mangle -A PREROUTING -d 2001:db8::10/128 -p sctp -m comment --comment sctplb:sctplb -j NFQUEUE --queue-num 2"},
         {"iptables -w", "ip -4"}},
        {"ipv6 link-local nexthop with its interface",
         make({ip("2001:db8::10")}, {target(1, "fe80::1", "eth1")}),
         7 + 4,
         {"ip -6 route add 2001:db8::10/128 via fe80::1 dev eth1 table 5001 proto 132"},
         {}},
        {"mixed families: one table per target, a rule per family",
         make({ip("10.0.0.1"), ip("2001:db8::10"), ip("10.0.0.2")},
              {target(1, "192.168.1.1"), target(1, "fd00::1"), target(2, "192.168.1.2"), target(2, "fd00::2")}),
         // NOTRACK 2x3, routes 2x3, blackhole routes 3, fwmark rules 4, VIP rules 3, NFQUEUE 3, ICMP 3+4+3
         6 + 6 + 3 + 4 + 3 + 3 + 10,
         {"ip -4 route add 10.0.0.2/32 via 192.168.1.2 table 5002 proto 132",
          "ip -6 route add 2001:db8::10/128 via fd00::2 table 5002 proto 132",
          "ip -4 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132",
          "ip -6 rule add pref 10000 fwmark 0x1/0xffffffff table 5001 protocol 132",
          "ip6tables -w -t mangle -A PREROUTING -d 2001:db8::10/128 -p sctp -m comment --comment sctplb:sctplb -j NFQUEUE --queue-num 2",
          "iptables -w -t mangle -A PREROUTING -d 10.0.0.2/32 -p sctp -m comment --comment sctplb:sctplb -j NFQUEUE --queue-num 2"},
         {"ip -4 route add 2001:db8::10/128", "ip -6 route add 10.0.0.1/32", "via fd00::1 table 5002",
          "iptables -w -t mangle -A PREROUTING -d 2001:db8::10/128"}},
        {"queue balance and bypass",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")},
              [](RulesConfig& c) {
                  c.queue_first = 0;
                  c.queue_last = 3;
                  c.queue_bypass = true;
              }),
         7 + 3,
         {"iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:sctplb -j NFQUEUE --queue-balance 0:3 --queue-bypass"},
         {"--queue-num"}},
        {"mark mask: table = base + fwmark under the mask, shifted to bit 0",
         make({ip("10.0.0.1")}, {target(0x200, "192.168.1.1"), target(0x1f00, "192.168.1.2")},
              [](RulesConfig& c) {
                  c.mark_mask = 0xff00;
                  c.table_base = 100;
                  c.priority = 500;
              }),
         9 + 3,
         {"ip -4 route add 10.0.0.1/32 via 192.168.1.1 table 102 proto 132",
          "ip -4 route add 10.0.0.1/32 via 192.168.1.2 table 131 proto 132",
          "ip -4 route add blackhole 10.0.0.1/32 table 100 proto 132",
          "ip -4 rule add pref 500 fwmark 0x200/0xff00 table 102 protocol 132",
          "ip -4 rule add pref 500 fwmark 0x1f00/0xff00 table 131 protocol 132",
          "ip -4 rule add pref 501 to 10.0.0.1/32 table 100 protocol 132"},
         {}},
        {"targets only: the routes and fwmark rules of the targets, nothing shared",
         make({ip("10.0.0.1"), ip("2001:db8::1")}, {target(3, "192.168.1.3"), target(3, "fd00::3")},
              [](RulesConfig& c) {
                  c.targets_only = true;
                  c.encapsulation_port = 9899;
              }),
         4,
         {"ip -4 route add 10.0.0.1/32 via 192.168.1.3 table 5003 proto 132",
          "ip -6 route add 2001:db8::1/128 via fd00::3 table 5003 proto 132",
          "ip -4 rule add pref 10000 fwmark 0x3/0xffffffff table 5003 protocol 132",
          "ip -6 rule add pref 10000 fwmark 0x3/0xffffffff table 5003 protocol 132"},
         {"iptables", "blackhole", "pref 10001"}},
        {"SCTP over UDP (RFC 6951)",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")},
              [](RulesConfig& c) { c.encapsulation_port = 9899; }),
         10 + 3,
         {"iptables -w -t raw -A PREROUTING -d 10.0.0.1/32 -p udp --dport 9899 -m comment --comment sctplb:sctplb -j NOTRACK",
          "iptables -w -t raw -A PREROUTING -s 10.0.0.1/32 -p udp --sport 9899 -m comment --comment sctplb:sctplb -j NOTRACK",
          "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p udp --dport 9899 -m comment --comment sctplb:sctplb -j NFQUEUE --queue-num 2",
          "iptables -w -t mangle -A PREROUTING -d 10.0.0.1/32 -p sctp -m comment --comment sctplb:sctplb -j NFQUEUE --queue-num 2"},
         {}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto lines = added_commands(c.config);
        EXPECT_EQ(lines.size(), c.command_count);
        for (const auto& want : c.must_contain)
            EXPECT_NE(std::find(lines.begin(), lines.end(), want), lines.end()) << "missing: " << want;
        for (const auto& banned : c.must_not_contain)
            for (const auto& line : lines) EXPECT_EQ(line.find(banned), std::string::npos) << line;
        // Every command names its family consistently and carries a marker.
        for (const auto& line : lines) {
            const bool ipt = line.starts_with("iptables") || line.starts_with("ip6tables");
            if (ipt) {
                EXPECT_NE(line.find("--comment sctplb:"), std::string::npos) << line;
            } else {
                EXPECT_TRUE(line.ends_with("proto 132") || line.ends_with("protocol 132")) << line;
            }
            const bool has_v6_address = line.find("::") != std::string::npos;
            if (line.starts_with("iptables ") || line.starts_with("ip -4 ")) {
                EXPECT_FALSE(has_v6_address) << line;
            }
            if (line.starts_with("ip6tables ") || line.starts_with("ip -6 route")) {
                EXPECT_TRUE(has_v6_address) << line;
            }
        }
        // No duplicates: --apply checks each object, a duplicate would be a bug.
        EXPECT_EQ(std::set<std::string>(lines.begin(), lines.end()).size(), lines.size());
    }
}

TEST(RulesPlan, OrderQueuesLastAndRoutesBeforeRules) {
    RulesConfig config = make({ip("10.0.0.1")}, {target(1, "192.168.1.1")});
    const auto lines = added_commands(config);
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.back().find("NFQUEUE"), std::string::npos);
    auto first_index = [&](const char* needle) {
        for (std::size_t i = 0; i < lines.size(); ++i)
            if (lines[i].find(needle) != std::string::npos) return i;
        return lines.size();
    };
    EXPECT_LT(first_index("NOTRACK"), first_index("route add"));
    EXPECT_LT(first_index("route add"), first_index("rule add"));
    EXPECT_LT(first_index("fwmark"), first_index("pref 10001"));
}

TEST(RulesPlan, TableDependsOnFwmarkNotOnTargetOrder) {
    RulesConfig a = make({ip("10.0.0.1")}, {target(1, "192.168.1.1"), target(3, "192.168.1.3")});
    RulesConfig b = make({ip("10.0.0.1")}, {target(3, "192.168.1.3"), target(1, "192.168.1.1")});
    auto sa = added_commands(a);
    auto sb = added_commands(b);
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    EXPECT_EQ(sa, sb);
}

// ------------------------------------------------------------ bad input

TEST(RulesPlan, InvalidConfigurationsAreRefusedWithAReason) {
    struct Case {
        const char* name;
        RulesConfig config;
        const char* error_part;
    };
    const Case cases[] = {
        {"no vip", make({}, {target(1, "192.168.1.1")}), "--vip"},
        {"no target", make({ip("10.0.0.1")}, {}), "--target"},
        {"fwmark 0", make({ip("10.0.0.1")}, {target(0, "192.168.1.1")}), "fwmark 0"},
        {"fwmark outside mask",
         make({ip("10.0.0.1")}, {target(0x100, "192.168.1.1")}, [](RulesConfig& c) { c.mark_mask = 0xff; }),
         "outside --mark-mask"},
        {"mask 0", make({ip("10.0.0.1")}, {target(1, "192.168.1.1")}, [](RulesConfig& c) { c.mark_mask = 0; }),
         "--mark-mask"},
        {"nexthop family without VIPs", make({ip("10.0.0.1")}, {target(1, "fd00::1")}), "no --vip is IPv6"},
        {"VIP family without nexthop for a target",
         make({ip("10.0.0.1"), ip("2001:db8::1")},
              {target(1, "192.168.1.1"), target(1, "fd00::1"), target(2, "192.168.1.2")}),
         "fwmark 2 has no IPv6 nexthop"},
        {"same fwmark twice in one family",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1"), target(1, "192.168.1.2")}), "already has"},
        {"duplicate vip", make({ip("10.0.0.1"), ip("10.0.0.1")}, {target(1, "192.168.1.1")}), "given twice"},
        {"unspecified vip", make({ip("0.0.0.0")}, {target(1, "192.168.1.1")}), "unspecified"},
        {"unspecified nexthop", make({ip("10.0.0.1")}, {target(1, "0.0.0.0")}), "unspecified"},
        {"link-local without device", make({ip("2001:db8::1")}, {target(1, "fe80::1")}), "link-local"},
        {"reserved table base",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")}, [](RulesConfig& c) { c.table_base = 254; }),
         "reserved"},
        {"target table lands on main",
         make({ip("10.0.0.1")}, {target(4, "192.168.1.1")}, [](RulesConfig& c) { c.table_base = 250; }),
         "routing table 254"},
        {"target table overflows 32 bits",
         make({ip("10.0.0.1")}, {target(0xffffffff, "192.168.1.1")}), "out of range"},
        {"priority after main",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")}, [](RulesConfig& c) { c.priority = 32765; }),
         "--priority"},
        {"queue range reversed",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")},
              [](RulesConfig& c) {
                  c.queue_first = 4;
                  c.queue_last = 1;
              }),
         "--queue"},
        {"tag with a space",
         make({ip("10.0.0.1")}, {target(1, "192.168.1.1")}, [](RulesConfig& c) { c.tag = "a b"; }),
         "--shm"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        std::string error;
        EXPECT_FALSE(make_rule_plan(c.config, error).has_value());
        EXPECT_NE(error.find(c.error_part), std::string::npos) << error;
        EXPECT_EQ(error.find('\n'), std::string::npos) << "one line: " << error;
    }
}

TEST(RulesParse, Targets) {
    struct Case {
        const char* text;
        bool ok;
        std::uint32_t fwmark;
        const char* nexthop;
        const char* device;
    };
    const Case cases[] = {
        {"1=192.168.1.1", true, 1, "192.168.1.1", ""},
        {"0x10=fd00::1", true, 16, "fd00::1", ""},
        {"3=fe80::1@eth0", true, 3, "fe80::1", "eth0"},
        {"4294967295=10.0.0.1", true, 0xffffffff, "10.0.0.1", ""},
        {"4294967296=10.0.0.1", false, 0, "", ""},
        {"1:192.168.1.1", false, 0, "", ""},
        {"=192.168.1.1", false, 0, "", ""},
        {"x=192.168.1.1", false, 0, "", ""},
        {"1=192.168.1.300", false, 0, "", ""},
        {"1=", false, 0, "", ""},
        {"1=10.0.0.1@", false, 0, "", ""},
        {"1=10.0.0.1@a/b", false, 0, "", ""},
        {"1=10.0.0.1@waytoolonginterface", false, 0, "", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        std::string error;
        const auto parsed = parse_rule_target(c.text, error);
        ASSERT_EQ(parsed.has_value(), c.ok) << error;
        if (!c.ok) {
            EXPECT_FALSE(error.empty());
            continue;
        }
        EXPECT_EQ(parsed->fwmark, c.fwmark);
        EXPECT_EQ(parsed->nexthop, ip(c.nexthop));
        EXPECT_EQ(parsed->device, c.device);
    }
}

TEST(RulesParse, NumbersAndQueues) {
    EXPECT_EQ(parse_number32("0xff00"), 0xff00u);
    EXPECT_EQ(parse_number32("0XFFFFFFFF"), 0xffffffffu);
    EXPECT_EQ(parse_number32("65280"), 65280u);
    EXPECT_FALSE(parse_number32("0x"));
    EXPECT_FALSE(parse_number32("0x100000000"));
    EXPECT_FALSE(parse_number32("-1"));
    EXPECT_FALSE(parse_number32("12a"));

    struct Case {
        const char* text;
        bool ok;
        std::uint16_t first, last;
    };
    const Case cases[] = {{"2", true, 2, 2},      {"0:3", true, 0, 3},   {"65535", true, 65535, 65535},
                          {"3:1", false, 0, 0},   {"65536", false, 0, 0}, {"1:", false, 0, 0},
                          {":1", false, 0, 0},    {"a", false, 0, 0},     {"", false, 0, 0},
                          {"0x10:0x11", true, 16, 17}, {"0x10000", false, 0, 0}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        std::uint16_t first = 9, last = 9;
        ASSERT_EQ(parse_queue_range(c.text, first, last), c.ok);
        if (c.ok) {
            EXPECT_EQ(first, c.first);
            EXPECT_EQ(last, c.last);
        }
    }
}

TEST(RulesPrint, ShellQuotingOnlyWhereNeeded) {
    EXPECT_EQ(shell_command({"ip", "-4", "rule", "add", "fwmark", "0x1/0xff"}), "ip -4 rule add fwmark 0x1/0xff");
    EXPECT_EQ(shell_command({"echo", "a b", "", "it's"}), "echo 'a b' '' 'it'\\''s'");
    EXPECT_EQ(shell_command({"x", "$(id)", "a;b"}), "x '$(id)' 'a;b'");
}

// ------------------------------------------------------------ existence checks

TEST(RulesCheck, ExistenceFromCheckOutput) {
    RuleStep ipt;
    ipt.check_kind = CheckKind::ExitZero;
    RuleStep route;
    route.check_kind = CheckKind::AnyOutput;
    RuleStep rule;
    rule.check_kind = CheckKind::OutputProtocol;
    struct Case {
        const char* name;
        const RuleStep* step;
        CommandResult result;
        bool exists;
    };
    const Case cases[] = {
        {"iptables -C found", &ipt, {0, "", ""}, true},
        {"iptables -C bad rule", &ipt, {1, "", "iptables: Bad rule"}, false},
        {"iptables not installed", &ipt, {-1, "", "cannot run"}, false},
        {"route listed", &route, {0, "10.0.0.1 via 192.168.1.1 dev eth1 \n", ""}, true},
        {"route absent", &route, {0, "", ""}, false},
        {"route absent, blank", &route, {0, " \n", ""}, false},
        {"route table missing", &route, {2, "", "Error: ipv4: FIB table does not exist."}, false},
        {"rule with our protocol", &rule, {0, "10000:\tfrom all fwmark 0x1/0xff lookup 5001 proto 132\n", ""}, true},
        {"rule among others", &rule,
         {0, "10000:\tfrom all fwmark 0x1/0xff lookup 5001\n10000:\tfrom all fwmark 0x1/0xff lookup 5001 proto 132 \n", ""},
         true},
        {"user's identical rule without protocol", &rule, {0, "10000:\tfrom all fwmark 0x1/0xff lookup 5001\n", ""}, false},
        {"other protocol", &rule, {0, "10000:\tfrom all fwmark 0x1/0xff lookup 5001 proto 1320\n", ""}, false},
        {"lookup 132 is not proto 132", &rule, {0, "10000:\tfrom all lookup 132\n", ""}, false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(step_exists(*c.step, c.result), c.exists);
    }
}

// ------------------------------------------------------------ apply / delete

// A fake system: objects exist as the set of their add-command lines.
class FakeSystem final : public CommandRunner {
public:
    explicit FakeSystem(const std::vector<RuleStep>& plan) {
        for (const auto& step : plan) {
            by_check_[shell_command(step.check)] = &step;
            by_add_[shell_command(step.add)] = &step;
            by_remove_[shell_command(step.remove)] = &step;
        }
    }

    CommandResult run(const Argv& argv) override {
        const std::string line = shell_command(argv);
        log.push_back(line);
        if (line == fail_on) return {2, "", "RTNETLINK answers: File exists\n"};
        if (auto it = by_check_.find(line); it != by_check_.end()) {
            const bool exists = objects.count(shell_command(it->second->add)) != 0;
            switch (it->second->check_kind) {
                case CheckKind::ExitZero:
                    return {exists ? 0 : 1, "", exists ? "" : "Bad rule"};
                case CheckKind::AnyOutput:
                    return {0, exists ? "route\n" : "", ""};
                case CheckKind::OutputProtocol:
                    return {0, exists ? "1: from all lookup 1 proto 132\n" : "", ""};
            }
        }
        if (argv.size() == 6 && argv[0] == "ip" && argv[3] == "show") return list_table(argv[1], argv[5]);
        if (auto it = by_add_.find(line); it != by_add_.end()) {
            objects.insert(line);
            return {0, "", ""};
        }
        if (auto it = by_remove_.find(line); it != by_remove_.end()) {
            const std::string key = shell_command(it->second->add);
            if (objects.erase(key) == 0) return {2, "", "RTNETLINK answers: No such file or directory\n"};
            return {0, "", ""};
        }
        return {127, "", "unexpected command"};
    }

    std::set<std::string> objects;
    std::vector<std::string> log;
    std::string fail_on;
    // Routes nobody's plan made, by "-4 5001": `ip -4 route show table 5001` lines.
    std::multimap<std::string, std::string> other_routes;

private:
    // `ip -4 route show table T`: our route objects in T (the words of their
    // add command between "add" and "table") and other_routes; an empty table
    // does not exist, as with iproute2 6.1.
    CommandResult list_table(const std::string& family, const std::string& table) const {
        std::string output;
        for (const std::string& object : objects) {
            const std::string head = "ip " + family + " route add ";
            const std::string tail = " table " + table + " proto 132";
            if (object.starts_with(head) && object.ends_with(tail))
                output += object.substr(head.size(), object.size() - head.size() - tail.size()) + " proto 132\n";
        }
        const auto [first, last] = other_routes.equal_range(family + " " + table);
        for (auto it = first; it != last; ++it) output += it->second + "\n";
        if (output.empty()) return {2, "", "Error: ipv4: FIB table does not exist.\nDump terminated\n"};
        return {0, output, ""};
    }

    std::map<std::string, const RuleStep*> by_check_, by_add_, by_remove_;
};

std::vector<RuleStep> sample_plan() {
    RulesConfig config = make({ip("10.0.0.1"), ip("2001:db8::1")},
                              {target(1, "192.168.1.1"), target(1, "fd00::1")});
    std::string error;
    auto plan = make_rule_plan(config, error);
    EXPECT_TRUE(plan) << error;
    return plan.value_or(std::vector<RuleStep>{});
}

TEST(RulesApply, AddsEverythingOnceAndIsIdempotent) {
    const auto plan = sample_plan();
    FakeSystem system(plan);
    std::vector<std::string> progress;
    auto first = apply_rule_plan(plan, system, [&](std::string_view l) { progress.emplace_back(l); });
    EXPECT_TRUE(first.ok) << first.error;
    EXPECT_EQ(first.added, plan.size());
    EXPECT_EQ(system.objects.size(), plan.size());
    ASSERT_EQ(progress.size(), plan.size());
    EXPECT_EQ(progress.front(), "+ " + shell_command(plan.front().add));

    system.log.clear();
    auto second = apply_rule_plan(plan, system, nullptr);
    EXPECT_TRUE(second.ok);
    EXPECT_EQ(second.added, 0u);
    EXPECT_EQ(second.present, plan.size());
    EXPECT_EQ(system.log.size(), plan.size()) << "only checks on the second run";
}

TEST(RulesApply, FailureRollsBackOnlyWhatThisRunAdded) {
    const auto plan = sample_plan();
    ASSERT_GE(plan.size(), 6u);
    FakeSystem system(plan);
    // Object 1 existed before (a previous apply): rollback must leave it.
    system.objects.insert(shell_command(plan[1].add));
    system.fail_on = shell_command(plan[5].add);
    std::vector<std::string> progress;
    auto outcome = apply_rule_plan(plan, system, [&](std::string_view l) { progress.emplace_back(l); });
    EXPECT_FALSE(outcome.ok);
    EXPECT_NE(outcome.error.find(shell_command(plan[5].add)), std::string::npos) << outcome.error;
    EXPECT_NE(outcome.error.find("File exists"), std::string::npos) << outcome.error;
    EXPECT_EQ(outcome.added, 4u);  // steps 0, 2, 3, 4 (1 was present)
    EXPECT_EQ(outcome.rolled_back, 4u);
    EXPECT_EQ(system.objects, std::set<std::string>{shell_command(plan[1].add)});
    // Reverse order of addition.
    std::vector<std::string> rollback;
    for (const auto& line : progress)
        if (line.starts_with("! ")) rollback.push_back(line.substr(2));
    const std::vector<std::string> expected = {shell_command(plan[4].remove), shell_command(plan[3].remove),
                                               shell_command(plan[2].remove), shell_command(plan[0].remove)};
    EXPECT_EQ(rollback, expected);
}

TEST(RulesApply, DeleteRemovesOursInReverseAndSkipsAbsent) {
    const auto plan = sample_plan();
    FakeSystem system(plan);
    ASSERT_TRUE(apply_rule_plan(plan, system, nullptr).ok);
    system.objects.erase(shell_command(plan[2].add));  // someone removed one already
    system.objects.insert("user rule");
    system.log.clear();
    std::vector<std::string> progress;
    auto outcome = delete_rule_plan(plan, system, [&](std::string_view l) { progress.emplace_back(l); });
    EXPECT_TRUE(outcome.ok) << outcome.error;
    EXPECT_EQ(outcome.removed, plan.size() - 1);
    EXPECT_EQ(outcome.kept, 0u) << "alone in its tables: every ip rule goes";
    EXPECT_EQ(system.objects, std::set<std::string>{"user rule"});
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.front(), "- " + shell_command(plan.back().remove)) << "NFQUEUE goes first";
    for (const auto& line : system.log) EXPECT_NE(line, shell_command(plan[2].remove));

    auto again = delete_rule_plan(plan, system, nullptr);
    EXPECT_TRUE(again.ok);
    EXPECT_EQ(again.removed, 0u);
}

// ------------------------------------------------------------ two instances, one namespace

std::string v4_fwmark_rule(const std::vector<RuleStep>& plan) {
    for (const RuleStep& step : plan)
        if (shell_command(step.add).starts_with("ip -4 rule add pref 10000 fwmark")) return shell_command(step.add);
    ADD_FAILURE() << "no IPv4 fwmark rule in the plan";
    return {};
}

TEST(RulesTables, ApplyRefusedWhenAPlanTableRoutesAForeignDestination) {
    const auto plan = sample_plan();  // VIPs 10.0.0.1, 2001:db8::1; fwmark 1: tables 5000, 5001
    FakeSystem system(plan);
    // Instance b (VIP 10.9.9.9, same fwmark and table-base) applied first.
    system.other_routes.emplace("-4 5001", "10.9.9.9 via 192.168.1.9 dev eth1 proto 132 ");
    const auto conflict = find_table_conflict(plan, system);
    ASSERT_TRUE(conflict);
    EXPECT_NE(conflict->find("table 5001 (IPv4) already routes 10.9.9.9,"), std::string::npos) << *conflict;
    EXPECT_NE(conflict->find("--table-base"), std::string::npos) << *conflict;
    EXPECT_EQ(conflict->find('\n'), std::string::npos) << "one line";
    for (const auto& line : system.log) EXPECT_TRUE(line.starts_with("ip -")) << "only listings: " << line;

    // The blackhole table counts too, prefixes and other route types included.
    FakeSystem v6(plan);
    v6.other_routes.emplace("-6 5000", "2001:db8:88::/64 dev lo metric 1024 pref medium");
    v6.other_routes.emplace("-6 5000", "unreachable 2001:db8:99::1 dev lo metric 1024 pref medium");
    const auto blackhole = find_table_conflict(plan, v6);
    ASSERT_TRUE(blackhole);
    EXPECT_NE(blackhole->find("table 5000 (IPv6) already routes 2001:db8:88::/64 (and 1 more),"), std::string::npos)
        << *blackhole;
}

TEST(RulesTables, NoConflictWhenTablesHoldOnlyOurVipsOrDoNotExist) {
    const auto plan = sample_plan();
    FakeSystem system(plan);
    EXPECT_FALSE(find_table_conflict(plan, system)) << "no table exists yet";
    ASSERT_TRUE(apply_rule_plan(plan, system, nullptr).ok);
    EXPECT_FALSE(find_table_conflict(plan, system)) << "a second --apply of the same instance";
    // Our VIP as the kernel prints it (no /32), via a nexthop of an earlier --apply.
    system.other_routes.emplace("-4 5001", "10.0.0.1 via 192.168.1.99 dev eth1 proto 132 ");
    system.other_routes.emplace("-6 5000", "blackhole 2001:db8:0::1 dev lo proto 132 metric 1024 pref medium");
    EXPECT_FALSE(find_table_conflict(plan, system));
}

TEST(RulesTables, AListingThatFailsIsAnErrorNotAnEmptyTable) {
    const auto plan = sample_plan();
    FakeSystem system(plan);
    system.fail_on = "ip -4 route show table 5001";
    const auto conflict = find_table_conflict(plan, system);
    ASSERT_TRUE(conflict);
    EXPECT_NE(conflict->find("failed: ip -4 route show table 5001"), std::string::npos) << *conflict;
}

TEST(RulesTables, DeleteKeepsTheIpRuleAnotherInstanceStillRoutesThrough) {
    const auto plan = sample_plan();
    FakeSystem system(plan);
    ASSERT_TRUE(apply_rule_plan(plan, system, nullptr).ok);
    // An older version let instance b (VIP 10.9.9.9) share fwmark 1 and table 5001.
    system.other_routes.emplace("-4 5001", "10.9.9.9 via 192.168.1.9 dev eth1 proto 132 ");
    std::vector<std::string> progress;
    const auto outcome = delete_rule_plan(plan, system, [&](std::string_view l) { progress.emplace_back(l); });
    EXPECT_TRUE(outcome.ok) << outcome.error;
    EXPECT_EQ(outcome.kept, 1u);
    EXPECT_EQ(outcome.removed, plan.size() - 1);
    const std::string rule = v4_fwmark_rule(plan);
    EXPECT_EQ(system.objects, std::set<std::string>{rule}) << "our routes go, the shared rule stays";
    const std::string kept = "kept: " + rule + " (table 5001 still routes 10.9.9.9 for another instance)";
    EXPECT_EQ(std::count(progress.begin(), progress.end(), kept), 1) << "progress has no line: " << kept;

    // Once b is gone, a second --delete removes the rule.
    system.other_routes.clear();
    const auto again = delete_rule_plan(plan, system, nullptr);
    EXPECT_EQ(again.removed, 1u);
    EXPECT_EQ(again.kept, 0u);
    EXPECT_TRUE(system.objects.empty());
}

TEST(RulesApply, ProcessRunnerCapturesOutputAndStatus) {
    ProcessRunner runner;
    auto ok = runner.run({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(ok.exit_status, 3);
    EXPECT_EQ(ok.output, "out\n");
    EXPECT_EQ(ok.errors, "err\n");
    auto missing = runner.run({"/nonexistent/sctplb-no-such-tool"});
    EXPECT_EQ(missing.exit_status, -1);
    EXPECT_NE(missing.errors.find("cannot run"), std::string::npos);
    auto no_shell = runner.run({"echo", "$(id)", ";", "x"});
    EXPECT_EQ(no_shell.output, "$(id) ; x\n") << "arguments reach the program verbatim";
}

TEST(RulesApply, ProcessRunnerLeaksNoDescriptorOfDevNull) {
    // The child opens /dev/null for stdin: besides fd 0, the program it runs
    // may see /dev/null only on descriptors it inherited from this process
    // (open and not close-on-exec here); the spare one must be O_CLOEXEC.
    std::string expected = "/proc/self/fd/0\n";
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ignored;
        if (std::filesystem::read_symlink(entry.path(), ignored) != "/dev/null") continue;
        const int fd = std::stoi(entry.path().filename().string());
        const int flags = fcntl(fd, F_GETFD);
        if (fd != 0 && flags >= 0 && (flags & FD_CLOEXEC) == 0)
            expected += "/proc/self/fd/" + std::to_string(fd) + "\n";
    }
    ProcessRunner runner;
    auto listing = runner.run({"sh", "-c", "find /proc/self/fd/ -lname /dev/null | sort -V"});
    ASSERT_EQ(listing.exit_status, 0) << listing.errors;
    EXPECT_EQ(listing.output, expected);
}

}  // namespace
}  // namespace sctplb
