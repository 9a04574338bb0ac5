// Server-initiated associations (docs/design.md "Server-initiated associations"):
// the rows of the rules table for a server's INIT through the LB and the
// peer's packets to the VIPs, in virtual time, on parsed packets.
#include <gtest/gtest.h>

#include <vector>

#include "io/association_export.hpp"
#include "core/decider.hpp"
#include "core/maglev.hpp"
#include "core/sync_merge.hpp"
#include "io/rules.hpp"
#include "io/server_identity.hpp"
#include "support/address.hpp"
#include "support/parsed_packet.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;
using namespace std::chrono_literals;

namespace {

using test::ip;

const IpAddress kVip1 = ip("10.0.0.1");
const IpAddress kVip2 = ip("10.0.0.2");
const IpAddress kPeerA = ip("192.168.2.221");
const IpAddress kPeerB = ip("192.168.6.221");
constexpr std::uint16_t kPeerPort = 3868;   // the peer's listening port
constexpr std::uint16_t kServerPort = 3868; // the server's (fixed) source port
constexpr std::uint32_t kServer = 2;        // the sending server's fwmark
constexpr std::uint32_t kTs = 0x5e5e0001;   // the server's initiate tag
constexpr std::uint32_t kTp = 0x9e9e0001;   // the peer's initiate tag

ParsedPacket sctp(const IpAddress& src, const IpAddress& dst, std::uint16_t sport, std::uint16_t dport,
                  std::uint32_t vtag, std::initializer_list<ChunkType> chunks) {
    return test::parsed_sctp(src, dst, sport, dport, vtag, chunks);
}

// The server's INIT: VIP -> peer, initiate tag Ts, its addresses the VIPs.
ParsedPacket server_init(const IpAddress& peer, std::uint32_t ts, std::uint16_t server_port = kServerPort) {
    ParsedPacket p = sctp(kVip1, peer, server_port, kPeerPort, 0, {ChunkType::Init});
    p.init.initiate_tag = ts;
    p.init.addresses[p.init.address_count++] = kVip2;
    return p;
}

// The peer's INIT ACK: peer -> VIP, vtag Ts, initiate tag Tp, every peer address.
ParsedPacket peer_init_ack(const IpAddress& from, std::uint32_t ts, std::uint32_t tp,
                           std::initializer_list<IpAddress> addresses) {
    ParsedPacket p = sctp(from, kVip1, kPeerPort, kServerPort, ts, {ChunkType::InitAck});
    p.init.initiate_tag = tp;
    for (const IpAddress& a : addresses) p.init.addresses[p.init.address_count++] = a;
    return p;
}

ParsedPacket from_peer(const IpAddress& src, const IpAddress& vip, std::uint32_t vtag,
                       std::initializer_list<ChunkType> chunks) {
    return sctp(src, vip, kPeerPort, kServerPort, vtag, chunks);
}

struct Harness {
    Harness() : heap(TableLimits{.capacity = 1024}, Timeouts{}), decider(DeciderConfig{}, hash, table) {
        maglev.assign(997, 0);
        EXPECT_TRUE(maglev_populate(hash, std::vector<std::uint32_t>{1, 2, 3}, maglev));
    }
    Verdict in(const ParsedPacket& p) { return decider.decide(p, Direction::In, maglev, now, counters); }
    Verdict server(const ParsedPacket& p, std::uint32_t fwmark = kServer) {
        return decider.decide_from_server(p, fwmark, now, counters);
    }
    // The whole opening: server INIT to peer A, INIT ACK listing A and B, COOKIE ACK.
    void open() {
        ASSERT_EQ(server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
        ASSERT_EQ(in(peer_init_ack(kPeerA, kTs, kTp, {kPeerA, kPeerB})).reason, Reason::InitAckToServer);
        ASSERT_EQ(in(from_peer(kPeerA, kVip1, kTs, {ChunkType::CookieAck})).reason, Reason::Established);
    }
    [[nodiscard]] const Association* only() const {
        const Association* found = nullptr;
        table.for_each([&](AssociationId, const Association& a) { found = &a; });
        return table.size() == 1 ? found : nullptr;
    }

    KeyedHash hash;
    test::HeapTable heap;
    AssociationTable& table = *heap;
    std::vector<std::uint32_t> maglev;
    Decider decider;
    Counters counters;
    Nanos now{1'000'000'000};
};

TEST(ServerInitiated, TheServersInitIsRecordedAndRoutedOnUnmarked) {
    Harness h;
    const Verdict v = h.server(server_init(kPeerA, kTs));
    EXPECT_EQ(v.action, Action::AcceptUnmarked);  // the LB routes it to the peer
    EXPECT_EQ(v.reason, Reason::ServerInit);
    const Association* a = h.only();
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->server_initiated);
    EXPECT_EQ(a->state, AssociationState::HalfOpen);
    EXPECT_EQ(a->fwmark, kServer);
    EXPECT_EQ(a->ts, kTs);
    EXPECT_EQ(a->tc, 0u);
    EXPECT_EQ(a->sport, kPeerPort);
    EXPECT_EQ(a->dport, kServerPort);
    EXPECT_TRUE(a->has_address(kPeerA));
    EXPECT_EQ(a->server_address_count, 1);
}

TEST(ServerInitiated, EveryPeerPacketOnEveryPathGoesToTheServerThatOpenedIt) {
    Harness h;
    h.open();
    const Association* a = h.only();
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->state, AssociationState::Established);
    EXPECT_EQ(a->tc, kTp);
    EXPECT_TRUE(a->has_address(kPeerB));
    for (const IpAddress& src : {kPeerA, kPeerB})
        for (const IpAddress& vip : {kVip1, kVip2}) {
            const Verdict v = h.in(from_peer(src, vip, kTs, {ChunkType::Data}));
            EXPECT_EQ(v.action, Action::AcceptMarked);
            EXPECT_EQ(v.fwmark, kServer);
        }
    // A peer's ABORT with the T bit reflects its own tag (§8.5.1): by Tc.
    ParsedPacket abort = from_peer(kPeerB, kVip2, kTp, {ChunkType::Abort});
    abort.t_bit = true;
    const Verdict v = h.in(abort);
    EXPECT_EQ(v.reason, Reason::TBit);
    EXPECT_EQ(v.fwmark, kServer);
    EXPECT_EQ(a->state, AssociationState::Closed);
}

TEST(ServerInitiated, InitAckFromAnotherPeerAddressIsFoundByItsParameters) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    const Verdict v = h.in(peer_init_ack(kPeerB, kTs, kTp, {kPeerA, kPeerB}));
    EXPECT_EQ(v.reason, Reason::InitAckToServer);
    EXPECT_EQ(v.fwmark, kServer);
}

