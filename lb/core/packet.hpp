// What the load balancer needs to know about one packet, parsed from an IPv4
// or IPv6 datagram carrying SCTP directly (protocol 132) or over UDP (RFC 6951).
//
// parse_packet() never allocates and never reads past the bytes it is given.
// Everything it extracts fits in fixed-size arrays; what does not fit is
// counted in the flags, never silently lost.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/ip_address.hpp"

namespace sctplb {

// Chunk types in hex, as in the table of RFC 9260 §3.2, and from the RFCs that add types:
// I-DATA / I-FORWARD-TSN RFC 8260 §2.1 / §2.3.1, ASCONF / ASCONF-ACK RFC 5061 §4.1, AUTH RFC 4895
// §4.1, RE-CONFIG RFC 6525 §3.1, PAD RFC 4820 §3, FORWARD-TSN RFC 3758 §3.2.
enum class ChunkType : std::uint8_t {
    Data = 0x00,
    Init = 0x01,
    InitAck = 0x02,
    Sack = 0x03,
    Heartbeat = 0x04,
    HeartbeatAck = 0x05,
    Abort = 0x06,
    Shutdown = 0x07,
    ShutdownAck = 0x08,
    Error = 0x09,
    CookieEcho = 0x0A,
    CookieAck = 0x0B,
    Ecne = 0x0C,
    Cwr = 0x0D,
    ShutdownComplete = 0x0E,
    Auth = 0x0F,
    IData = 0x40,
    AsconfAck = 0x80,
    ReConfig = 0x82,
    Pad = 0x84,
    ForwardTsn = 0xC0,
    Asconf = 0xC1,
    IForwardTsn = 0xC2,
};
// The chunk type as it stands on the wire.
constexpr std::uint8_t chunk_type_value(ChunkType type) { return static_cast<std::uint8_t>(type); }
// "INIT", "COOKIE_ECHO", ... ; "0xNN" style names are not produced here: unknown types give "UNKNOWN".
std::string_view chunk_type_name(std::uint8_t type);

enum class ParseStatus : std::uint8_t {
    Ok,
    NotIp,               // not IPv4/IPv6 (version nibble) or too short for the fixed header
    BadIpHeader,         // IHL < 5, total length < header, IPv6 payload length inconsistent
    IpFragment,          // a non-first IPv4/IPv6 fragment: no transport header (handled later)
    ExtensionChainTooLong,  // more IPv6 extension headers than we walk
    BadExtensionHeader,  // IPv6 extension header overruns the packet
    NotSctp,             // neither SCTP nor SCTP over the configured UDP port
    BadUdpHeader,        // UDP header of an encapsulated packet too short/inconsistent
    BadSctpHeader,       // fewer than 12 bytes of SCTP common header
    NoChunks,            // a common header with no chunk after it
    BadChunkLength,      // chunk length < 4, or beyond the packet
    TooManyChunks,       // more than kMaxChunks chunks
    BadInit,             // INIT/INIT ACK fixed part short, or initiate tag 0 (RFC 9260 §3.3.2)
    BadParameter,        // parameter length < 4 or beyond the chunk
    TooManyParameters,   // more than kMaxParameters parameters in one chunk
    InitBundled,         // INIT with other chunks: RFC 9260 §6.10 forbids bundling it
};
std::string_view parse_status_name(ParseStatus status);

inline constexpr std::size_t kMaxChunks = 64;          // per packet, bounded chunk walk
inline constexpr std::size_t kMaxChunkTypesKept = 16;  // chunk types remembered for display
inline constexpr std::size_t kMaxParameters = 128;     // per chunk, bounded parameter walk
inline constexpr std::size_t kMaxAddresses = 8;        // address parameters kept per packet
inline constexpr std::size_t kMaxExtensionHeaders = 8; // IPv6 extension headers walked

struct InitInfo {
    std::uint32_t initiate_tag = 0;
    std::array<IpAddress, kMaxAddresses> addresses{};  // IPv4 (5) and IPv6 (6) parameters
    std::uint8_t address_count = 0;
    bool addresses_overflowed = false;  // more address parameters than kMaxAddresses
    bool host_name_seen = false;        // Host Name (11): deprecated, ignored (RFC 9260 §3.3.2.1)
};

// RFC 5061 §4.1.1 / §4.2: an ASCONF carries one Address Parameter naming a
// sender address (used to find the association when it comes from a new
// address), then Add-IP (0xC001), Delete-IP (0xC002), Set-Primary (0xC004).
struct AsconfInfo {
    IpAddress lookup_address{};
    bool has_lookup_address = false;
    std::array<IpAddress, kMaxAddresses> added{};  // Add-IP addresses; wildcard kept as is
    std::uint8_t added_count = 0;
    bool added_overflowed = false;
    std::uint8_t deleted_count = 0;  // Delete-IP seen (ignored: the LB cannot verify AUTH)
};

// An IPv4 or IPv6 fragment (RFC 791 §3.2, RFC 8200 §4.5): the first one is
// parsed as far as it goes; the others carry no transport header and follow
// the first's decision (lb/core/fragment_table.hpp), matched by this key.
struct FragmentInfo {
    bool present = false;      // the packet is a fragment (first or not)
    bool first = false;        // offset 0 (and more fragments follow)
    std::uint32_t id = 0;      // IPv4 Identification (16 bits) or IPv6 Identification (32 bits)
    std::uint8_t protocol = 0; // IPv4 protocol / IPv6 next header after the fragment header
};

// An ICMP or ICMPv6 error that quotes a packet the VIP sent (RFC 792, RFC 4443
// §2.4): destination unreachable (incl. "fragmentation needed", RFC 1191), time
// exceeded, parameter problem, packet too big (RFC 8201). The quote's first 8
// bytes of SCTP carry the ports and the verification tag (RFC 9260 §10).
struct IcmpQuote {
    std::uint8_t type = 0;
    std::uint8_t code = 0;
    IpAddress src{};           // of the quoted packet: the VIP
    IpAddress dst{};           // the peer (client) address
    std::uint16_t sport = 0;   // quoted SCTP source port (the server's)
    std::uint16_t dport = 0;   // quoted SCTP destination port (the client's)
    std::uint32_t vtag = 0;    // quoted verification tag: the client's tag Tc
};

struct ParsedPacket {
    ParseStatus status = ParseStatus::NotIp;
    std::uint8_t ip_version = 0;  // 4 or 6
    IpAddress src{};
    IpAddress dst{};
    bool udp_encapsulated = false;  // RFC 6951
    std::uint16_t udp_sport = 0;
    std::uint16_t udp_dport = 0;

