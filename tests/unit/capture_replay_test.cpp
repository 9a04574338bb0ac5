// The decision code over real captures of multihomed associations
// (tests/data/README.md says how each was made). The ground truth comes from
// the capture itself, independently of the decider: an INIT ACK ties the
// client's tag Tc to the server's tag Ts, so every client -> server packet can
// be assigned to its association by its verification tag.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/decider.hpp"
#include "core/maglev.hpp"
#include "io/pcap_input.hpp"
#include "support/address.hpp"
#include "support/capture_replay.hpp"

using namespace sctplb;

namespace {

using test::ReplayedPacket;
using test::ts_by_tc;
using Replay = test::CaptureReplay;

Replay replay(const std::string& file, const std::vector<IpAddress>& vips, HashMode mode,
              std::uint16_t encap_port = 0) {
    std::string error;
    auto out = test::replay_capture(std::string(SCTPLB_TEST_DATA_DIR) + "/" + file, vips, mode, encap_port, error);
    EXPECT_TRUE(out) << error;
    return out.value_or(Replay{});
}

// The association (its Ts) of a client -> server packet, from the capture alone.
std::uint32_t association_of(const ReplayedPacket& p, const std::map<std::uint32_t, std::uint32_t>& tc_to_ts) {
    if (p.parsed.has_init) return tc_to_ts.at(p.parsed.init.initiate_tag);
    if (p.parsed.t_bit) return tc_to_ts.at(p.parsed.vtag);
    return p.parsed.vtag;
}

struct CaptureCase {
    const char* file;
    std::vector<IpAddress> vips;
    std::uint16_t encap_port;
    std::size_t associations;  // distinct Ts values (a restart makes two)
};

using test::ip;  // tests/support/address.hpp

std::vector<CaptureCase> capture_cases() {
    const std::vector<IpAddress> v4{ip("10.0.0.1"), ip("10.0.0.2")};
    const std::vector<IpAddress> v6{ip("fd00::1:1"), ip("fd00::1:2")};
    const std::vector<IpAddress> all{ip("10.0.0.1"), ip("10.0.0.2"), ip("fd00::1:1"), ip("fd00::1:2")};
    return {
        {"multihomed-v4.pcap", v4, 0, 1},  {"multihomed-v6.pcap", v6, 0, 1},
        {"fixed-ports-v4.pcap", v4, 0, 3}, {"restart-v4.pcap", v4, 0, 2},
        {"asconf-v4.pcap", v4, 0, 1},      {"udp-encap-v4.pcap", v4, 9899, 1},
        {"cookie-echo-path-b-v4.pcap", v4, 0, 1}, {"init-retransmit-v4.pcap", v4, 0, 1},
        // Linux kernel SCTP (tests/vm): its heartbeats also cross families and paths
        // (192.168.2.221 -> VIP B), so every VIP counts.
        {"lksctp-multihomed-v4.pcap", all, 0, 1}, {"lksctp-mixed-v4v6.pcap", all, 0, 1},
        {"lksctp-restart-v4.pcap", all, 0, 2},
    };
}

// Every client -> server packet of an association, on every path, is marked
// with the same fwmark, in both hash modes; nothing of it is dropped.
TEST(CaptureReplay, EveryPacketOfEachAssociationOnEveryPathKeepsOneTarget) {
    for (const CaptureCase& c : capture_cases()) {
        for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
            SCOPED_TRACE(std::string(c.file) + " " + std::string(hash_mode_name(mode)));
            const Replay r = replay(c.file, c.vips, mode, c.encap_port);
            ASSERT_FALSE(r.packets.empty());
            const auto tc_to_ts = ts_by_tc(r);
            EXPECT_EQ(tc_to_ts.size(), c.associations);
            std::map<std::uint32_t, std::set<std::uint32_t>> fwmarks_by_association;
            std::size_t in_packets = 0;
            for (const auto& p : r.packets) {
                if (p.direction != Direction::In || !p.parsed.ok()) continue;
                ++in_packets;
                EXPECT_EQ(p.verdict.action, Action::AcceptMarked)
                    << "frame " << p.frame << " " << reason_name(p.verdict.reason);
                fwmarks_by_association[association_of(p, tc_to_ts)].insert(p.verdict.fwmark);
            }
            EXPECT_GT(in_packets, 5u);
            for (const auto& [ts, fwmarks] : fwmarks_by_association)
                EXPECT_EQ(fwmarks.size(), 1u) << "association Ts " << std::hex << ts << " split over targets";
            // Client -> server traffic used both paths (two source addresses).
            std::set<std::string> sources;
            for (const auto& p : r.packets)
                if (p.direction == Direction::In && p.parsed.ok()) sources.insert(p.parsed.src.to_string());
            EXPECT_GE(sources.size(), 2u);
            // Server -> client packets are never marked.
            for (const auto& p : r.packets)
                if (p.direction == Direction::Out) {
                    EXPECT_NE(p.verdict.action, Action::AcceptMarked) << "frame " << p.frame;
                }
        }
    }
}