TEST(ServerInitiated, RetransmittedInitKeepsTheEntry) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    h.now += 1s;
    EXPECT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInitRetransmit);
    EXPECT_EQ(h.table.size(), 1u);
}

TEST(ServerInitiated, AServerThatGaveUpAndStartsOverReKeysItsHalfOpenEntry) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    EXPECT_EQ(h.server(server_init(kPeerA, kTs + 1)).reason, Reason::ServerInit);
    EXPECT_EQ(h.table.size(), 1u);
    EXPECT_EQ(h.in(peer_init_ack(kPeerA, kTs, kTp, {})).reason, Reason::PeerInitAckUnknown);  // old tag: gone
    EXPECT_EQ(h.in(peer_init_ack(kPeerA, kTs + 1, kTp, {})).reason, Reason::InitAckToServer);
}

TEST(ServerInitiated, ServerRestartReKeysAndTheOldTagLingers) {
    Harness h;
    h.open();
    h.now += 1s;
    EXPECT_EQ(h.server(server_init(kPeerA, kTs + 7)).reason, Reason::ServerInitRestart);
    EXPECT_EQ(h.table.size(), 1u);
    // In flight under the old tag: still routed for the linger.
    EXPECT_EQ(h.in(from_peer(kPeerB, kVip2, kTs, {ChunkType::Data})).fwmark, kServer);
    EXPECT_EQ(h.in(peer_init_ack(kPeerB, kTs + 7, kTp + 7, {kPeerA, kPeerB})).reason, Reason::InitAckToServer);
    EXPECT_EQ(h.only()->tc, kTp + 7);
    EXPECT_EQ(h.in(from_peer(kPeerB, kVip2, kTs + 7, {ChunkType::CookieAck})).fwmark, kServer);
    h.now += 31s;
    EXPECT_EQ(h.in(from_peer(kPeerB, kVip2, kTs, {ChunkType::Data})).reason, Reason::UnknownAssociation);
}