    // SCTP common header (RFC 9260 §3.1)
    std::uint16_t sport = 0;
    std::uint16_t dport = 0;
    std::uint32_t vtag = 0;

    // The packet is cut short: fewer bytes were captured than the IP header
    // announces (capture snap length, NFQUEUE copy range). Only whole chunks
    // inside the captured bytes were parsed.
    bool truncated = false;

    // Chunk walk
    std::uint8_t chunk_count = 0;  // chunks walked (<= kMaxChunks)
    std::array<std::uint8_t, kMaxChunkTypesKept> chunk_types{};  // first kMaxChunkTypesKept types
    std::uint8_t first_chunk_flags = 0;

    bool has_init = false;
    bool has_init_ack = false;
    bool has_cookie_echo = false;
    bool has_abort = false;
    bool has_shutdown_ack = false;
    bool has_shutdown_complete = false;
    bool has_asconf = false;
    bool has_auth = false;
    // RFC 9260 §3.3.7/§3.3.13: the T bit of ABORT or SHUTDOWN COMPLETE: the
    // sender reflected the peer's tag (§8.5.1).
    bool t_bit = false;

    FragmentInfo fragment{};
    // status Ok and icmp_error: an ICMP/ICMPv6 error quoting SCTP (no chunks; see `icmp`).
    bool icmp_error = false;
    IcmpQuote icmp{};

    InitInfo init{};      // valid when has_init or has_init_ack
    AsconfInfo asconf{};  // valid when has_asconf

    [[nodiscard]] bool ok() const { return status == ParseStatus::Ok; }

    // Back to the state of a default-constructed ParsedPacket as far as any
    // reader can tell: every scalar and count is reset; the address arrays are
    // left as they are, since nothing reads past their counts. (Zeroing the
    // whole 360-byte struct was half the cost of parsing a DATA packet.)
    void reset() {
        status = ParseStatus::NotIp;
        ip_version = 0;
        src = dst = IpAddress{};
        udp_encapsulated = false;
        udp_sport = udp_dport = sport = dport = 0;
        vtag = 0;
        truncated = false;
        chunk_count = 0;
        first_chunk_flags = 0;
        has_init = has_init_ack = has_cookie_echo = has_abort = has_shutdown_ack = false;
        has_shutdown_complete = has_asconf = has_auth = t_bit = false;
        fragment = FragmentInfo{};
        icmp_error = false;
        init.initiate_tag = 0;
        init.address_count = 0;
        init.addresses_overflowed = init.host_name_seen = false;
        asconf.lookup_address = IpAddress{};
        asconf.has_lookup_address = false;
        asconf.added_count = 0;
        asconf.added_overflowed = false;
        asconf.deleted_count = 0;
    }
};

struct ParseOptions {
    // UDP destination or source port carrying SCTP over UDP (RFC 6951); 0 = off.
    std::uint16_t encapsulation_port = 0;
};

// Parses an IP datagram (starting at the IP version nibble).
// `packet` are the captured bytes; the IP header's own length fields say how
// long the datagram really is. `out` is reset() first.
void parse_packet(std::span<const std::byte> packet, const ParseOptions& options, ParsedPacket& out);

}  // namespace sctplb
