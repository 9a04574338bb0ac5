// Packet parsing for the load balancer: IPv4/IPv6 → (UDP) → SCTP common header → chunk walk.
//
// Every read goes through ByteView (bounds-checked, std::optional); nothing here allocates.
//
// Checksums are NOT verified (neither the SCTP CRC32c, RFC 9260 §6.8, nor the UDP checksum): the
// servers verify them and drop bad packets, and the LB routes by fwmark without rewriting a byte,
// so a corrupt packet reaches at most the server it would have reached anyway.
//
// Three lengths matter at every level: what was captured (NFQUEUE copy range, pcap snap length),
// what the headers declare (IP total length / payload length, UDP length, chunk length, parameter
// length), and where a unit ends inside its parent. A field that does not fit in the declared length
// is malformed; one that fits in the declared length but not in the captured bytes is cut
// (`truncated`), which stops the walk without an error once at least the SCTP common header is in.
#include "core/packet.hpp"

#include <limits>
#include <optional>

#include "core/byte_view.hpp"

namespace sctplb {

std::string_view chunk_type_name(std::uint8_t type) {
    switch (static_cast<ChunkType>(type)) {
        case ChunkType::Data: return "DATA";
        case ChunkType::Init: return "INIT";
        case ChunkType::InitAck: return "INIT_ACK";
        case ChunkType::Sack: return "SACK";
        case ChunkType::Heartbeat: return "HEARTBEAT";
        case ChunkType::HeartbeatAck: return "HEARTBEAT_ACK";
        case ChunkType::Abort: return "ABORT";
        case ChunkType::Shutdown: return "SHUTDOWN";
        case ChunkType::ShutdownAck: return "SHUTDOWN_ACK";
        case ChunkType::Error: return "ERROR";
        case ChunkType::CookieEcho: return "COOKIE_ECHO";
        case ChunkType::CookieAck: return "COOKIE_ACK";
        case ChunkType::Ecne: return "ECNE";
        case ChunkType::Cwr: return "CWR";
        case ChunkType::ShutdownComplete: return "SHUTDOWN_COMPLETE";
        case ChunkType::Auth: return "AUTH";
        case ChunkType::IData: return "I_DATA";
        case ChunkType::AsconfAck: return "ASCONF_ACK";
        case ChunkType::ReConfig: return "RE_CONFIG";
        case ChunkType::Pad: return "PAD";
        case ChunkType::ForwardTsn: return "FORWARD_TSN";
        case ChunkType::Asconf: return "ASCONF";
        case ChunkType::IForwardTsn: return "I_FORWARD_TSN";
    }
    return "UNKNOWN";
}

std::string_view parse_status_name(ParseStatus status) {
    switch (status) {
        case ParseStatus::Ok: return "ok";
        case ParseStatus::NotIp: return "not-ip";
        case ParseStatus::BadIpHeader: return "bad-ip-header";
        case ParseStatus::IpFragment: return "ip-fragment";
        case ParseStatus::ExtensionChainTooLong: return "extension-chain-too-long";
        case ParseStatus::BadExtensionHeader: return "bad-extension-header";
        case ParseStatus::NotSctp: return "not-sctp";
        case ParseStatus::BadUdpHeader: return "bad-udp-header";
        case ParseStatus::BadSctpHeader: return "bad-sctp-header";
        case ParseStatus::NoChunks: return "no-chunks";
        case ParseStatus::BadChunkLength: return "bad-chunk-length";
        case ParseStatus::TooManyChunks: return "too-many-chunks";
        case ParseStatus::BadInit: return "bad-init";
        case ParseStatus::BadParameter: return "bad-parameter";
        case ParseStatus::TooManyParameters: return "too-many-parameters";
        case ParseStatus::InitBundled: return "init-bundled";
    }
    return "unknown";
}

namespace {

constexpr std::uint8_t kProtoHopByHop = 0;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoRouting = 43;
constexpr std::uint8_t kProtoFragment = 44;
constexpr std::uint8_t kProtoAuthHeader = 51;
constexpr std::uint8_t kProtoNoNextHeader = 59;
constexpr std::uint8_t kProtoDestinationOptions = 60;
constexpr std::uint8_t kProtoMobility = 135;  // RFC 6275
constexpr std::uint8_t kProtoHip = 139;       // RFC 7401
constexpr std::uint8_t kProtoShim6 = 140;     // RFC 5533
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoIcmpv6 = 58;

constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kSctpCommonHeader = 12;  // RFC 9260 §3.1
constexpr std::size_t kChunkHeader = 4;        // RFC 9260 §3.2
constexpr std::size_t kParameterHeader = 4;    // RFC 9260 §3.2.1
constexpr std::size_t kInitFixedEnd = 20;      // chunk header + 16 bytes (RFC 9260 §3.3.2)

constexpr std::uint16_t kParamIpv4Address = 5;   // RFC 9260 §3.3.2.1, length 8
constexpr std::uint16_t kParamIpv6Address = 6;   // length 20
constexpr std::uint16_t kParamHostName = 11;
constexpr std::uint16_t kParamAddIp = 0xC001;    // RFC 5061 §4.2.1
constexpr std::uint16_t kParamDeleteIp = 0xC002; // RFC 5061 §4.2.2

// The declared end is unknown inside the first fragment of a fragmented datagram.
constexpr std::size_t kUnknownSize = std::numeric_limits<std::size_t>::max();

// One protocol unit: the bytes we have, and the size its enclosing header announces.
// Invariant: captured.size() <= declared_size.
struct Region {
    ByteView captured;
    std::size_t declared_size = 0;