TEST(ServerInitiated, PeerRestartAndAsconfWorkAsForClientInitiatedAssociations) {
    Harness h;
    h.open();
    // The peer restarts (§5.2.2): a new INIT from its address and ports.
    ParsedPacket init = sctp(kPeerA, kVip1, kPeerPort, kServerPort, 0, {ChunkType::Init});
    init.init.initiate_tag = kTp + 1;
    Verdict v = h.in(init);
    EXPECT_EQ(v.reason, Reason::InitRestart);
    EXPECT_EQ(v.fwmark, kServer);
    v = h.in(from_peer(kPeerB, kVip2, kTs + 1, {ChunkType::CookieEcho}));
    EXPECT_EQ(v.reason, Reason::CookieEchoRestart);
    EXPECT_EQ(v.fwmark, kServer);
    // ASCONF adds an address.
    const IpAddress peer_c = ip("192.168.7.221");
    ParsedPacket asconf = from_peer(peer_c, kVip1, kTs + 1, {ChunkType::Asconf});
    asconf.asconf.has_lookup_address = true;
    asconf.asconf.lookup_address = kPeerA;
    EXPECT_EQ(h.in(asconf).fwmark, kServer);
    EXPECT_EQ(h.in(from_peer(peer_c, kVip2, kTs + 1, {ChunkType::Data})).fwmark, kServer);
}

TEST(ServerInitiated, AnInitCollisionFromThePeerGoesToTheServerOpeningIt) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    ParsedPacket init = sctp(kPeerA, kVip1, kPeerPort, kServerPort, 0, {ChunkType::Init});
    init.init.initiate_tag = kTp;
    const Verdict v = h.in(init);
    EXPECT_EQ(v.action, Action::AcceptMarked);
    EXPECT_EQ(v.fwmark, kServer);
    EXPECT_TRUE(h.only()->server_initiated);
}

TEST(ServerInitiated, ShutdownFromThePeerCloses) {
    Harness h;
    h.open();
    EXPECT_EQ(h.in(from_peer(kPeerA, kVip1, kTs, {ChunkType::ShutdownAck})).fwmark, kServer);
    EXPECT_EQ(h.only()->state, AssociationState::Closing);
    EXPECT_EQ(h.in(from_peer(kPeerA, kVip1, kTs, {ChunkType::ShutdownComplete})).fwmark, kServer);
    EXPECT_EQ(h.only()->state, AssociationState::Closed);
}

// ---- nobody else can claim an association -----------------------------------------

TEST(ServerInitiated, AVipSourceInitFromNoConfiguredServerCreatesNothing) {
    Harness h;
    const Verdict v = h.server(server_init(kPeerA, kTs), kNoTarget);
    EXPECT_EQ(v.action, Action::Drop);
    EXPECT_EQ(v.reason, Reason::ServerInitSpoofed);
    EXPECT_EQ(h.counters.of(Reason::ServerInitSpoofed), 1u);
    EXPECT_EQ(h.table.size(), 0u);
    // The same through decide(): a from-server packet without an identified sender.
    EXPECT_EQ(h.decider.decide(server_init(kPeerA, kTs), Direction::FromServer, h.maglev, h.now, h.counters).reason,
              Reason::ServerInitSpoofed);
    EXPECT_EQ(h.table.size(), 0u);
}

TEST(ServerInitiated, AnotherServerCannotTakeOverAnAssociation) {
    Harness h;
    h.open();
    const Verdict v = h.server(server_init(kPeerA, kTs + 9), 3);
    EXPECT_EQ(v.action, Action::Drop);
    EXPECT_EQ(v.reason, Reason::ServerInitConflict);
    EXPECT_EQ(h.only()->fwmark, kServer);
    EXPECT_EQ(h.only()->ts, kTs);
}

TEST(ServerInitiated, OnlyInitsComeFromTheServerSide) {
    Harness h;
    const Verdict v = h.server(sctp(kVip1, kPeerA, kServerPort, kPeerPort, kTp, {ChunkType::CookieEcho}));
    EXPECT_EQ(v.reason, Reason::ServerNotInit);
    EXPECT_EQ(h.table.size(), 0u);
}