TEST(CaptureReplay, RestartKeepsTheServerAcrossNewTags) {
    const Replay r = replay("restart-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag);
    std::set<std::uint32_t> fwmarks;
    for (const auto& p : r.packets)
        if (p.direction == Direction::In && p.parsed.ok()) fwmarks.insert(p.verdict.fwmark);
    EXPECT_EQ(fwmarks.size(), 1u) << "the restarted association moved";
    EXPECT_EQ(r.counters.of(Reason::InitRestart), 1u);
    EXPECT_EQ(r.counters.of(Reason::CookieEchoRestart), 1u);
    EXPECT_EQ(r.counters.of(Event::Restarted), 1u);
    ASSERT_EQ(r.associations.size(), 1u);
    EXPECT_EQ(r.associations[0].state, AssociationState::Closed);  // ended with SHUTDOWN COMPLETE
}

TEST(CaptureReplay, AsconfAddedAddressIsPinnedAndDeleteIsIgnored) {
    const Replay r = replay("asconf-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag);
    EXPECT_GE(r.counters.of(Reason::Asconf), 2u);
    EXPECT_EQ(r.counters.of(Event::AsconfAddressAdded), 1u);
    EXPECT_EQ(r.counters.of(Event::AsconfDeleteIgnored), 1u);
    ASSERT_EQ(r.associations.size(), 1u);
    EXPECT_TRUE(r.associations[0].has_address(ip("192.168.2.222")));
    EXPECT_TRUE(r.associations[0].has_address(ip("192.168.2.221")));  // never removed
    bool saw_new_address = false;
    for (const auto& p : r.packets)
        if (p.direction == Direction::In && p.parsed.src == ip("192.168.2.222")) {
            saw_new_address = true;
            EXPECT_EQ(p.verdict.fwmark, r.associations[0].fwmark) << "frame " << p.frame;
        }
    EXPECT_TRUE(saw_new_address);
}

TEST(CaptureReplay, FixedPortAssociationsSpreadInVtagModeOnly) {
    std::map<HashMode, std::set<std::uint32_t>> targets;
    for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
        const Replay r = replay("fixed-ports-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, mode);
        for (const auto& p : r.packets)
            if (p.direction == Direction::In && p.parsed.ok() && p.parsed.has_init) targets[mode].insert(p.verdict.fwmark);
    }
    EXPECT_EQ(targets[HashMode::Ports].size(), 1u);  // the port hash cannot tell them apart
    EXPECT_GE(targets[HashMode::Vtag].size(), 2u);
}

TEST(CaptureReplay, UdpEncapsulationIsBalancedOnlyWhenTheEncapPortIsSet) {
    const Replay off = replay("udp-encap-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag, 0);
    std::size_t in = 0;
    for (const auto& p : off.packets)
        if (p.direction == Direction::In) {
            ++in;
            EXPECT_EQ(p.verdict.reason, Reason::NotSctp);
        }
    EXPECT_GT(in, 0u);
    const Replay on = replay("udp-encap-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag, 9899);
    EXPECT_EQ(on.counters.of(Reason::InitHash), 1u);
    for (const auto& p : on.packets)
        if (p.direction == Direction::In && p.parsed.ok()) {
            EXPECT_TRUE(p.parsed.udp_encapsulated);
        }
}

TEST(CaptureReplay, CookieEchoOnTheOtherPathFindsTheAssociation) {
    const Replay r = replay("cookie-echo-path-b-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag);
    const ReplayedPacket* init = nullptr;
    const ReplayedPacket* cookie = nullptr;
    for (const auto& p : r.packets) {
        if (p.direction != Direction::In || !p.parsed.ok()) continue;
        if (p.parsed.has_init && !init) init = &p;
        if (p.parsed.has_cookie_echo && !cookie) cookie = &p;
    }
    ASSERT_TRUE(init && cookie);
    EXPECT_NE(init->parsed.src, cookie->parsed.src) << "the capture should have the COOKIE ECHO on path B";
    EXPECT_EQ(cookie->verdict.fwmark, init->verdict.fwmark);
    EXPECT_EQ(cookie->verdict.action, Action::AcceptMarked);
}

TEST(CaptureReplay, InitRetransmissionOnTheOtherPathKeepsItsTarget) {
    const Replay r = replay("init-retransmit-v4.pcap", {ip("10.0.0.1"), ip("10.0.0.2")}, HashMode::Vtag);
    std::vector<const ReplayedPacket*> inits;
    for (const auto& p : r.packets)
        if (p.direction == Direction::In && p.parsed.ok() && p.parsed.has_init) inits.push_back(&p);
    ASSERT_GE(inits.size(), 2u);
    EXPECT_NE(inits.front()->parsed.src, inits.back()->parsed.src) << "the retransmission should come on path B";
    EXPECT_EQ(inits.back()->verdict.reason, Reason::InitRetransmit);
    EXPECT_EQ(inits.back()->verdict.fwmark, inits.front()->verdict.fwmark);
    EXPECT_EQ(r.counters.of(Reason::InitHash), 1u);
}

}  // namespace
