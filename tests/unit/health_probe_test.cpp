// The health probe's pure parts: the INIT and ABORT it builds, the judgement
// of replies, and rise/fall counting on an injected clock.
#include "core/health_probe.hpp"

#include <gtest/gtest.h>

#include "core/packet.hpp"
#include "support/packet_builder.hpp"

namespace sctplb {
namespace {

using test::Bytes;
using test::Checksum;
using test::be32;
using test::chunk;
using test::init_chunk;
using test::sctp;

constexpr ProbeInit kProbe{.source_port = 50000, .destination_port = 36412, .initiate_tag = 0xA1B2C3D4, .initial_tsn = 7};
constexpr std::uint32_t kServerTag = 0x55667788;

// A reply from the server: ports swapped, our tag, a valid checksum unless told.
Bytes reply(const Bytes& chunks, std::uint32_t vtag = kProbe.initiate_tag, Checksum checksum = Checksum::Crc32c) {
    return sctp(chunks, vtag, kProbe.destination_port, kProbe.source_port, checksum);
}

TEST(HealthProbe, InitIsAValidInitWithOurTagAndChecksum) {
    const Bytes packet = build_probe_init(kProbe);
    Bytes expected = sctp(init_chunk(kProbe.initiate_tag, {}), 0, kProbe.source_port, kProbe.destination_port);
    ASSERT_EQ(packet.size(), 32u);  // common header + INIT without parameters
    // Same fields as the tests' INIT (a_rwnd, streams and TSN differ): type, length, tag.
    EXPECT_EQ(packet[12], std::byte{0x01});
    EXPECT_EQ(Bytes(packet.begin() + 14, packet.begin() + 20), Bytes(expected.begin() + 14, expected.begin() + 20));
    EXPECT_EQ(Bytes(packet.begin(), packet.begin() + 8), Bytes(expected.begin(), expected.begin() + 8));
    // The checksum is what the tests' CRC32c computes.
    Bytes recomputed = packet;
    test::Crc32c{}.store(recomputed.data(), recomputed.size());
    EXPECT_EQ(recomputed, packet);
    // And the data path's parser reads it as an INIT with our tag.
    ParsedPacket parsed;
    parse_packet(test::ipv4(packet), {}, parsed);
    ASSERT_EQ(parsed.status, ParseStatus::Ok) << parse_status_name(parsed.status);
    EXPECT_TRUE(parsed.has_init);
    EXPECT_EQ(parsed.init.initiate_tag, kProbe.initiate_tag);
    EXPECT_EQ(parsed.init.address_count, 0u);
}

TEST(HealthProbe, AbortCarriesThePeerTagWithTheTBitClear) {
    const Bytes packet = build_probe_abort(kProbe, kServerTag);
    EXPECT_EQ(packet, sctp(chunk(0x06, 0, {}), kServerTag, kProbe.source_port, kProbe.destination_port, Checksum::Crc32c));
}

TEST(HealthProbe, InitAckWithOurTagIsHealthy) {
    const ProbeReply r = judge_probe_reply(reply(init_chunk(kServerTag, {}, ChunkType::InitAck)), kProbe);
    EXPECT_EQ(r.kind, ProbeReplyKind::InitAck);
    EXPECT_EQ(r.peer_tag, kServerTag);
}

TEST(HealthProbe, AbortWithOurTagIsAFailure) {
    EXPECT_EQ(judge_probe_reply(reply(chunk(0x06, 0, {})), kProbe).kind, ProbeReplyKind::Abort);
}

TEST(HealthProbe, RepliesNotToThisProbeAreIgnored) {
    const Bytes init_ack = init_chunk(kServerTag, {}, ChunkType::InitAck);
    EXPECT_EQ(judge_probe_reply(reply(init_ack, 0x12345678), kProbe).kind, ProbeReplyKind::Unrelated);  // other tag
    EXPECT_EQ(judge_probe_reply(reply(init_ack, kProbe.initiate_tag, Checksum::Zero), kProbe).kind,
              ProbeReplyKind::Unrelated);  // bad checksum
    EXPECT_EQ(judge_probe_reply(sctp(init_ack, kProbe.initiate_tag, 36412, 50001, Checksum::Crc32c), kProbe).kind,
              ProbeReplyKind::Unrelated);  // other port
    EXPECT_EQ(judge_probe_reply(reply(init_chunk(0, {}, ChunkType::InitAck)), kProbe).kind,
              ProbeReplyKind::Unrelated);  // zero Initiate Tag (§3.3.3)
    EXPECT_EQ(judge_probe_reply(reply(test::heartbeat_chunk()), kProbe).kind, ProbeReplyKind::Unrelated);
    Bytes truncated = reply(init_ack);
    truncated.resize(20);
    EXPECT_EQ(judge_probe_reply(truncated, kProbe).kind, ProbeReplyKind::Unrelated);
    EXPECT_EQ(judge_probe_reply(Bytes(8), kProbe).kind, ProbeReplyKind::Unrelated);
}

TEST(HealthCounter, FallFailuresTakeItDownRiseSuccessesBringItBack) {
    HealthCounter c({.rise = 2, .fall = 3});
    Nanos now{1000};
    const auto step = [&](ProbeResult r) {
        now += std::chrono::seconds(2);
        return c.record(r, now);
    };
    EXPECT_EQ(c.state(), HealthState::Unknown);
    EXPECT_EQ(step(ProbeResult::Ok), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Ok), HealthState::Up);
    EXPECT_EQ(step(ProbeResult::Ok), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Timeout), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Abort), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Ok), std::nullopt);  // a success resets the failures
    EXPECT_EQ(step(ProbeResult::Timeout), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Timeout), std::nullopt);
    EXPECT_EQ(c.failures(), 2u);
    EXPECT_EQ(step(ProbeResult::SendError), HealthState::Down);
    EXPECT_EQ(step(ProbeResult::Timeout), std::nullopt);  // stays down, no second transition
    EXPECT_EQ(c.last_result(), ProbeResult::Timeout);
    EXPECT_EQ(c.last_probe(), now);
    EXPECT_EQ(step(ProbeResult::Ok), std::nullopt);
    EXPECT_EQ(step(ProbeResult::Ok), HealthState::Up);
    EXPECT_EQ(c.successes(), 2u);
}

TEST(HealthCounter, StartsUnknownAndGoesStraightDown) {
    HealthCounter c({.rise = 1, .fall = 1});
    EXPECT_EQ(c.record(ProbeResult::Timeout, Nanos{1}), HealthState::Down);
    EXPECT_EQ(c.record(ProbeResult::Ok, Nanos{2}), HealthState::Up);
    EXPECT_EQ(probe_result_name(ProbeResult::Abort), "abort");
    EXPECT_EQ(health_state_name(HealthState::Down), "down");
}

}  // namespace
}  // namespace sctplb
