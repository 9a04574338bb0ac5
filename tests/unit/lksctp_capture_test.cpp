// The decision code over captures of Linux kernel SCTP (lksctp) endpoints: the VM suite
// (tests/vm, docs/vm.md) records what its two load balancers see, path A at vm-201 and path B at
// vm-202, and the fixtures merge both in time order (tests/data/README.md, "lksctp captures").
// The ground truth comes from the capture, not from the decider: an INIT ACK ties the client's
// tag Tc to the server's tag Ts, so every client -> server packet belongs to a known association.
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

using test::ip;  // tests/support/address.hpp

const std::vector<IpAddress>& vips() {
    static const std::vector<IpAddress> all{ip("10.0.0.1"), ip("10.0.0.2"), ip("fd00::1:1"), ip("fd00::1:2")};
    return all;
}

using Packet = test::ReplayedPacket;
using ReplayRun = test::CaptureReplay;

// Every packet of FILE through one decider (fwmarks 1..3, M = 997), the capture's clock.
ReplayRun replay_capture(const std::string& file, HashMode mode) {
    std::string error;
    auto out = test::replay_capture(std::string(SCTPLB_TEST_DATA_DIR) + "/" + file, vips(), mode, 0, error);
    EXPECT_TRUE(out) << file << ": " << error;
    return out.value_or(ReplayRun{});
}

bool first_chunk_is(const Packet& p, ChunkType type) {
    return p.parsed.ok() && p.parsed.chunk_count > 0 && p.parsed.chunk_types[0] == static_cast<std::uint8_t>(type);
}

using test::ts_by_tc;

// Ts of a client -> server packet (0 when the capture does not say).
std::uint32_t association_of(const Packet& p, const std::map<std::uint32_t, std::uint32_t>& tc_to_ts) {
    if (!p.parsed.has_init && !p.parsed.t_bit) return p.parsed.vtag;
    const std::uint32_t tc = p.parsed.has_init ? p.parsed.init.initiate_tag : p.parsed.vtag;
    const auto it = tc_to_ts.find(tc);
    return it == tc_to_ts.end() ? 0 : it->second;
}

// fwmarks used by each association's client -> server packets.
std::map<std::uint32_t, std::set<std::uint32_t>> fwmarks_by_association(const ReplayRun& r) {
    const auto tc_to_ts = ts_by_tc(r);
    std::map<std::uint32_t, std::set<std::uint32_t>> marks;
    for (const auto& p : r.packets) {
        if (p.direction != Direction::In || !p.parsed.ok()) continue;
        EXPECT_EQ(p.verdict.action, Action::AcceptMarked) << "frame " << p.frame << " " << reason_name(p.verdict.reason);
        const std::uint32_t ts = association_of(p, tc_to_ts);
        EXPECT_NE(ts, 0u) << "frame " << p.frame << ": INIT without an INIT ACK in the capture";
        marks[ts].insert(p.verdict.fwmark);
    }
    return marks;
}

struct Fixture {
    const char* file;
    std::size_t associations;  // distinct Ts (a restart makes two)
};

const Fixture kFixtures[] = {
    {"lksctp-multihomed-v4.pcap", 1},
    {"lksctp-mixed-v4v6.pcap", 1},
    {"lksctp-restart-v4.pcap", 2},
};

}  // namespace

// Each association keeps one target for every client -> server packet on both paths, in both
// hash modes; the client used both paths; nothing server -> client is ever marked.
TEST(LksctpCapture, EveryPacketOfEachAssociationKeepsOneTargetOnBothPaths) {
    for (const Fixture& f : kFixtures) {
        for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
            SCOPED_TRACE(std::string(f.file) + " " + std::string(hash_mode_name(mode)));
            const ReplayRun r = replay_capture(f.file, mode);
            ASSERT_GT(r.packets.size(), 20u);
            EXPECT_EQ(ts_by_tc(r).size(), f.associations);
            for (const auto& [ts, marks] : fwmarks_by_association(r))
                EXPECT_EQ(marks.size(), 1u) << "association Ts " << std::hex << ts << " split over targets";
            std::set<std::string> client_sources;
            for (const auto& p : r.packets) {
                if (p.direction == Direction::In && p.parsed.ok()) client_sources.insert(p.parsed.src.to_string());
                if (p.direction == Direction::Out) {
                    EXPECT_NE(p.verdict.action, Action::AcceptMarked) << "frame " << p.frame;
                }
            }
            EXPECT_GE(client_sources.size(), 2u) << "one path only";
        }
    }
}

// A kernel client bound to two addresses lists them in its INIT; the server bound to its VIPs
// lists several in the INIT ACK (RFC 9260 §3.3.2, §3.3.3). The LB must learn them all.
TEST(LksctpCapture, KernelInitAndInitAckListSeveralAddresses) {
    const ReplayRun r = replay_capture("lksctp-multihomed-v4.pcap", HashMode::Vtag);
    bool init_seen = false, init_ack_seen = false;
    for (const auto& p : r.packets) {
        if (first_chunk_is(p, ChunkType::Init)) {
            init_seen = true;
            EXPECT_GE(p.parsed.init.address_count, 2) << "frame " << p.frame;
        }
        if (first_chunk_is(p, ChunkType::InitAck)) {
            init_ack_seen = true;
            EXPECT_GE(p.parsed.init.address_count, 2) << "frame " << p.frame;
        }
    }
    EXPECT_TRUE(init_seen);
    EXPECT_TRUE(init_ack_seen);
}

// Heartbeat traffic of the client on its secondary path (HEARTBEAT or HEARTBEAT ACK to VIP B,
// through vm-202, RFC 9260 §8.3) goes where the association's INIT went (path A, vm-201).
TEST(LksctpCapture, HeartbeatOnTheSecondaryPathGoesToTheAssociationsTarget) {
    for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
        SCOPED_TRACE(hash_mode_name(mode));
        const ReplayRun r = replay_capture("lksctp-multihomed-v4.pcap", mode);
        std::uint32_t init_mark = 0;
        std::size_t heartbeats = 0;
        for (const auto& p : r.packets) {
            if (p.direction != Direction::In) continue;
            if (first_chunk_is(p, ChunkType::Init)) init_mark = p.verdict.fwmark;
            const bool heartbeat =
                first_chunk_is(p, ChunkType::Heartbeat) || first_chunk_is(p, ChunkType::HeartbeatAck);
            if (heartbeat && p.parsed.dst == ip("10.0.0.2")) {
                ++heartbeats;
                EXPECT_EQ(p.verdict.action, Action::AcceptMarked) << "frame " << p.frame;
                EXPECT_EQ(p.verdict.fwmark, init_mark) << "frame " << p.frame;
            }
        }
        EXPECT_NE(init_mark, 0u);
        EXPECT_GT(heartbeats, 0u) << "no HEARTBEAT (ACK) from the client on path B in the capture";
    }
}

// The client lost its association silently and came back with the same ports and addresses
// (RFC 9260 §5.2.4.1 case A): new tags, same server, recognised as a restart.
TEST(LksctpCapture, RestartKeepsTheServerAcrossNewTags) {
    const ReplayRun r = replay_capture("lksctp-restart-v4.pcap", HashMode::Vtag);
    EXPECT_GE(r.counters.of(Reason::InitRestart), 1u);
    EXPECT_GE(r.counters.of(Event::Restarted), 1u);
    std::set<std::uint32_t> marks;
    for (const auto& [ts, association_marks] : fwmarks_by_association(r))
        marks.insert(association_marks.begin(), association_marks.end());
    EXPECT_EQ(marks.size(), 1u) << "the restarted association moved to another target";
}
