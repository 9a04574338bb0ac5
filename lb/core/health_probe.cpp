#include "core/health_probe.hpp"

#include <algorithm>

#include "core/sctp_crc32c.hpp"

namespace sctplb {

namespace {

constexpr std::size_t kCommonHeader = 12;
constexpr std::size_t kInitChunk = 20;  // type, flags, length, tag, a_rwnd, streams, TSN (§3.3.2)
constexpr std::size_t kAbortChunk = 4;
constexpr std::uint8_t kChunkInit = 0x01;
constexpr std::uint8_t kChunkInitAck = 0x02;
constexpr std::uint8_t kChunkAbort = 0x06;
constexpr std::uint32_t kProbeWindow = 65536;  // a_rwnd: any value >= 1500 will do (§6.2.1)
constexpr std::uint16_t kProbeStreams = 1;

const Crc32c& checksum() {
    static const Crc32c crc;
    return crc;
}

void put16(std::byte* at, std::uint16_t value) {
    at[0] = std::byte(value >> 8);
    at[1] = std::byte(value);
}
void put32(std::byte* at, std::uint32_t value) {
    put16(at, static_cast<std::uint16_t>(value >> 16));
    put16(at + 2, static_cast<std::uint16_t>(value));
}
std::uint16_t get16(std::span<const std::byte> bytes, std::size_t at) {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(bytes[at]) << 8 | std::to_integer<unsigned>(bytes[at + 1]));
}
std::uint32_t get32(std::span<const std::byte> bytes, std::size_t at) {
    return std::uint32_t{get16(bytes, at)} << 16 | get16(bytes, at + 2);
}

std::vector<std::byte> common_header(const ProbeInit& probe, std::uint32_t tag, std::size_t chunk_bytes) {
    std::vector<std::byte> packet(kCommonHeader + chunk_bytes);
    put16(packet.data(), probe.source_port);
    put16(packet.data() + 2, probe.destination_port);
    put32(packet.data() + 4, tag);
    return packet;
}

// The checksum field is the little-endian CRC register (RFC 9260 Appendix A).
bool checksum_ok(std::span<const std::byte> sctp) {
    std::vector<std::byte> copy(sctp.begin(), sctp.end());
    checksum().store(copy.data(), copy.size());
    return std::equal(copy.begin() + 8, copy.begin() + 12, sctp.begin() + 8);
}

}  // namespace

std::vector<std::byte> build_probe_init(const ProbeInit& probe) {
    // §8.5.1 (A): an INIT's verification tag is 0.
    std::vector<std::byte> packet = common_header(probe, 0, kInitChunk);
    std::byte* chunk = packet.data() + kCommonHeader;
    chunk[0] = std::byte{kChunkInit};
    put16(chunk + 2, kInitChunk);
    put32(chunk + 4, probe.initiate_tag);
    put32(chunk + 8, kProbeWindow);
    put16(chunk + 12, kProbeStreams);  // outbound streams
    put16(chunk + 14, kProbeStreams);  // maximum inbound streams
    put32(chunk + 16, probe.initial_tsn);
    checksum().store(packet.data(), packet.size());
    return packet;
}

std::vector<std::byte> build_probe_abort(const ProbeInit& probe, std::uint32_t peer_tag) {
    // §8.5.1 (B): T bit clear, the peer's tag (we know it from its INIT ACK).
    std::vector<std::byte> packet = common_header(probe, peer_tag, kAbortChunk);
    std::byte* chunk = packet.data() + kCommonHeader;
    chunk[0] = std::byte{kChunkAbort};
    put16(chunk + 2, kAbortChunk);
    checksum().store(packet.data(), packet.size());
    return packet;
}

ProbeReply judge_probe_reply(std::span<const std::byte> sctp, const ProbeInit& probe) {
    if (sctp.size() < kCommonHeader + 4) return {};
    if (get16(sctp, 0) != probe.destination_port || get16(sctp, 2) != probe.source_port) return {};
    if (get32(sctp, 4) != probe.initiate_tag) return {};
    if (!checksum_ok(sctp)) return {};
    // Chunks are padded to 4 bytes; the length field excludes the padding (§3.2).
    for (std::size_t at = kCommonHeader; at + 4 <= sctp.size();) {
        const auto type = std::to_integer<std::uint8_t>(sctp[at]);
        const std::uint16_t length = get16(sctp, at + 2);
        if (length < 4 || at + length > sctp.size()) return {};
        if (type == kChunkAbort) return {ProbeReplyKind::Abort, 0};
        if (type == kChunkInitAck) {
            if (length < kInitChunk) return {};
            const std::uint32_t peer_tag = get32(sctp, at + 4);
            if (peer_tag == 0) return {};  // §3.3.3: never zero
            return {ProbeReplyKind::InitAck, peer_tag};
        }
        at += (static_cast<std::size_t>(length) + 3) & ~std::size_t{3};
    }
    return {};
}

std::string_view probe_result_name(ProbeResult result) {
    switch (result) {
        case ProbeResult::None: return "none";
        case ProbeResult::Ok: return "ok";
        case ProbeResult::Abort: return "abort";
        case ProbeResult::Timeout: return "timeout";
        case ProbeResult::SendError: return "send-error";
    }
    return "?";
}

std::string_view health_state_name(HealthState state) {
    switch (state) {
        case HealthState::Unknown: return "unknown";
        case HealthState::Up: return "up";
        case HealthState::Down: return "down";
    }
    return "?";
}

std::optional<HealthState> HealthCounter::record(ProbeResult result, Nanos now) {
    last_result_ = result;
    last_probe_ = now;
    HealthState next = state_;
    if (result == ProbeResult::Ok) {
        failures_ = 0;
        if (successes_ < thresholds_.rise) ++successes_;
        if (successes_ >= thresholds_.rise) next = HealthState::Up;
    } else {
        successes_ = 0;
        if (failures_ < thresholds_.fall) ++failures_;
        if (failures_ >= thresholds_.fall) next = HealthState::Down;
    }
    if (next == state_) return std::nullopt;
    state_ = next;
    return next;
}

}  // namespace sctplb