TEST(ServerInitiated, AnUnknownInitAckToAVipIsDroppedAsUnknown) {
    Harness h;
    const Verdict v = h.in(peer_init_ack(kPeerA, kTs, kTp, {}));
    EXPECT_EQ(v.action, Action::Drop);
    EXPECT_EQ(v.reason, Reason::PeerInitAckUnknown);
    EXPECT_TRUE(dropped_as_unknown(v));  // the data path holds it for the sync
    EXPECT_EQ(h.table.size(), 0u);
}

// Tier: the server's INIT left through LB A; the peer's INIT ACK reaches LB B
// before A's sync record. B holds it (dropped_as_unknown) and decides it again
// once the record is merged: to the server that opened the association.
TEST(ServerInitiated, AnInitAckBeforeTheSyncRecordResolvesOnceTheRecordArrives) {
    Harness lb_a;
    Harness lb_b;
    ASSERT_EQ(lb_a.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    const ParsedPacket init_ack = peer_init_ack(kPeerB, kTs, kTp, {kPeerA, kPeerB});
    const Verdict early = lb_b.in(init_ack);
    EXPECT_TRUE(dropped_as_unknown(early));
    EXPECT_EQ(lb_b.table.size(), 0u);

    ASSERT_NE(lb_a.only(), nullptr);
    const SyncRecord record{.fields = *lb_a.only()};
    ASSERT_EQ(merge_sync_record(lb_b.table, record, MergeContext{}, lb_b.now, lb_b.counters),
              MergeOutcome::Inserted);
    const Verdict resolved = lb_b.in(init_ack);
    EXPECT_EQ(resolved.action, Action::AcceptMarked);
    EXPECT_EQ(resolved.reason, Reason::InitAckToServer);
    EXPECT_EQ(resolved.fwmark, kServer);
    EXPECT_EQ(lb_b.in(from_peer(kPeerB, kVip2, kTs, {ChunkType::CookieAck})).reason, Reason::Established);
}

TEST(ServerInitiated, AHalfOpenServerEntryExpiresLikeAnyHalfOpenEntry) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    h.now += 6min;
    EXPECT_EQ(h.in(peer_init_ack(kPeerA, kTs, kTp, {})).reason, Reason::PeerInitAckUnknown);
}

// ---- the pieces around the decider -------------------------------------------------

TEST(ServerInitiated, TheSenderIsTheServerWhoseNextHopHasThatMacOnThatInterface) {
    const std::vector<ServerNextHop> servers{{1, ip("192.168.1.1")}, {2, ip("192.168.1.2")}, {2, ip("fd00:1::2")}};
    const MacAddress mac1{2, 0, 0, 1, 0, 1};
    const MacAddress mac2{2, 0, 0, 1, 0, 2};
    const std::vector<Neighbour> neighbours{{ip("192.168.1.1"), 5, mac1}, {ip("fd00:1::2"), 5, mac2},
                                            {ip("192.168.2.221"), 6, MacAddress{2, 0, 0, 2, 0, 0x21}}};
    EXPECT_EQ(match_server(servers, neighbours, 5, mac1), std::optional<std::uint32_t>(1));
    EXPECT_EQ(match_server(servers, neighbours, 5, mac2), std::optional<std::uint32_t>(2));
    EXPECT_EQ(match_server(servers, neighbours, 6, mac1), std::nullopt);  // another interface
    EXPECT_EQ(match_server(servers, neighbours, 6, MacAddress{2, 0, 0, 2, 0, 0x21}), std::nullopt);  // no server
}

