// Packets for tests, fuzz seeds and benchmarks, every header assembled field by field in network
// byte order: SCTP chunks and parameters, the common header (with the CRC32c when asked), UDP
// (RFC 6951 encapsulation), IPv4, IPv6 with extension headers, Ethernet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "address.hpp"
#include "bytes.hpp"
#include "crc32c.hpp"
#include "core/packet.hpp"

namespace sctplb::test {

// The endpoints a packet has unless a test says otherwise.
inline constexpr std::uint16_t kClientPort = 5000;
inline constexpr std::uint16_t kServerPort = 36412;
inline constexpr std::uint32_t kVtag = 0x11223344;
inline constexpr std::uint32_t kInitiateTag = 0xCAFEF00D;
inline constexpr std::uint16_t kUdpEncapsulationPort = 9899;
inline constexpr const char* kClient4 = "192.0.2.10";
inline constexpr const char* kVip4 = "198.51.100.1";
inline constexpr const char* kClient6 = "2001:db8::10";
inline constexpr const char* kVip6 = "2001:db8:100::1";

inline constexpr std::uint8_t kIpProtocolSctp = 132;
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
// RFC 9260 §3.3.2.1 parameter types.
inline constexpr std::uint16_t kParamIpv4 = 5;
inline constexpr std::uint16_t kParamIpv6 = 6;
inline constexpr std::uint16_t kParamStateCookie = 7;
inline constexpr std::uint16_t kParamHeartbeatInfo = 1;

// The address in network order: 4 bytes for IPv4, 16 for IPv6.
inline Bytes address_bytes(const IpAddress& a) {
    Bytes b;
    for (std::size_t i = a.is_v4() ? 12 : 0; i < 16; ++i) put8(b, a.bytes()[i]);
    return b;
}
inline Bytes address_bytes(const char* text) { return address_bytes(ip(text)); }

// RFC 9260 §3.2: type, flags, length (excluding padding), value, padding to 4.
inline Bytes chunk(std::uint8_t type, std::uint8_t flags, const Bytes& body, bool pad = true) {
    Bytes b;
    put8(b, type);
    put8(b, flags);
    put16(b, 4 + body.size());
    b = b + body;
    while (pad && b.size() % 4 != 0) put8(b, 0);
    return b;
}
inline Bytes chunk(ChunkType type, std::uint8_t flags, const Bytes& body, bool pad = true) {
    return chunk(chunk_type_value(type), flags, body, pad);
}
// RFC 9260 §3.3.1: TSN, stream id, stream sequence, PPID, `payload` bytes of user data.
struct DataFields {
    std::uint32_t tsn = 1000;
    std::uint16_t stream = 1;
    std::uint16_t ssn = 0;
    std::uint32_t ppid = 18;
};
inline Bytes data_chunk(std::size_t payload = 8, std::uint8_t flags = 0x03, bool pad = true,
                        const DataFields& f = {}) {
    Bytes body = be32(f.tsn);
    put16(body, f.stream);
    put16(body, f.ssn);
    put32(body, f.ppid);
    for (std::size_t i = 0; i < payload; ++i) put8(body, 0xA0 + (i & 0x0F));
    return chunk(ChunkType::Data, flags, body, pad);
}
// RFC 9260 §3.2.1: type, length (excluding padding), value, padding to 4.
inline Bytes param(std::uint16_t type, const Bytes& value) {
    Bytes b;
    put16(b, type);
    put16(b, 4 + value.size());
    b = b + value;
    while (b.size() % 4 != 0) put8(b, 0);
    return b;
}
inline Bytes raw_param(std::uint16_t type, std::uint16_t length, const Bytes& value) {
    Bytes b;
    put16(b, type);
    put16(b, length);
    return b + value;
}
inline Bytes v4_param(const char* a) { return param(kParamIpv4, address_bytes(a)); }
inline Bytes v6_param(const char* a) { return param(kParamIpv6, address_bytes(a)); }
// RFC 9260 §3.3.2 / §3.3.3: initiate tag, a_rwnd, outbound streams, inbound streams, initial TSN.
inline Bytes init_chunk(std::uint32_t initiate_tag, const Bytes& params, ChunkType type = ChunkType::Init) {
    Bytes body = be32(initiate_tag) + be32(65536);
    put16(body, 10);
    put16(body, 10);
    body = body + be32(4242) + params;
    return chunk(type, 0, body);
}
// RFC 9260 §3.3.11: the State Cookie echoed.
inline Bytes cookie_echo_chunk(const Bytes& cookie) { return chunk(ChunkType::CookieEcho, 0, cookie); }
// RFC 9260 §3.3.5: Heartbeat Info parameter.
inline Bytes heartbeat_chunk() { return chunk(ChunkType::Heartbeat, 0, param(kParamHeartbeatInfo, be32(0x01020304))); }
// RFC 9260 §3.3.4: cumulative TSN, a_rwnd, no gap blocks, no duplicates.
inline Bytes sack_chunk(std::uint32_t cumulative_tsn) {
    Bytes body = be32(cumulative_tsn) + be32(65536);
    put16(body, 0);
    put16(body, 0);
    return chunk(ChunkType::Sack, 0, body);
}
// RFC 4895 §4.1: shared key id, HMAC id (1 = SHA-1), HMAC.
inline Bytes auth_chunk() {
    Bytes body;
    put16(body, 0);
    put16(body, 1);
    return chunk(ChunkType::Auth, 0, body + zeros(20));
}
// RFC 5061 §3.1.1 / §4.2: serial number, address parameter, ASCONF parameters.
inline Bytes asconf_param(std::uint16_t type, std::uint32_t correlation, const Bytes& address_param) {
    return param(type, be32(correlation) + address_param);
}
inline Bytes asconf_chunk(const Bytes& lookup, const Bytes& params) {
    return chunk(ChunkType::Asconf, 0, be32(7) + lookup + params);
}

// RFC 9260 §3.1 common header. The CRC32c is left zero unless asked for: the parser does not
// check it (the servers do).
enum class Checksum : std::uint8_t { Zero, Crc32c };
inline Bytes sctp(const Bytes& chunks, std::uint32_t vtag = kVtag, std::uint16_t sport = kClientPort,
                  std::uint16_t dport = kServerPort, Checksum checksum = Checksum::Zero) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put32(b, vtag);
    put32(b, 0);
    b = b + chunks;
    if (checksum == Checksum::Crc32c) Crc32c{}.store(b.data(), b.size());
    return b;
}
// RFC 768.
inline Bytes udp(std::uint16_t sport, std::uint16_t dport, const Bytes& payload,
                 std::optional<std::uint16_t> length = std::nullopt) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, length.value_or(static_cast<std::uint16_t>(8 + payload.size())));
    put16(b, 0);
    return b + payload;
}