    // The rest of the unit from `offset` (offset <= captured.size()).
    [[nodiscard]] Region rest_from(std::size_t offset) const {
        return Region{*captured.from(offset),
                      declared_size == kUnknownSize ? kUnknownSize : declared_size - offset};
    }
    // A nested unit of `length` declared bytes at `offset` (it must not overrun this one).
    [[nodiscard]] Region nested(std::size_t offset, std::size_t length) const {
        return Region{*captured.up_to(offset, length), length};
    }
};

enum class Fit {
    Whole,    // every byte is captured
    Cut,      // inside the declared size, but not all captured
    Overrun,  // beyond the declared size: malformed
};

Fit fits(const Region& region, std::size_t offset, std::size_t length) {
    const std::size_t have = region.captured.size();
    if (offset <= have && have - offset >= length) return Fit::Whole;
    const std::size_t declared = region.declared_size;
    if (declared == kUnknownSize) return Fit::Cut;
    if (offset > declared || declared - offset < length) return Fit::Overrun;
    return Fit::Cut;
}

constexpr std::size_t padded_to_4(std::size_t length) { return (length + 3) & ~std::size_t{3}; }

IpAddress read_v4(const ByteView& view, std::size_t offset) { return IpAddress::v4(*view.be32(offset)); }

IpAddress read_v6(const ByteView& view, std::size_t offset) {
    // One bounds check for the 16 bytes, then a plain copy.
    const std::span<const std::byte> source = view.sub(offset, 16)->bytes();
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::to_integer<std::uint8_t>(source[i]);
    return IpAddress::v6(bytes);
}

// An IPv4 (type 5, length 8) or IPv6 (type 6, length 20) Address Parameter (RFC 9260 §3.3.2.1).
constexpr bool is_address_parameter(std::uint16_t type, std::uint16_t length) {
    return (type == kParamIpv4Address && length == 8) || (type == kParamIpv6Address && length == 20);
}

// The address of an Address Parameter at `offset` (is_address_parameter() holds, and the parameter is
// wholly inside `view`). Returned by value, not as an optional: that keeps it in registers.
IpAddress read_address_parameter(const ByteView& view, std::size_t offset, std::uint16_t type) {
    return type == kParamIpv4Address ? read_v4(view, offset + kParameterHeader)
                                     : read_v6(view, offset + kParameterHeader);
}

void keep_address(std::array<IpAddress, kMaxAddresses>& addresses, std::uint8_t& count, bool& overflowed,
                  IpAddress address) {
    if (count < kMaxAddresses) {
        addresses[count++] = address;
    } else {
        overflowed = true;
    }
}

// Walks the TLV parameters of a chunk from `offset` (RFC 9260 §3.2.1), calling
// visit(offset, type, length) for each whole parameter; visit returns Ok to continue.
// A parameter cut by the capture stops the walk with Ok (what was parsed is kept).
template <typename Visit>
ParseStatus walk_parameters(const Region& chunk, std::size_t offset, Visit&& visit) {
    std::size_t count = 0;
    while (offset < chunk.captured.size()) {
        const Fit header_fit = fits(chunk, offset, kParameterHeader);
        if (header_fit == Fit::Overrun) return ParseStatus::BadParameter;
        if (header_fit == Fit::Cut) return ParseStatus::Ok;
        const std::uint16_t type = *chunk.captured.be16(offset);
        const std::uint16_t length = *chunk.captured.be16(offset + 2);
        if (length < kParameterHeader) return ParseStatus::BadParameter;
        if (++count > kMaxParameters) return ParseStatus::TooManyParameters;
        const Fit body_fit = fits(chunk, offset, length);
        if (body_fit == Fit::Overrun) return ParseStatus::BadParameter;
        if (body_fit == Fit::Cut) return ParseStatus::Ok;
        if (ParseStatus status = visit(offset, type, length); status != ParseStatus::Ok) return status;
        // Padding of the last parameter may be missing (RFC 9260 §3.2.1): the loop then ends.
        offset += padded_to_4(length);
    }
    return ParseStatus::Ok;
}

// INIT (RFC 9260 §3.3.2) and INIT ACK (§3.3.3): fixed part, then address parameters.
ParseStatus parse_init(const Region& chunk, InitInfo& init) {
    // A fixed part missing or cut leaves no initiate tag to balance on: unusable either way.
    if (fits(chunk, 0, kInitFixedEnd) != Fit::Whole) return ParseStatus::BadInit;
    init.initiate_tag = *chunk.captured.be32(kChunkHeader);
    // §3.3.2 / §3.3.3: the Initiate Tag is never 0; a receiver discards such an INIT or INIT ACK.
    if (init.initiate_tag == 0) return ParseStatus::BadInit;

    const ByteView& bytes = chunk.captured;
    const auto visit = [&](std::size_t offset, std::uint16_t type, std::uint16_t length) {
        if (type == kParamIpv4Address || type == kParamIpv6Address) {
            if (!is_address_parameter(type, length)) return ParseStatus::BadParameter;
            keep_address(init.addresses, init.address_count, init.addresses_overflowed,
                         read_address_parameter(bytes, offset, type));
        } else if (type == kParamHostName) {
            init.host_name_seen = true;  // deprecated (§3.3.2.1): the LB ignores it, but reports it
        }
        return ParseStatus::Ok;
    };
    return walk_parameters(chunk, kInitFixedEnd, visit);
}

// ASCONF (RFC 5061 §3.1.1): serial number, an Address Parameter naming a sender address, then
// ASCONF parameters (§4.2): type, length, correlation ID, Address Parameter.
ParseStatus parse_asconf(const Region& chunk, AsconfInfo& asconf) {
    constexpr std::size_t kLookupOffset = kChunkHeader + 4;  // after the serial number
    const ByteView& bytes = chunk.captured;

    const Fit header_fit = fits(chunk, kLookupOffset, kParameterHeader);
    if (header_fit == Fit::Cut) return ParseStatus::Ok;  // truncated: nothing more to learn
    if (header_fit == Fit::Overrun) return ParseStatus::BadParameter;
    const std::uint16_t lookup_type = *bytes.be16(kLookupOffset);
    const std::uint16_t lookup_length = *bytes.be16(kLookupOffset + 2);
    if (!is_address_parameter(lookup_type, lookup_length)) return ParseStatus::BadParameter;
    const Fit lookup_fit = fits(chunk, kLookupOffset, lookup_length);
    if (lookup_fit == Fit::Cut) return ParseStatus::Ok;
    if (lookup_fit == Fit::Overrun) return ParseStatus::BadParameter;
    asconf.lookup_address = read_address_parameter(bytes, kLookupOffset, lookup_type);
    asconf.has_lookup_address = true;

    constexpr std::size_t kCorrelationId = 4;
    return walk_parameters(
        chunk, kLookupOffset + padded_to_4(lookup_length),
        [&](std::size_t offset, std::uint16_t type, std::uint16_t length) {
            if (type != kParamAddIp && type != kParamDeleteIp) return ParseStatus::Ok;  // Set Primary, others
            // The Address Parameter must lie inside this ASCONF parameter.
            const std::size_t inner = offset + kParameterHeader + kCorrelationId;
            const std::size_t inner_room = length < kParameterHeader + kCorrelationId + kParameterHeader
                                               ? 0
                                               : length - kParameterHeader - kCorrelationId;
            if (inner_room < kParameterHeader) return ParseStatus::BadParameter;
            const std::uint16_t inner_type = *bytes.be16(inner);
            const std::uint16_t inner_length = *bytes.be16(inner + 2);
            if (inner_length > inner_room) return ParseStatus::BadParameter;
            if (!is_address_parameter(inner_type, inner_length)) return ParseStatus::BadParameter;
            if (type == kParamAddIp) {
                // A wildcard means "the packet's source" (RFC 5061 §4.2.1): the caller resolves it.
                keep_address(asconf.added, asconf.added_count, asconf.added_overflowed,
                             read_address_parameter(bytes, inner, inner_type));
            } else if (asconf.deleted_count < std::numeric_limits<std::uint8_t>::max()) {
                ++asconf.deleted_count;
            }
            return ParseStatus::Ok;
        });
}

void record_chunk(ParsedPacket& out, std::uint8_t type, std::uint8_t flags) {
    if (out.chunk_count < kMaxChunkTypesKept) out.chunk_types[out.chunk_count] = type;
    if (out.chunk_count == 0) out.first_chunk_flags = flags;
    ++out.chunk_count;
    switch (static_cast<ChunkType>(type)) {
        case ChunkType::Init: out.has_init = true; break;
        case ChunkType::InitAck: out.has_init_ack = true; break;
        case ChunkType::CookieEcho: out.has_cookie_echo = true; break;
        case ChunkType::ShutdownAck: out.has_shutdown_ack = true; break;
        case ChunkType::Asconf: out.has_asconf = true; break;
        case ChunkType::Auth: out.has_auth = true; break;
        case ChunkType::Abort:
            out.has_abort = true;
            out.t_bit = out.t_bit || (flags & 0x01) != 0;  // §3.3.7
            break;
        case ChunkType::ShutdownComplete:
            out.has_shutdown_complete = true;
            out.t_bit = out.t_bit || (flags & 0x01) != 0;  // §3.3.13
            break;
        default: break;
    }
}

// SCTP packet: common header (RFC 9260 §3.1), then the chunk walk (§3.2).
ParseStatus parse_sctp(const Region& sctp, ParsedPacket& out) {
    if (fits(sctp, 0, kSctpCommonHeader) != Fit::Whole) return ParseStatus::BadSctpHeader;
    const ByteView& bytes = sctp.captured;
    out.sport = *bytes.be16(0);
    out.dport = *bytes.be16(2);
    out.vtag = *bytes.be32(4);
    // bytes 8..11: CRC32c, not verified here (see the top of this file).

    std::size_t offset = kSctpCommonHeader;
    while (offset < bytes.size()) {
        const Fit header_fit = fits(sctp, offset, kChunkHeader);
        if (header_fit == Fit::Overrun) return ParseStatus::BadChunkLength;  // 1..3 stray bytes
        if (header_fit == Fit::Cut) break;
        const std::uint8_t type = *bytes.u8(offset);
        const std::uint8_t flags = *bytes.u8(offset + 1);
        const std::uint16_t length = *bytes.be16(offset + 2);
        if (length < kChunkHeader) return ParseStatus::BadChunkLength;  // a zero length would loop forever
        if (out.chunk_count >= kMaxChunks) return ParseStatus::TooManyChunks;
        const Fit chunk_fit = fits(sctp, offset, length);
        if (chunk_fit == Fit::Overrun) return ParseStatus::BadChunkLength;

        // A chunk cut by the capture is still recorded (its header is whole); INIT and ASCONF keep the
        // parameters captured before the cut.
        record_chunk(out, type, flags);
        const Region chunk = sctp.nested(offset, length);
        ParseStatus status = ParseStatus::Ok;
        if (type == static_cast<std::uint8_t>(ChunkType::Init) ||
            type == static_cast<std::uint8_t>(ChunkType::InitAck)) {
            status = parse_init(chunk, out.init);
        } else if (type == static_cast<std::uint8_t>(ChunkType::Asconf)) {
            status = parse_asconf(chunk, out.asconf);
        }
        if (status != ParseStatus::Ok) return status;
        if (chunk_fit == Fit::Cut) break;
        // The last chunk's padding may be missing (§3.2): the loop condition then ends the walk.
        offset += padded_to_4(length);
    }

    if (out.chunk_count == 0) return ParseStatus::NoChunks;
    // §6.10: INIT MUST NOT be bundled with any other chunk.
    if (out.has_init && out.chunk_count > 1) return ParseStatus::InitBundled;
    return ParseStatus::Ok;
}

// The transport at the start of `transport`: SCTP directly, or SCTP over UDP (RFC 6951 §5).
ParseStatus parse_transport(std::uint8_t protocol, const Region& transport, const ParseOptions& options,
                            ParsedPacket& out) {
    if (protocol == kProtoSctp) return parse_sctp(transport, out);
    if (protocol != kProtoUdp || options.encapsulation_port == 0) return ParseStatus::NotSctp;

    if (fits(transport, 0, kUdpHeader) != Fit::Whole) return ParseStatus::BadUdpHeader;
    const ByteView& bytes = transport.captured;
    const std::uint16_t udp_sport = *bytes.be16(0);
    const std::uint16_t udp_dport = *bytes.be16(2);
    const std::uint16_t udp_length = *bytes.be16(4);
    // Either direction: the client → LB packet has the port as destination, but a client that
    // listens on the well-known port sends from it as well.
    if (udp_dport != options.encapsulation_port && udp_sport != options.encapsulation_port) {
        return ParseStatus::NotSctp;
    }
    out.udp_encapsulated = true;
    out.udp_sport = udp_sport;
    out.udp_dport = udp_dport;
    // The UDP length is the true size even in a first fragment; bytes after it are ignored.
    // The UDP checksum is not verified (the server does).
    if (udp_length < kUdpHeader) return ParseStatus::BadUdpHeader;
    if (transport.declared_size != kUnknownSize && udp_length > transport.declared_size) {
        return ParseStatus::BadUdpHeader;
    }
    return parse_sctp(transport.nested(kUdpHeader, udp_length - kUdpHeader), out);
}

// The SCTP ports and tag of a quoted datagram (the first bytes of a packet the
// VIP sent): IPv4 or IPv6 header, then SCTP, or UDP on the encapsulation port
// and SCTP. Only 8 bytes of SCTP are needed (RFC 792 quotes at least that).
bool read_quote(const ByteView& quoted, bool v6, const ParseOptions& options, IcmpQuote& q) {
    std::size_t offset = 0;
    std::uint8_t protocol = 0;
    if (!v6) {
        const auto version_ihl = quoted.u8(0);
        if (!version_ihl || (*version_ihl >> 4) != 4 || quoted.size() < kIpv4MinHeader) return false;
        offset = std::size_t{*version_ihl & 0x0Fu} * 4;
        if (offset < kIpv4MinHeader || (*quoted.be16(6) & 0x1FFF) != 0) return false;  // a non-first fragment: no ports
        protocol = *quoted.u8(9);
        q.src = IpAddress::v4(*quoted.be32(12));
        q.dst = IpAddress::v4(*quoted.be32(16));
    } else {
        const auto version = quoted.u8(0);
        if (!version || (*version >> 4) != 6 || quoted.size() < kIpv6Header) return false;
        q.src = read_v6(quoted, 8);
        q.dst = read_v6(quoted, 24);
        protocol = *quoted.u8(6);
        offset = kIpv6Header;
        // A fragment header may sit before SCTP (the server's packet was fragmented): skip it.
        if (protocol == kProtoFragment) {
            const auto fragment = quoted.be16(offset + 2);
            const auto next = quoted.u8(offset);
            if (!fragment || !next || (*fragment >> 3) != 0) return false;
            protocol = *next;
            offset += 8;
        }
    }
    if (protocol == kProtoUdp) {
        const auto udp_sport = quoted.be16(offset);
        const auto udp_dport = quoted.be16(offset + 2);
        if (!udp_sport || !udp_dport || options.encapsulation_port == 0 ||
            (*udp_sport != options.encapsulation_port && *udp_dport != options.encapsulation_port))
            return false;
        offset += kUdpHeader;
    } else if (protocol != kProtoSctp) {
        return false;
    }
    const auto sport = quoted.be16(offset);
    const auto dport = quoted.be16(offset + 2);
    const auto vtag = quoted.be32(offset + 4);
    if (!sport || !dport || !vtag) return false;
    q.sport = *sport;
    q.dport = *dport;
    q.vtag = *vtag;
    return true;
}

// ICMP (RFC 792) / ICMPv6 (RFC 4443) errors quoting SCTP. Anything else is
// "not SCTP" (echo, redirects, neighbour discovery, ...).
ParseStatus parse_icmp_error(bool v6, const ByteView& icmp, const ParseOptions& options, ParsedPacket& out) {
    const auto type = icmp.u8(0);
    const auto code = icmp.u8(1);
    if (!type || !code) return ParseStatus::NotSctp;
    const bool error = v6 ? (*type >= 1 && *type <= 4)                      // unreachable, too big, time exceeded, parameter problem
                          : (*type == 3 || *type == 11 || *type == 12);     // unreachable, time exceeded, parameter problem
    if (!error) return ParseStatus::NotSctp;
    const auto quoted = icmp.from(8);  // type, code, checksum, 4 bytes (unused / MTU / pointer)
    if (!quoted || !read_quote(*quoted, v6, options, out.icmp)) return ParseStatus::NotSctp;
    out.icmp.type = *type;
    out.icmp.code = *code;
    out.icmp_error = true;
    return ParseStatus::Ok;
}

ParseStatus parse_ipv4(const ByteView& packet, const ParseOptions& options, ParsedPacket& out) {
    if (packet.size() < kIpv4MinHeader) return ParseStatus::NotIp;
    out.ip_version = 4;
    out.src = IpAddress::v4(*packet.be32(12));
    out.dst = IpAddress::v4(*packet.be32(16));

    const std::size_t header_length = std::size_t{*packet.u8(0) & 0x0Fu} * 4;  // IHL, RFC 791
    const std::uint16_t total_length = *packet.be16(2);
    if (header_length < kIpv4MinHeader || total_length < header_length) return ParseStatus::BadIpHeader;

    // The IP total length, not the captured length, ends the datagram: an Ethernet trailer pads
    // short frames to 60 bytes.
    out.truncated = packet.size() < total_length;
    Region datagram{*packet.up_to(0, total_length), total_length};

    const std::uint16_t fragment = *packet.be16(6);
    const bool more_fragments = (fragment & 0x2000) != 0;
    const std::uint16_t fragment_offset = fragment & 0x1FFF;
    if (more_fragments || fragment_offset != 0) {
        out.fragment = FragmentInfo{true, fragment_offset == 0, *packet.be16(4), *packet.u8(9)};
    }
    if (fragment_offset != 0) return ParseStatus::IpFragment;
    if (*packet.u8(9) == kProtoIcmp) {
        if (more_fragments || fits(datagram, 0, header_length) != Fit::Whole) return ParseStatus::NotSctp;
        return parse_icmp_error(false, *datagram.captured.from(header_length), options, out);
    }
    if (more_fragments) {
        // First fragment: the rest of the SCTP packet is in later fragments.
        out.truncated = true;
        datagram.declared_size = kUnknownSize;
    }
    if (fits(datagram, 0, header_length) != Fit::Whole) return ParseStatus::BadIpHeader;  // options cut
    return parse_transport(*packet.u8(9), datagram.rest_from(header_length), options, out);
}

ParseStatus parse_ipv6(const ByteView& packet, const ParseOptions& options, ParsedPacket& out) {
    if (packet.size() < kIpv6Header) return ParseStatus::NotIp;
    out.ip_version = 6;
    out.src = read_v6(packet, 8);
    out.dst = read_v6(packet, 24);

    const std::uint16_t payload_length = *packet.be16(4);
    std::uint8_t next_header = *packet.u8(6);
    // Payload length 0 with a payload means a jumbogram (RFC 2675): never SCTP over NFQUEUE.
    if (payload_length == 0 && next_header != kProtoNoNextHeader) return ParseStatus::BadIpHeader;

    const std::size_t total_length = kIpv6Header + payload_length;
    out.truncated = packet.size() < total_length;
    Region datagram{*packet.up_to(0, total_length), total_length};

    // Extension header chain (RFC 8200 §4), bounded.
    std::size_t offset = kIpv6Header;
    std::size_t headers_walked = 0;
    for (;;) {
        std::size_t header_length = 0;
        switch (next_header) {
            case kProtoSctp:
            case kProtoUdp:
                return parse_transport(next_header, datagram.rest_from(offset), options, out);
            case kProtoIcmpv6:
                if (out.fragment.present) return ParseStatus::NotSctp;
                return parse_icmp_error(true, *datagram.captured.from(offset), options, out);
            case kProtoHopByHop:
            case kProtoRouting:
            case kProtoDestinationOptions:
            case kProtoMobility:
            case kProtoHip:
            case kProtoShim6:
            case kProtoFragment:
            case kProtoAuthHeader:
                break;
            default:
                return ParseStatus::NotSctp;  // No Next Header (59), ESP, ICMPv6, TCP, ...
        }
        if (headers_walked == kMaxExtensionHeaders) return ParseStatus::ExtensionChainTooLong;
        ++headers_walked;

        if (fits(datagram, offset, 2) != Fit::Whole) return ParseStatus::BadExtensionHeader;
        const std::size_t length_field = *packet.u8(offset + 1);
        if (next_header == kProtoFragment) {
            header_length = 8;  // RFC 8200 §4.5: fixed size
        } else if (next_header == kProtoAuthHeader) {
            header_length = (length_field + 2) * 4;  // RFC 4302 §2.2: in 4-octet units, minus 2
        } else {
            header_length = (length_field + 1) * 8;  // RFC 8200 §4.3: in 8-octet units, minus 1
        }
        if (fits(datagram, offset, header_length) != Fit::Whole) return ParseStatus::BadExtensionHeader;

        if (next_header == kProtoFragment) {
            const std::uint16_t fragment = *packet.be16(offset + 2);
            out.fragment = FragmentInfo{true, (fragment >> 3) == 0, *packet.be32(offset + 4), *packet.u8(offset)};
            if ((fragment >> 3) != 0) return ParseStatus::IpFragment;
            if ((fragment & 0x1) != 0) {
                // First fragment (M flag): the rest is in later fragments.
                out.truncated = true;
                datagram.declared_size = kUnknownSize;
            }
        }
        next_header = *packet.u8(offset);
        offset += header_length;
    }
}

}  // namespace

void parse_packet(std::span<const std::byte> packet, const ParseOptions& options, ParsedPacket& out) {
    out.reset();
    const ByteView bytes(packet);
    const std::optional<std::uint8_t> first = bytes.u8(0);
    if (!first) {
        out.status = ParseStatus::NotIp;
        return;
    }
    switch (*first >> 4) {
        case 4: out.status = parse_ipv4(bytes, options, out); break;
        case 6: out.status = parse_ipv6(bytes, options, out); break;
        default: out.status = ParseStatus::NotIp; break;
    }
}

}  // namespace sctplb
