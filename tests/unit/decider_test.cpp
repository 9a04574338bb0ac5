// The pinning rules of docs/design.md, in virtual time, on parsed packets.
// (Byte-level parsing is covered by packet_test; captures by replay tests.)
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "core/decider.hpp"
#include "core/maglev.hpp"
#include "support/address.hpp"
#include "support/parsed_packet.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;
using namespace std::chrono_literals;

namespace {

using test::ip;  // tests/support/address.hpp

const IpAddress kVip1 = ip("10.0.0.1");
const IpAddress kVip2 = ip("10.0.0.2");
const IpAddress kClientA = ip("192.168.2.221");
const IpAddress kClientB = ip("192.168.6.221");

// Packet builders: a ParsedPacket as parse_packet would produce it.
ParsedPacket sctp(const IpAddress& src, const IpAddress& dst, std::uint16_t sport, std::uint16_t dport,
                  std::uint32_t vtag, std::initializer_list<ChunkType> chunks) {
    return test::parsed_sctp(src, dst, sport, dport, vtag, chunks);
}

ParsedPacket init(const IpAddress& src, std::uint16_t sport, std::uint16_t dport, std::uint32_t tc,
                  std::initializer_list<IpAddress> addresses, const IpAddress& dst = kVip1) {
    ParsedPacket p = sctp(src, dst, sport, dport, 0, {ChunkType::Init});
    p.init.initiate_tag = tc;
    for (const IpAddress& a : addresses) p.init.addresses[p.init.address_count++] = a;
    return p;
}

ParsedPacket init_ack(const IpAddress& server, const IpAddress& client, std::uint16_t sport,
                      std::uint16_t dport, std::uint32_t tc, std::uint32_t ts) {
    ParsedPacket p = sctp(server, client, sport, dport, tc, {ChunkType::InitAck});
    p.init.initiate_tag = ts;
    return p;
}

ParsedPacket data(const IpAddress& src, std::uint16_t sport, std::uint16_t dport, std::uint32_t vtag,
                  const IpAddress& dst = kVip1) {
    return sctp(src, dst, sport, dport, vtag, {ChunkType::Data});
}

// A decider with its own table, Maglev table and clock.
struct Harness {
    explicit Harness(HashMode mode = HashMode::Vtag, TableLimits limits = {.capacity = 4096}, Timeouts timeouts = {},
                     std::vector<std::uint32_t> fwmarks = {1, 2, 3})
        : heap(limits, timeouts),
          decider(DeciderConfig{mode}, hash, table) {
        set_targets(std::move(fwmarks));
    }
    void set_targets(std::vector<std::uint32_t> fwmarks) {
        maglev.assign(997, 0);
        EXPECT_TRUE(maglev_populate(hash, fwmarks, maglev));
    }
    void set_weighted_targets(const std::vector<MaglevTarget>& targets) {
        maglev.assign(997, 0);
        EXPECT_TRUE(maglev_populate_weighted(hash, targets, maglev));
    }
    Verdict in(const ParsedPacket& p) { return decider.decide(p, Direction::In, maglev, now, counters); }
    Verdict out(const ParsedPacket& p) { return decider.decide(p, Direction::Out, maglev, now, counters); }
    // Sets up an association: INIT on path A, COOKIE ECHO on path B, like a real
    // client whose primary path changed in between. Returns its fwmark.
    std::uint32_t establish(const IpAddress& a, const IpAddress& b, std::uint16_t sport,
                            std::uint16_t dport, std::uint32_t tc, std::uint32_t ts) {
        const Verdict vi = in(init(a, sport, dport, tc, {b}));
        EXPECT_EQ(vi.action, Action::AcceptMarked) << reason_name(vi.reason);
        const Verdict vc = in(sctp(b, kVip2, sport, dport, ts, {ChunkType::CookieEcho, ChunkType::Data}));
        EXPECT_EQ(vc.action, Action::AcceptMarked) << reason_name(vc.reason);
        EXPECT_EQ(vc.fwmark, vi.fwmark);
        return vi.fwmark;
    }

    KeyedHash hash;
    test::HeapTable heap;
    AssociationTable& table = *heap;
    std::vector<std::uint32_t> maglev;
    Decider decider;
    Counters counters;
    Nanos now{1'000'000'000};
};

// decide_batch()'s verdicts, counts and table equal those of the same packets
// decided one by one (decide()).
void expect_same_decisions(std::span<const Verdict> got, std::span<const Verdict> expected,
                           const Harness& batched, const Harness& one_by_one) {
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].action, expected[i].action) << "packet " << i;
        EXPECT_EQ(got[i].reason, expected[i].reason) << "packet " << i;
        EXPECT_EQ(got[i].fwmark, expected[i].fwmark) << "packet " << i;
    }
    EXPECT_EQ(batched.counters.reasons, one_by_one.counters.reasons);
    EXPECT_EQ(batched.counters.events, one_by_one.counters.events);
    EXPECT_EQ(batched.table.size(), one_by_one.table.size());
}

// ---- table-driven: single packets against a fresh decider ---------------------

struct SinglePacketCase {
    const char* description;
    ParsedPacket packet;
    Direction direction;
    Action action;
    Reason reason;
};