struct Ipv4Fields {
    const char* src = kClient4;
    const char* dst = kVip4;
    std::uint8_t protocol = kIpProtocolSctp;
    Bytes options{};                         // appended after the 20 fixed bytes; a multiple of 4
    std::uint16_t fragment = 0;              // flags (DF = 0x4000, MF = 0x2000) and offset in 8-byte units
    std::optional<unsigned> ihl{};           // default: from the options
    std::optional<unsigned> total_length{};  // default: header + payload
};
// RFC 791 §3.1, with a correct header checksum.
inline Bytes ipv4(const Bytes& payload, const Ipv4Fields& f = {}) {
    const unsigned header_length = 20 + static_cast<unsigned>(f.options.size());
    Bytes b;
    put8(b, 0x40 | (f.ihl.value_or(header_length / 4) & 0x0F));
    put8(b, 0);
    put16(b, f.total_length.value_or(header_length + payload.size()));
    put16(b, 0x1234);
    put16(b, f.fragment);
    put8(b, 64);
    put8(b, f.protocol);
    put16(b, 0);
    b = b + address_bytes(f.src) + address_bytes(f.dst) + f.options;
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < b.size(); i += 2)
        sum += (std::to_integer<unsigned>(b[i]) << 8) | std::to_integer<unsigned>(b[i + 1]);
    while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
    set16(b, 10, ~sum & 0xFFFF);
    return b + payload;
}

struct Ipv6Fields {
    const char* src = kClient6;
    const char* dst = kVip6;
    std::optional<unsigned> payload_length{};  // default: the payload's size
};
// RFC 8200 §3; `payload` holds the extension headers and the transport.
inline Bytes ipv6(std::uint8_t next_header, const Bytes& payload, const Ipv6Fields& f = {}) {
    Bytes b;
    put32(b, 0x60000000);
    put16(b, f.payload_length.value_or(payload.size()));
    put8(b, next_header);
    put8(b, 64);
    return b + address_bytes(f.src) + address_bytes(f.dst) + payload;
}
// RFC 8200 §4.3 style (Hop-by-Hop, Routing, Destination Options): length in 8-octet units minus 1.
inline Bytes ext_header(std::uint8_t next_header, std::size_t total_length) {
    Bytes b;
    put8(b, next_header);
    put8(b, total_length / 8 - 1);
    for (std::size_t i = 2; i < total_length; ++i) put8(b, i == 2 ? 1 : 0);  // PadN-ish filler
    return b;
}
// RFC 4302 §2.2: AH length in 4-octet units minus 2.
inline Bytes ah_header(std::uint8_t next_header, std::size_t total_length) {
    Bytes b;
    put8(b, next_header);
    put8(b, total_length / 4 - 2);
    return b + zeros(total_length - 2);
}
// RFC 8200 §4.5.
inline Bytes fragment_header(std::uint8_t next_header, unsigned offset_units, bool more) {
    Bytes b;
    put8(b, next_header);
    put8(b, 0);
    put16(b, (offset_units << 3) | (more ? 1 : 0));
    return b + be32(0xABCD);
}

// Ethernet II between two locally administered MACs (02:00:00:00:00:01 -> 02:00:00:00:00:02).
inline Bytes ethernet_macs() { return bytes({0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2}); }
inline Bytes ethernet(std::uint16_t ether_type, const Bytes& payload) {
    return ethernet_macs() + be16(ether_type) + payload;
}

}  // namespace sctplb::test