// Two servers open associations at once: the second one's ARP entry appears just after the
// table was read for the first one (seen in vm.server-init: the second INIT was refused as
// server-init-spoofed and only its retransmission got through).
TEST(ServerInitiated, ASecondServerWhoseNeighbourEntryJustAppearedIsFoundAtOnce) {
    const std::vector<ServerNextHop> servers{{1, ip("192.168.1.1")}, {2, ip("192.168.1.2")}};
    const MacAddress mac1{2, 0, 0, 1, 0, 1};
    const MacAddress mac2{2, 0, 0, 1, 0, 2};
    std::vector<Neighbour> table{{ip("192.168.1.1"), 5, mac1}};
    int reads = 0;
    ServerIdentity identity(servers, [&] {
        ++reads;
        return table;
    });
    Nanos now{5'000'000'000};
    EXPECT_EQ(identity.identify(5, mac1, now), std::optional<std::uint32_t>(1));
    table.push_back({ip("192.168.1.2"), 5, mac2});
    now += 1ms;
    EXPECT_EQ(identity.identify(5, mac2, now), std::optional<std::uint32_t>(2));
    EXPECT_EQ(reads, 2);
    // Known senders cost no read.
    EXPECT_EQ(identity.identify(5, mac1, now), std::optional<std::uint32_t>(1));
    EXPECT_EQ(reads, 2);
}

TEST(ServerInitiated, UnknownSendersDoNotTurnIntoANeighbourTableFlood) {
    const std::vector<ServerNextHop> servers{{1, ip("192.168.1.1")}};
    int reads = 0;
    ServerIdentity identity(servers, [&] {
        ++reads;
        return std::vector<Neighbour>{};
    });
    Nanos now{5'000'000'000};
    const MacAddress spoofer{2, 0, 0, 9, 9, 9};
    // One sender again and again: one read per 100 ms.
    for (int i = 0; i < 50; ++i) EXPECT_EQ(identity.identify(5, spoofer, now + std::chrono::milliseconds(i)), std::nullopt);
    EXPECT_EQ(reads, 1);
    EXPECT_EQ(identity.identify(5, spoofer, now + 101ms), std::nullopt);
    EXPECT_EQ(reads, 2);
    // A new MAC in every packet: the bucket (8, one per 10 ms) bounds the reads.
    now += 200ms;
    reads = 0;
    for (std::uint8_t i = 0; i < 100; ++i)
        EXPECT_EQ(identity.identify(5, MacAddress{2, 0, 0, 7, 7, i}, now + std::chrono::microseconds(i * 100)),
                  std::nullopt);  // 100 packets within 10 ms
    EXPECT_LE(reads, 9);
    EXPECT_GE(reads, 8);
}

TEST(ServerInitiated, ServerSideRulesMarkOnlyInitsFromTheVipsAndRouteThemViaTheLb) {
    ServerSideConfig config;
    config.vips = {kVip1, kVip2, ip("fd00::1:1")};
    config.via.nexthop = ip("192.168.1.201");
    std::string error;
    const auto plan = make_server_side_plan(config, error);
    ASSERT_TRUE(plan) << error;
    std::vector<std::string> lines;
    for (const RuleStep& step : *plan) lines.push_back(shell_command(step.add));
    const std::vector<std::string> want{
        "iptables -w -t mangle -A OUTPUT -s 10.0.0.1/32 -p sctp -m sctp --chunk-types any INIT -m comment "
        "--comment sctplb:sctplb -j MARK --set-xmark 0x10000000/0x10000000",
        "iptables -w -t mangle -A OUTPUT -s 10.0.0.2/32 -p sctp -m sctp --chunk-types any INIT -m comment "
        "--comment sctplb:sctplb -j MARK --set-xmark 0x10000000/0x10000000",
        "ip -4 route add 0.0.0.0/0 via 192.168.1.201 table 4999 proto 132",
        "ip -4 rule add pref 9999 fwmark 0x10000000/0x10000000 table 4999 protocol 132"};
    EXPECT_EQ(lines, want);
}

TEST(ServerInitiated, ExportCarriesTheDirectionAndImportNeedsTheServersTag) {
    Harness h;
    ASSERT_EQ(h.server(server_init(kPeerA, kTs)).reason, Reason::ServerInit);
    const nlohmann::ordered_json json = association_to_json(*h.only());
    EXPECT_EQ(json["server_initiated"], true);
    std::string error;
    const auto back = association_from_json(nlohmann::json::parse(json.dump()), error);
    ASSERT_TRUE(back) << error;
    EXPECT_TRUE(back->server_initiated);
    EXPECT_EQ(back->ts, kTs);
    // An export made before this field: client-initiated.
    nlohmann::json old = nlohmann::json::parse(json.dump());
    old.erase("server_initiated");
    const auto legacy = association_from_json(old, error);
    ASSERT_TRUE(legacy) << error;
    EXPECT_FALSE(legacy->server_initiated);
}

}  // namespace