TEST(Decider, SinglePacketsOnAnEmptyTable) {
    ParsedPacket bad_vtag_init = init(kClientA, 5000, 36412, 0x1234, {});
    bad_vtag_init.vtag = 7;
    ParsedPacket malformed = data(kClientA, 5000, 36412, 9);
    malformed.status = ParseStatus::BadChunkLength;
    ParsedPacket fragment = data(kClientA, 5000, 36412, 9);
    fragment.status = ParseStatus::IpFragment;
    ParsedPacket not_sctp = data(kClientA, 5000, 36412, 9);
    not_sctp.status = ParseStatus::NotSctp;
    ParsedPacket no_chunks = sctp(kClientA, kVip1, 5000, 36412, 9, {});
    no_chunks.truncated = true;
    ParsedPacket t_abort = sctp(kClientA, kVip1, 5000, 36412, 0x77, {ChunkType::Abort});
    t_abort.t_bit = true;

    const std::vector<SinglePacketCase> cases = {
        {"new INIT is balanced", init(kClientA, 5000, 36412, 0x1234, {kClientB}), Direction::In,
         Action::AcceptMarked, Reason::InitHash},
        {"INIT with non-zero vtag (RFC 9260 §8.5.1)", bad_vtag_init, Direction::In, Action::Drop,
         Reason::InitBadVtag},
        {"DATA of an unknown association is never guessed", data(kClientA, 5000, 36412, 0xdead),
         Direction::In, Action::Drop, Reason::UnknownAssociation},
        {"COOKIE ECHO without INIT", sctp(kClientA, kVip1, 5000, 36412, 5, {ChunkType::CookieEcho}),
         Direction::In, Action::Drop, Reason::CookieEchoUnknown},
        {"T-bit ABORT of an unknown association", t_abort, Direction::In, Action::Drop,
         Reason::UnknownAssociation},
        {"server -> client DATA passes unmarked", data(kVip1, 36412, 5000, 9), Direction::Out,
         Action::AcceptUnmarked, Reason::ServerToClient},
        {"server -> client INIT ACK of no known INIT passes unmarked",
         init_ack(kVip1, kClientA, 36412, 5000, 0x1234, 0x5678), Direction::Out, Action::AcceptUnmarked,
         Reason::InitAckUnknown},
        {"INIT ACK to a VIP answering no known server INIT is never forwarded",
         init_ack(kClientA, kVip1, 5000, 36412, 0x1234, 0x5678), Direction::In, Action::Drop,
         Reason::PeerInitAckUnknown},
        {"not for a VIP", data(kClientA, 5000, 36412, 9), Direction::Other, Action::AcceptUnmarked,
         Reason::NotForVip},
        {"malformed chunk", malformed, Direction::In, Action::Drop, Reason::BadChunk},
        {"non-first fragment", fragment, Direction::In, Action::Drop, Reason::IpFragment},
        {"not SCTP", not_sctp, Direction::In, Action::AcceptUnmarked, Reason::NotSctp},
        {"cut before the first chunk", no_chunks, Direction::In, Action::Drop, Reason::Truncated},
    };
    for (const auto& c : cases) {
        Harness h;
        const Verdict v = h.decider.decide(c.packet, c.direction, h.maglev, h.now, h.counters);
        EXPECT_EQ(v.action, c.action) << c.description;
        EXPECT_EQ(reason_name(v.reason), reason_name(c.reason)) << c.description;
        EXPECT_EQ(h.counters.of(c.reason), 1u) << c.description;
        if (v.action == Action::AcceptMarked) {
            EXPECT_NE(v.fwmark, 0u) << c.description;
        }
    }
}

// ---- lifecycle ------------------------------------------------------------------

TEST(Decider, EveryPacketOfATwoPathAssociationKeepsItsTarget) {
    for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
        Harness h(mode);
        const std::uint32_t fwmark = h.establish(kClientA, kClientB, 40000, 36412, 0x11111111, 0x22222222);
        EXPECT_EQ(h.counters.of(Reason::CookieEchoMatched), 1u);
        for (int i = 0; i < 10; ++i) {
            for (const IpAddress& src : {kClientA, kClientB}) {
                const Verdict v = h.in(data(src, 40000, 36412, 0x22222222, i % 2 ? kVip1 : kVip2));
                EXPECT_EQ(v.action, Action::AcceptMarked);
                EXPECT_EQ(v.reason, Reason::Established);
                EXPECT_EQ(v.fwmark, fwmark);
            }
            h.now += 1s;
        }
        const auto id = h.table.find_by_ts(kClientB, 40000, 36412, 0x22222222, h.now).id;
        ASSERT_NE(id, kNoAssociation);
        EXPECT_EQ(h.table.at(id).state, AssociationState::Established);
        EXPECT_EQ(h.table.at(id).tc, 0x11111111u);
        EXPECT_EQ(h.table.at(id).address_count, 2u);
    }
}

TEST(Decider, InitRetransmissionOnTheOtherPathHitsItsHalfOpenEntry) {
    Harness h;
    const Verdict first = h.in(init(kClientA, 40000, 36412, 0xabcdef01, {kClientB}));
    h.now += 3s;
    const Verdict again = h.in(init(kClientB, 40000, 36412, 0xabcdef01, {kClientA}, kVip2));
    EXPECT_EQ(again.reason, Reason::InitRetransmit);
    EXPECT_EQ(again.fwmark, first.fwmark);
    EXPECT_EQ(h.table.size(), 1u);
}

TEST(Decider, InitAckSeenServerToClientTeachesTs) {
    Harness h;
    const Verdict vi = h.in(init(kClientA, 40000, 36412, 0x1111, {kClientB}));
    const Verdict va = h.out(init_ack(kVip1, kClientA, 36412, 40000, 0x1111, 0x2222));
    EXPECT_EQ(va.action, Action::AcceptUnmarked);  // never balance server -> client
    EXPECT_EQ(va.reason, Reason::InitAckLearned);
    const Verdict vc = h.in(sctp(kClientA, kVip1, 40000, 36412, 0x2222, {ChunkType::CookieEcho}));
    EXPECT_EQ(vc.reason, Reason::CookieEcho);
    EXPECT_EQ(vc.fwmark, vi.fwmark);
    // An INIT ACK is recognised by its chunk even when the caller says "in".
    EXPECT_EQ(h.in(init_ack(kVip1, kClientA, 36412, 40000, 0x1111, 0x2222)).action, Action::AcceptUnmarked);
}

TEST(Decider, TsCollisionBetweenFixedPortAssociationsKeepsEachOnItsTarget) {
    // Same ports, same Ts (servers pick Ts independently), different clients.
    Harness h;
    std::map<std::uint32_t, std::uint32_t> fwmark_by_client;
    std::uint32_t fwmarks[2] = {0, 0};
    // Search Tc values so that the two associations land on different targets.
    const IpAddress c1a = ip("192.168.2.1"), c1b = ip("192.168.6.1");
    const IpAddress c2a = ip("192.168.2.2"), c2b = ip("192.168.6.2");
    fwmarks[0] = h.establish(c1a, c1b, 36412, 36412, 0x1000, 0xC0111DE5);
    std::uint32_t tc2 = 0x2000;
    while (maglev_lookup(h.maglev, h.decider.init_key(36412, 36412, tc2)) == fwmarks[0]) ++tc2;
    fwmarks[1] = h.establish(c2a, c2b, 36412, 36412, tc2, 0xC0111DE5);
    ASSERT_NE(fwmarks[0], fwmarks[1]);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(h.in(data(c1a, 36412, 36412, 0xC0111DE5)).fwmark, fwmarks[0]);
        EXPECT_EQ(h.in(data(c1b, 36412, 36412, 0xC0111DE5)).fwmark, fwmarks[0]);
        EXPECT_EQ(h.in(data(c2a, 36412, 36412, 0xC0111DE5)).fwmark, fwmarks[1]);
        EXPECT_EQ(h.in(data(c2b, 36412, 36412, 0xC0111DE5)).fwmark, fwmarks[1]);
    }
}

