// A ParsedPacket as parse_packet would produce it, for decider tests that
// need no bytes (byte-level parsing is packet_test's).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/packet.hpp"

namespace sctplb::test {

inline ParsedPacket parsed_sctp(const IpAddress& src, const IpAddress& dst, std::uint16_t sport,
                                std::uint16_t dport, std::uint32_t vtag, std::initializer_list<ChunkType> chunks) {
    ParsedPacket p;
    p.status = ParseStatus::Ok;
    p.ip_version = src.is_v4() ? 4 : 6;
    p.src = src;
    p.dst = dst;
    p.sport = sport;
    p.dport = dport;
    p.vtag = vtag;
    for (ChunkType c : chunks) {
        p.chunk_types[p.chunk_count++] = static_cast<std::uint8_t>(c);
        switch (c) {
            case ChunkType::Init: p.has_init = true; break;
            case ChunkType::InitAck: p.has_init_ack = true; break;
            case ChunkType::CookieEcho: p.has_cookie_echo = true; break;
            case ChunkType::Abort: p.has_abort = true; break;
            case ChunkType::ShutdownAck: p.has_shutdown_ack = true; break;
            case ChunkType::ShutdownComplete: p.has_shutdown_complete = true; break;
            case ChunkType::Asconf: p.has_asconf = true; break;
            case ChunkType::Auth: p.has_auth = true; break;
            default: break;
        }
    }
    return p;
}

}  // namespace sctplb::test