TEST(Decider, RestartKeepsTheServerAndReKeys) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 36412, 36412, 0xAAAA0001, 0xBBBB0001);
    // The target set changes; a restart must still keep the old server.
    h.set_targets({4, 5, 6});
    h.now += 5s;
    const Verdict vi = h.in(init(kClientB, 36412, 36412, 0xAAAA0002, {kClientA}, kVip2));
    EXPECT_EQ(vi.reason, Reason::InitRestart);
    EXPECT_EQ(vi.fwmark, fwmark);
    // Old traffic still flows while the restart is pending.
    EXPECT_EQ(h.in(data(kClientA, 36412, 36412, 0xBBBB0001)).fwmark, fwmark);
    const Verdict vc = h.in(sctp(kClientA, kVip1, 36412, 36412, 0xBBBB0002, {ChunkType::CookieEcho}));
    EXPECT_EQ(vc.reason, Reason::CookieEchoRestart);
    EXPECT_EQ(vc.fwmark, fwmark);
    EXPECT_EQ(h.counters.of(Event::Restarted), 1u);
    for (const IpAddress& src : {kClientA, kClientB}) {
        EXPECT_EQ(h.in(data(src, 36412, 36412, 0xBBBB0002)).fwmark, fwmark);
        // Old keys linger briefly for packets in flight...
        EXPECT_EQ(h.in(data(src, 36412, 36412, 0xBBBB0001)).fwmark, fwmark);
    }
    // ... and then go.
    h.now += h.table.timeouts().restart_linger + 1s;
    EXPECT_EQ(h.in(data(kClientA, 36412, 36412, 0xBBBB0001)).reason, Reason::UnknownAssociation);
    EXPECT_EQ(h.in(data(kClientB, 36412, 36412, 0xBBBB0002)).fwmark, fwmark);
    // T-bit packets now go by the new Tc.
    ParsedPacket abort = sctp(kClientA, kVip1, 36412, 36412, 0xAAAA0002, {ChunkType::Abort});
    abort.t_bit = true;
    EXPECT_EQ(h.in(abort).fwmark, fwmark);
    EXPECT_EQ(h.table.size(), 1u);
}

TEST(Decider, RestartThatNeverCompletesFallsBackToEstablished) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 36412, 36412, 0xA1, 0xB1);
    EXPECT_EQ(h.in(init(kClientA, 36412, 36412, 0xA2, {})).reason, Reason::InitRestart);
    for (int i = 0; i < 6; ++i) {  // keep it busy past the half-open timeout
        h.now += 1min;
        EXPECT_EQ(h.in(data(kClientB, 36412, 36412, 0xB1)).fwmark, fwmark);
    }
    const auto id = h.table.find_by_ts(kClientA, 36412, 36412, 0xB1, h.now).id;
    ASSERT_NE(id, kNoAssociation);
    EXPECT_EQ(h.table.at(id).state, AssociationState::Established);
}

TEST(Decider, NewInitReplacesAnAbandonedHalfOpenAttempt) {
    Harness h;
    h.in(init(kClientA, 40000, 36412, 0x1, {kClientB}));
    const Verdict v = h.in(init(kClientA, 40000, 36412, 0x2, {kClientB}));
    EXPECT_EQ(v.reason, Reason::InitHash);
    EXPECT_EQ(v.fwmark, maglev_lookup(h.maglev, h.decider.init_key(40000, 36412, 0x2)));
    EXPECT_EQ(h.counters.of(Event::ReplacedHalfOpen), 1u);
    EXPECT_EQ(h.table.size(), 1u);
    EXPECT_EQ(h.in(sctp(kClientB, kVip1, 40000, 36412, 0x9, {ChunkType::CookieEcho})).fwmark, v.fwmark);
}

TEST(Decider, ShutdownAndAbortCloseThenLinger) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 5000, 36412, 0xC1, 0x51);
    // Server-initiated shutdown: the LB sees the client's SHUTDOWN ACK, then
    // SHUTDOWN COMPLETE (Ts, no T bit).
    EXPECT_EQ(h.in(sctp(kClientA, kVip1, 5000, 36412, 0x51, {ChunkType::ShutdownAck})).fwmark, fwmark);
    auto id = h.table.find_by_ts(kClientA, 5000, 36412, 0x51, h.now).id;
    EXPECT_EQ(h.table.at(id).state, AssociationState::Closing);
    EXPECT_EQ(h.in(sctp(kClientA, kVip1, 5000, 36412, 0x51, {ChunkType::ShutdownComplete})).fwmark, fwmark);
    EXPECT_EQ(h.table.at(id).state, AssociationState::Closed);
    // A retransmission during the linger still reaches the server.
    h.now += 2s;
    EXPECT_EQ(h.in(sctp(kClientB, kVip2, 5000, 36412, 0x51, {ChunkType::ShutdownComplete})).fwmark, fwmark);
    h.now += h.table.timeouts().closed_linger + 1s;
    EXPECT_EQ(h.in(data(kClientA, 5000, 36412, 0x51)).reason, Reason::UnknownAssociation);
    EXPECT_EQ(h.table.size(), 0u);
    EXPECT_EQ(h.counters.of(Event::ExpiredClosed), 1u);
}

TEST(Decider, InitCutByTheCopyRangeIsBalancedAndCounted) {
    Harness h;
    ParsedPacket cut = init(kClientA, 40000, 36412, 0x1234, {});
    cut.truncated = true;
    EXPECT_EQ(h.in(cut).reason, Reason::InitHash);
    EXPECT_EQ(h.counters.of(Event::InitTruncated), 1u);
    EXPECT_EQ(h.counters.of(Event::TruncatedPacket), 1u);
}

TEST(Decider, TBitAbortGoesByTc) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 5000, 36412, 0xC1, 0x51);
    ParsedPacket abort = sctp(kClientB, kVip2, 5000, 36412, 0xC1, {ChunkType::Abort});
    abort.t_bit = true;
    const Verdict v = h.in(abort);
    EXPECT_EQ(v.reason, Reason::TBit);
    EXPECT_EQ(v.fwmark, fwmark);
    EXPECT_EQ(h.counters.of(Event::Closed), 1u);
}

// decide_batch() pipelines its lookups and forwards plain established packets
// without the full dispatch: it must give decide()'s verdicts, counts and
// table changes, packet by packet in order, for every kind of packet — also
// when a packet earlier in the batch changes what a later one finds.
TEST(Decider, BatchDecidesLikeSinglePackets) {
    Timeouts t;
    t.idle = 10min;
    Harness one(HashMode::Vtag, {.capacity = 4096}, t);
    Harness batched(HashMode::Vtag, {.capacity = 4096}, t);
    constexpr std::uint32_t kAssociations = 24;
    auto path_a = [](std::uint32_t i) { return IpAddress::v4(0xC0A80200u + i); };
    auto path_b = [](std::uint32_t i) { return IpAddress::v4(0xC0A80600u + i); };
    std::vector<std::uint32_t> fwmark(kAssociations);
    for (std::uint32_t i = 0; i < kAssociations; ++i) {
        fwmark[i] = one.establish(path_a(i), path_b(i), 5000, 36412, 0x100 + i, 0x200 + i);
        EXPECT_EQ(batched.establish(path_a(i), path_b(i), 5000, 36412, 0x100 + i, 0x200 + i), fwmark[i]);
    }
    const IpAddress added = ip("192.168.9.9");
    auto run = [&](const std::vector<ParsedPacket>& packets) {
        std::vector<const ParsedPacket*> pointers;
        for (const ParsedPacket& p : packets) pointers.push_back(&p);
        const std::vector<Direction> directions(packets.size(), Direction::In);
        std::vector<Verdict> verdicts(packets.size());
        batched.decider.decide_batch(pointers, directions, batched.maglev, batched.now, batched.counters, verdicts);
        std::vector<Verdict> expected;
        for (const ParsedPacket& p : packets) expected.push_back(one.in(p));
        expect_same_decisions(verdicts, expected, batched, one);
        return verdicts;
    };

    // Shorter than the pipeline's distance.
    std::vector<ParsedPacket> packets{data(path_a(0), 5000, 36412, 0x200), data(path_b(1), 5000, 36412, 0x201),
                                      data(path_a(2), 5000, 36412, 0x999)};
    std::vector<Verdict> v = run(packets);
    EXPECT_EQ(v[0].fwmark, fwmark[0]);
    EXPECT_EQ(v[1].fwmark, fwmark[1]);
    EXPECT_EQ(v[2].reason, Reason::UnknownAssociation);

    // Longer than twice the distance, mixed: established DATA on both paths,
    // an unknown tag, a known tag from an unknown address, ASCONF adding an
    // address and then DATA from it, ABORT then DATA of the same association,
    // a T-bit SHUTDOWN COMPLETE, a restart (INIT, COOKIE ECHO with a new Ts)
    // followed by DATA with the new tag, and a packet from the server side.
    packets.clear();
    for (std::uint32_t i = 0; i < kAssociations; ++i)
        packets.push_back(data(i % 2 ? path_a(i) : path_b(i), 5000, 36412, 0x200 + i));
    packets.push_back(data(path_a(3), 5000, 36412, 0xdead));
    packets.push_back(data(ip("192.168.7.7"), 5000, 36412, 0x203));
    ParsedPacket asconf = sctp(path_a(4), kVip1, 5000, 36412, 0x204, {ChunkType::Auth, ChunkType::Asconf});
    asconf.asconf.added[asconf.asconf.added_count++] = added;
    packets.push_back(asconf);
    packets.push_back(data(added, 5000, 36412, 0x204));
    packets.push_back(sctp(path_a(5), kVip1, 5000, 36412, 0x205, {ChunkType::Abort}));
    packets.push_back(data(path_b(5), 5000, 36412, 0x205));
    ParsedPacket t_bit = sctp(path_a(6), kVip1, 5000, 36412, 0x106, {ChunkType::ShutdownComplete});
    t_bit.t_bit = true;
    packets.push_back(t_bit);
    packets.push_back(init(path_a(7), 5000, 36412, 0x307, {path_b(7)}));
    packets.push_back(sctp(path_b(7), kVip2, 5000, 36412, 0x407, {ChunkType::CookieEcho}));
    packets.push_back(data(path_a(7), 5000, 36412, 0x407));
    packets.push_back(data(path_b(8), 5000, 36412, 0x208));
    v = run(packets);
    for (std::uint32_t i = 0; i < kAssociations; ++i) {
        EXPECT_EQ(v[i].action, Action::AcceptMarked) << i;
        EXPECT_EQ(v[i].fwmark, fwmark[i]) << i;
    }
    EXPECT_EQ(v[kAssociations + 3].fwmark, fwmark[4]);  // DATA from the address ASCONF added
    EXPECT_EQ(v[kAssociations + 9].fwmark, fwmark[7]);  // DATA with the restarted tag
    EXPECT_EQ(v[kAssociations + 10].fwmark, fwmark[8]);
    EXPECT_EQ(batched.table.at(batched.table.find_by_ts(path_a(0), 5000, 36412, 0x200, batched.now).id).last_seen_ns,
              batched.now.count());

    // Idle expiry met inside a batch: half the associations heard from since,
    // the other half expired (counted once, dropped as unknown).
    one.now += 9min;
    batched.now += 9min;
    packets.clear();
    for (std::uint32_t i = 8; i < kAssociations; i += 2) packets.push_back(data(path_a(i), 5000, 36412, 0x200 + i));
    run(packets);
    one.now += 2min;
    batched.now += 2min;
    packets.clear();
    for (std::uint32_t i = 8; i < kAssociations; ++i) packets.push_back(data(path_b(i), 5000, 36412, 0x200 + i));
    v = run(packets);
    for (std::uint32_t i = 8; i < kAssociations; ++i) {
        if (i % 2 == 0)
            EXPECT_EQ(v[i - 8].fwmark, fwmark[i]) << i;
        else
            EXPECT_EQ(v[i - 8].reason, Reason::UnknownAssociation) << i;
    }
    EXPECT_EQ(batched.counters.of(Event::ExpiredIdle), (kAssociations - 8) / 2);
}

TEST(Decider, IdleAndHalfOpenTimeoutsInVirtualTime) {
    Timeouts t;
    t.idle = 10min;
    t.half_open = 5min;
    Harness h(HashMode::Vtag, {.capacity = 4096}, t);
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 5000, 36412, 0xC1, 0x51);
    h.in(init(ip("192.168.2.99"), 5001, 36412, 0xC2, {}));  // never completes
    // Heartbeats every 30 s on one path keep the association for both paths.
    for (int i = 0; i < 40; ++i) {
        h.now += 30s;
        EXPECT_EQ(h.in(sctp(kClientB, kVip2, 5000, 36412, 0x51, {ChunkType::Heartbeat})).fwmark, fwmark);
    }
    // The sweep removes the half-open entry that nobody looked up again.
    EXPECT_EQ(h.table.size(), 2u);
    EXPECT_EQ(h.table.expire(h.now, h.table.capacity(), h.counters), 1u);
    EXPECT_EQ(h.counters.of(Event::ExpiredHalfOpen), 1u);
    EXPECT_EQ(h.table.size(), 1u);
    EXPECT_EQ(h.in(data(kClientA, 5000, 36412, 0x51)).fwmark, fwmark);
    h.now += 10min + 1s;
    EXPECT_EQ(h.table.expire(h.now, h.table.capacity(), h.counters), 1u);
    EXPECT_EQ(h.counters.of(Event::ExpiredIdle), 1u);
    EXPECT_EQ(h.in(data(kClientA, 5000, 36412, 0x51)).reason, Reason::UnknownAssociation);
}

TEST(Decider, InitFloodNeverEvictsEstablishedAssociations) {
    TableLimits limits;
    limits.capacity = 64;
    limits.half_open_capacity = 16;
    Harness h(HashMode::Vtag, limits);
    std::vector<std::pair<IpAddress, std::uint32_t>> established;
    for (std::uint32_t i = 0; i < 20; ++i) {
        const IpAddress a = IpAddress::v4(0xC0A80200 + i);
        const IpAddress b = IpAddress::v4(0xC0A80600 + i);
        const std::uint32_t fwmark = h.establish(a, b, 36412, 36412, 0x100 + i, 0x9000 + i);
        established.emplace_back(b, fwmark);
    }
    for (std::uint32_t i = 0; i < 10'000; ++i) {
        const Verdict v = h.in(init(IpAddress::v4(0x0B000000 + i), 1024 + (i % 60000), 36412, 0x70000000 + i, {}));
        EXPECT_EQ(v.action, Action::AcceptMarked);
        EXPECT_LE(h.table.half_open_count(), 16u);
    }
    EXPECT_EQ(h.counters.of(Event::HalfOpenEvicted), 10'000u - 16u);
    for (std::uint32_t i = 0; i < established.size(); ++i)
        EXPECT_EQ(h.in(data(established[i].first, 36412, 36412, 0x9000 + i)).fwmark, established[i].second);
    // A legitimate client arriving during the flood still completes.
    const Verdict vi = h.in(init(kClientA, 6000, 36412, 0xFEED, {}));
    const Verdict vc = h.in(sctp(kClientA, kVip1, 6000, 36412, 0xBEEF, {ChunkType::CookieEcho}));
    EXPECT_EQ(vc.fwmark, vi.fwmark);
    EXPECT_EQ(vc.reason, Reason::CookieEchoMatched);
}

TEST(Decider, TableFullDropsNewAssociationsAndKeepsOldOnes) {
    TableLimits limits;
    limits.capacity = 8;
    limits.half_open_capacity = 8;
    Harness h(HashMode::Vtag, limits);
    for (std::uint32_t i = 0; i < 8; ++i) h.establish(IpAddress::v4(0x0A010000 + i), IpAddress::v4(0x0A020000 + i), 7000, 36412, 1 + i, 100 + i);
    EXPECT_EQ(h.in(init(kClientA, 7000, 36412, 0x55, {})).reason, Reason::TableFull);
    EXPECT_EQ(h.in(data(IpAddress::v4(0x0A010003), 7000, 36412, 103)).reason, Reason::Established);
}

TEST(Decider, AsconfAddsAddressesAndNeverRemoves) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 5000, 36412, 0xC1, 0x51);
    const IpAddress added = ip("192.168.7.221");
    const IpAddress wildcard_src = ip("192.168.8.221");
    // Unknown address before the ASCONF: dropped.
    EXPECT_EQ(h.in(data(added, 5000, 36412, 0x51)).reason, Reason::UnknownAssociation);
    ParsedPacket asconf = sctp(kClientA, kVip1, 5000, 36412, 0x51, {ChunkType::Auth, ChunkType::Asconf});
    asconf.asconf.lookup_address = kClientA;
    asconf.asconf.has_lookup_address = true;
    asconf.asconf.added[asconf.asconf.added_count++] = added;
    asconf.asconf.deleted_count = 1;  // Delete-IP of kClientB: ignored
    EXPECT_EQ(h.in(asconf).reason, Reason::Asconf);
    EXPECT_EQ(h.counters.of(Event::AsconfAddressAdded), 1u);
    EXPECT_EQ(h.counters.of(Event::AsconfDeleteIgnored), 1u);
    EXPECT_EQ(h.in(data(added, 5000, 36412, 0x51)).fwmark, fwmark);
    EXPECT_EQ(h.in(data(kClientB, 5000, 36412, 0x51)).fwmark, fwmark);
    // From a new address, wildcard Add-IP (RFC 5061 §4.2): found by the lookup address.
    ParsedPacket from_new = sctp(wildcard_src, kVip1, 5000, 36412, 0x51, {ChunkType::Auth, ChunkType::Asconf});
    from_new.asconf.lookup_address = kClientA;
    from_new.asconf.has_lookup_address = true;
    from_new.asconf.added[from_new.asconf.added_count++] = IpAddress::v4(0);
    EXPECT_EQ(h.in(from_new).fwmark, fwmark);
    EXPECT_EQ(h.in(data(wildcard_src, 5000, 36412, 0x51)).fwmark, fwmark);
}

TEST(Decider, PortsModePinsWhatItHashedSoTargetChangesMoveNothing) {
    Harness h(HashMode::Ports);
    // Mid-association traffic the LB never saw set up (e.g. after a restart of a
    // stateless tier): ports mode hashes it and pins it.
    const Verdict first = h.in(data(kClientA, 36412, 36412, 0x42));
    EXPECT_EQ(first.reason, Reason::PortsHash);
    h.set_targets({1, 2, 3, 4, 5, 6, 7});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(h.in(data(kClientA, 36412, 36412, 0x42)).fwmark, first.fwmark);
    // A new association with a fixed port pair lands where the ports hash says.
    const Verdict vi = h.in(init(kClientB, 36412, 36412, 0x77, {}));
    EXPECT_EQ(vi.fwmark, maglev_lookup(h.maglev, h.decider.ports_key(36412, 36412)));
}

TEST(Decider, DeactivatedTargetKeepsItsLiveAssociations) {
    Harness h;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ts_fwmark;
    for (std::uint32_t i = 0; i < 30; ++i)
        ts_fwmark.emplace_back(0x5000 + i, h.establish(IpAddress::v4(0x0A0A0000 + i), IpAddress::v4(0x0A0B0000 + i), 9000, 36412, 0x100 + i, 0x5000 + i));
    h.set_targets({2, 3});  // target 1 drained: no new associations
    for (std::uint32_t i = 0; i < 30; ++i)
        EXPECT_EQ(h.in(data(IpAddress::v4(0x0A0B0000 + i), 9000, 36412, ts_fwmark[i].first)).fwmark, ts_fwmark[i].second);
    for (std::uint32_t i = 0; i < 50; ++i) EXPECT_NE(h.in(init(kClientA, 100 + i, 36412, 0x900 + i, {})).fwmark, 1u);
}

// `activate --weight` republishes the Maglev table; associations already set
// up stay where they are (the table pins them), only new ones follow the new
// weights. Some of these associations' INIT keys now hash to another target:
// without the pin they would have been sent there and aborted.
TEST(Decider, WeightChangeMovesNoLiveAssociation) {
    Harness h;
    h.set_weighted_targets({{1, 1}, {2, 1}, {3, 1}});
    constexpr std::uint32_t kCount = 60;
    std::vector<std::uint32_t> pinned;
    for (std::uint32_t i = 0; i < kCount; ++i)
        pinned.push_back(h.establish(IpAddress::v4(0x0A0A0000 + i), IpAddress::v4(0x0A0B0000 + i), 9000, 36412,
                                     0x100 + i, 0x5000 + i));
    h.set_weighted_targets({{1, 1}, {2, 3}, {3, 1}});
    std::uint32_t rehashed_elsewhere = 0;
    for (std::uint32_t i = 0; i < kCount; ++i) {
        SCOPED_TRACE(i);
        const IpAddress path_a = IpAddress::v4(0x0A0A0000 + i);
        const IpAddress path_b = IpAddress::v4(0x0A0B0000 + i);
        EXPECT_EQ(h.in(data(path_a, 9000, 36412, 0x5000 + i)).fwmark, pinned[i]);
        EXPECT_EQ(h.in(data(path_b, 9000, 36412, 0x5000 + i)).fwmark, pinned[i]);
        if (maglev_lookup(h.maglev, h.decider.init_key(9000, 36412, 0x100 + i)) != pinned[i]) ++rehashed_elsewhere;
    }
    EXPECT_GT(rehashed_elsewhere, 0u);
    // New associations follow the new weights: target 2 gets about 3/5.
    std::map<std::uint32_t, int> fresh;
    constexpr int kFresh = 2000;
    for (int i = 0; i < kFresh; ++i)
        ++fresh[h.in(init(IpAddress::v4(0x0C000000 + static_cast<std::uint32_t>(i)), 9000, 36412,
                          0x70000 + static_cast<std::uint32_t>(i), {}))
                    .fwmark];
    EXPECT_NEAR(fresh[2], kFresh * 3 / 5, kFresh * 0.06);
    EXPECT_NEAR(fresh[1], kFresh / 5, kFresh * 0.05);
    EXPECT_NEAR(fresh[3], kFresh / 5, kFresh * 0.05);
}

TEST(Decider, NoActiveTargetDropsNewAssociations) {
    Harness h(HashMode::Vtag, {.capacity = 64}, {}, {});
    EXPECT_EQ(h.in(init(kClientA, 1, 2, 3, {})).reason, Reason::NoTarget);
    Harness p(HashMode::Ports, {.capacity = 64}, {}, {});
    EXPECT_EQ(p.in(data(kClientA, 1, 2, 3)).reason, Reason::NoTarget);
}

// The point of the project: 24 associations from distinct clients, all
// 36412 <-> 36412, over 3 targets. Deterministic (fixed seed and tags).
TEST(Decider, FixedPortClientsSpreadInVtagModeAndCollapseInPortsMode) {
    for (HashMode mode : {HashMode::Vtag, HashMode::Ports}) {
        Harness h(mode);
        std::map<std::uint32_t, int> per_target;
        std::uint64_t state = 0x243F6A8885A308D3ull;  // splitmix64: fixed "random" tags
        auto next_tag = [&state] {
            std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            return static_cast<std::uint32_t>(z ^ (z >> 31)) | 1u;
        };
        for (std::uint32_t i = 0; i < 24; ++i) {
            const IpAddress a = IpAddress::v4(0xC0A80200 + i + 1);
            const IpAddress b = IpAddress::v4(0xC0A80600 + i + 1);
            const std::uint32_t tc = next_tag(), ts = next_tag();
            const std::uint32_t fwmark = h.establish(a, b, 36412, 36412, tc, ts);
            ++per_target[fwmark];
            for (const IpAddress& src : {a, b}) EXPECT_EQ(h.in(data(src, 36412, 36412, ts)).fwmark, fwmark);
        }
        int most = 0;
        for (auto [fwmark, n] : per_target) most = std::max(most, n);
        if (mode == HashMode::Vtag) {
            EXPECT_LE(most, 12) << "vtag mode put more than half on one target";
            EXPECT_EQ(per_target.size(), 3u);
        } else {
            EXPECT_EQ(most, 24) << "ports mode hashes fixed ports to one target";
        }
    }
}

}  // namespace

// ---- ICMP errors and IP fragments (issue P7) ------------------------------------

namespace {

// An ICMP error from a router, quoting a packet the server sent to `client`.
ParsedPacket icmp_error(const IpAddress& client, std::uint16_t client_port, std::uint16_t server_port,
                        std::uint32_t quoted_vtag) {
    ParsedPacket p = sctp(ip("192.0.2.254"), kVip1, 0, 0, 0, {});
    p.icmp_error = true;
    p.icmp = IcmpQuote{3, 4, kVip1, client, server_port, client_port, quoted_vtag};
    return p;
}

ParsedPacket fragment_of(const ParsedPacket& packet, bool first, std::uint32_t id) {
    ParsedPacket p = packet;
    p.fragment = FragmentInfo{true, first, id, 132};
    if (!first) {
        p.status = ParseStatus::IpFragment;
        p.chunk_count = 0;
    }
    return p;
}

}  // namespace

TEST(Decider, IcmpErrorsReachTheServerOfTheQuotedAssociation) {
    Harness h;
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 36412, 36412, 0x1111, 0x2222);
    // "Fragmentation needed" about a server -> client packet on either path: vtag = Tc.
    for (const IpAddress& client : {kClientA, kClientB}) {
        const Verdict v = h.in(icmp_error(client, 36412, 36412, 0x1111));
        EXPECT_EQ(v.action, Action::AcceptMarked);
        EXPECT_EQ(v.reason, Reason::IcmpError);
        EXPECT_EQ(v.fwmark, fwmark);
    }
    // Quoting Ts (a client -> server packet never reaches the VIP's ICMP), an unknown tag,
    // other ports: unknown, dropped and counted.
    for (const ParsedPacket& p : {icmp_error(kClientA, 36412, 36412, 0x2222), icmp_error(kClientA, 36412, 36412, 0x9999),
                                  icmp_error(kClientA, 5000, 36412, 0x1111)}) {
        const Verdict v = h.in(p);
        EXPECT_EQ(v.action, Action::Drop);
        EXPECT_EQ(v.reason, Reason::IcmpUnknown);
    }
    EXPECT_EQ(h.counters.of(Reason::IcmpError), 2u);
    EXPECT_EQ(h.counters.of(Reason::IcmpUnknown), 3u);
    // An error never creates or refreshes an association.
    EXPECT_EQ(h.table.size(), 1u);
}

TEST(Decider, IcmpErrorsInPortsModeUseThePortsHashWhenUnknown) {
    Harness h(HashMode::Ports);
    const Verdict v = h.in(icmp_error(kClientA, 5000, 36412, 0x9999));
    EXPECT_EQ(v.action, Action::AcceptMarked);
    EXPECT_EQ(v.fwmark, maglev_lookup(h.maglev, h.decider.ports_key(5000, 36412)));
    EXPECT_EQ(h.table.size(), 0u);
}

TEST(Decider, LaterFragmentsFollowTheFirstFragment) {
    Harness h;
    FragmentTable fragments(64, std::chrono::seconds(2));
    h.decider.set_fragment_table(&fragments);
    const std::uint32_t fwmark = h.establish(kClientA, kClientB, 36412, 36412, 0x1111, 0x2222);
    const ParsedPacket big = data(kClientA, 36412, 36412, 0x2222);

    // A later fragment before its first: no verdict to follow yet (the data path holds it).
    const std::uint64_t generation = fragments.generation();
    EXPECT_EQ(h.in(fragment_of(big, false, 7)).reason, Reason::IpFragment);
    const Verdict first = h.in(fragment_of(big, true, 7));
    EXPECT_EQ(first.fwmark, fwmark);
    EXPECT_GT(fragments.generation(), generation);
    const Verdict later = h.in(fragment_of(big, false, 7));
    EXPECT_EQ(later.action, Action::AcceptMarked);
    EXPECT_EQ(later.reason, Reason::FragmentFollows);
    EXPECT_EQ(later.fwmark, fwmark);
    // Another datagram (other ID), or the same ID from another source: not this one's.
    EXPECT_EQ(h.in(fragment_of(big, false, 8)).reason, Reason::IpFragment);
    EXPECT_EQ(h.in(fragment_of(data(kClientB, 36412, 36412, 0x2222), false, 7)).reason, Reason::IpFragment);
    // A dropped first fragment: its later fragments are dropped too.
    h.in(fragment_of(data(kClientA, 36412, 36412, 0xBAD), true, 9));
    EXPECT_EQ(h.in(fragment_of(big, false, 9)).reason, Reason::FragmentOfDropped);
    // Remembered for the TTL only.
    h.now += std::chrono::seconds(3);
    EXPECT_EQ(h.in(fragment_of(big, false, 7)).reason, Reason::IpFragment);
}

TEST(Decider, AFirstFragmentAwaitingTheSyncIsNotFollowedYet) {
    Harness h;
    FragmentTable fragments(64, std::chrono::seconds(2));
    const auto first = [](std::uint32_t id) { return fragment_of(data(kClientA, 36412, 36412, 0x5555), true, id); };
    const auto later = [](std::uint32_t id) { return fragment_of(data(kClientA, 36412, 36412, 0x5555), false, id); };
    // With a sync the unknown first fragment may be held and decided again: its later
    // fragments wait, not dropped for good.
    Decider with_sync(DeciderConfig{.mode = HashMode::Vtag, .unknown_may_resolve = true}, h.hash, h.table);
    with_sync.set_fragment_table(&fragments);
    EXPECT_EQ(with_sync.decide(first(11), Direction::In, h.maglev, h.now, h.counters).reason, Reason::UnknownAssociation);
    EXPECT_FALSE(fragments.find(later(11), h.now));
    // Without a sync nothing will resolve it: the later fragments follow the drop at once.
    Decider without_sync(DeciderConfig{.mode = HashMode::Vtag}, h.hash, h.table);
    without_sync.set_fragment_table(&fragments);
    without_sync.decide(first(12), Direction::In, h.maglev, h.now, h.counters);
    const auto followed = fragments.find(later(12), h.now);
    ASSERT_TRUE(followed);
    EXPECT_EQ(followed->action, Action::Drop);
}

TEST(FragmentTable, BoundedNeighbourhoodsEvictTheOldest) {
    FragmentTable fragments(FragmentTable::kProbe, std::chrono::seconds(2));  // one neighbourhood
    Counters counters;
    ParsedPacket p = fragment_of(data(kClientA, 1, 2, 3), true, 0);
    const Verdict marked{Action::AcceptMarked, Reason::Established, 5};
    for (std::uint32_t id = 0; id < FragmentTable::kProbe; ++id) {
        p.fragment.id = id;
        fragments.record(p, marked, Nanos{std::chrono::seconds(1) + std::chrono::milliseconds(id)}, counters);
    }
    EXPECT_EQ(counters.of(Event::FragmentEvicted), 0u);
    p.fragment.id = 100;
    fragments.record(p, marked, Nanos{std::chrono::seconds(2)}, counters);
    EXPECT_EQ(counters.of(Event::FragmentEvicted), 1u);
    ParsedPacket probe = fragment_of(data(kClientA, 1, 2, 3), false, 0);
    EXPECT_FALSE(fragments.find(probe, Nanos{std::chrono::seconds(2)})) << "the oldest (id 0) went";
    probe.fragment.id = 1;
    EXPECT_TRUE(fragments.find(probe, Nanos{std::chrono::seconds(2)}));
    probe.fragment.id = 100;
    EXPECT_TRUE(fragments.find(probe, Nanos{std::chrono::seconds(2)}));
}

// ---- admission control (issue P7) ----------------------------------------------

TEST(Admission, CidrsMatchByFamilyAndPrefix) {
    const struct {
        const char* cidr;
        const char* address;
        bool inside;
    } cases[] = {
        {"192.0.2.0/24", "192.0.2.77", true},   {"192.0.2.0/24", "192.0.3.1", false},
        {"192.0.2.128/25", "192.0.2.127", false}, {"10.0.0.0/8", "10.255.0.1", true},
        {"0.0.0.0/0", "203.0.113.9", true},     {"0.0.0.0/0", "2001:db8::1", false},
        {"2001:db8::/32", "2001:db8:ffff::1", true}, {"2001:db8::/32", "2001:db9::1", false},
        {"192.0.2.5", "192.0.2.5", true},       {"192.0.2.5", "192.0.2.6", false},
        {"::/0", "192.0.2.1", false},
    };
    for (const auto& c : cases) {
        const auto cidr = parse_cidr(c.cidr);
        ASSERT_TRUE(cidr) << c.cidr;
        EXPECT_EQ(cidr->contains(ip(c.address)), c.inside) << c.cidr << " " << c.address;
    }
    for (const char* bad : {"192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "nonsense/8", "192.0.2.0/0x8"})
        EXPECT_FALSE(parse_cidr(bad)) << bad;
}

TEST(Admission, AllowListAndPerSourceRateGuardOnlyNewAssociations) {
    Harness h;
    AdmissionControl admission(AdmissionConfig{.allow = {*parse_cidr("192.168.2.0/24")}, .rate_per_s = 2, .burst = 2});
    h.decider.set_admission(&admission);
    // Outside the allow-list: refused, nothing stored.
    EXPECT_EQ(h.in(init(ip("203.0.113.1"), 5000, 36412, 0x10, {})).reason, Reason::InitNotAllowed);
    EXPECT_EQ(h.table.size(), 0u);
    // Inside: a burst of 2, then refused until tokens come back (2 per second).
    EXPECT_EQ(h.in(init(kClientA, 5001, 36412, 0x11, {})).reason, Reason::InitHash);
    EXPECT_EQ(h.in(init(kClientA, 5002, 36412, 0x12, {})).reason, Reason::InitHash);
    EXPECT_EQ(h.in(init(kClientA, 5003, 36412, 0x13, {})).reason, Reason::InitRateLimited);
    // Retransmissions of a known INIT pass whatever the bucket says.
    EXPECT_EQ(h.in(init(kClientA, 5001, 36412, 0x11, {})).reason, Reason::InitRetransmit);
    // Another source has its own bucket.
    EXPECT_EQ(h.in(init(ip("192.168.2.99"), 5003, 36412, 0x14, {})).reason, Reason::InitHash);
    h.now += std::chrono::milliseconds(500);  // one token back
    EXPECT_EQ(h.in(init(kClientA, 5003, 36412, 0x13, {})).reason, Reason::InitHash);
    EXPECT_EQ(h.in(init(kClientA, 5004, 36412, 0x15, {})).reason, Reason::InitRateLimited);
    EXPECT_EQ(h.counters.of(Reason::InitRateLimited), 2u);
    EXPECT_EQ(h.counters.of(Reason::InitNotAllowed), 1u);
    EXPECT_EQ(h.table.size(), 4u);
}

// decide_batch() is what the daemon calls; its prefetching must never change
// a verdict, on the setup path as on the established one. Batches
// of whole setups - INIT, its retransmission, COOKIE ECHO matched by address
// and ports, DATA, SHUTDOWN COMPLETE, a restart, an unknown COOKIE ECHO -
// decide as the same packets one by one, verdict for verdict and count for count.
TEST(Decider, BatchedSetupsDecideAsOneByOne) {
    Harness one_by_one;
    Harness batched;
    std::vector<ParsedPacket> packets;
    for (std::uint32_t a = 0; a < 40; ++a) {
        const IpAddress client = IpAddress::v4(0xC0A80A00u + a % 8);
        const auto port = static_cast<std::uint16_t>(5000 + a);
        const std::uint32_t tc = 100 + a;
        const std::uint32_t ts = 9000 + a;
        packets.push_back(init(client, port, 36412, tc, {}));
        if (a % 5 == 0) packets.push_back(init(client, port, 36412, tc, {}));  // retransmission
        packets.push_back(sctp(client, kVip1, port, 36412, ts, {ChunkType::CookieEcho}));
        packets.push_back(data(client, port, 36412, ts));
        if (a % 7 == 0) packets.push_back(init(client, port, 36412, tc + 1000, {}));  // restart
        if (a % 3 == 0) packets.push_back(sctp(client, kVip1, port, 36412, ts, {ChunkType::ShutdownComplete}));
    }
    packets.push_back(sctp(kClientA, kVip1, 7, 36412, 77, {ChunkType::CookieEcho}));  // nobody's
    std::vector<Verdict> expected;
    for (const ParsedPacket& p : packets) expected.push_back(one_by_one.in(p));

    constexpr std::size_t kBatch = 16;
    std::vector<Verdict> got(packets.size());
    for (std::size_t base = 0; base < packets.size(); base += kBatch) {
        const std::size_t n = std::min(kBatch, packets.size() - base);
        std::vector<const ParsedPacket*> pointers;
        for (std::size_t i = 0; i < n; ++i) pointers.push_back(&packets[base + i]);
        const std::vector<Direction> directions(n, Direction::In);
        batched.decider.decide_batch(pointers, directions, batched.maglev, batched.now, batched.counters,
                                     std::span(got).subspan(base, n));
    }
    expect_same_decisions(got, expected, batched, one_by_one);
    // The batch saw every kind of setup step.
    for (const Reason r : {Reason::InitHash, Reason::InitRetransmit, Reason::CookieEchoMatched, Reason::Established,
                           Reason::InitRestart, Reason::CookieEchoUnknown})
        EXPECT_GT(one_by_one.counters.of(r), 0u) << reason_name(r);
    EXPECT_GT(one_by_one.counters.of(Event::Closed), 0u);
}
