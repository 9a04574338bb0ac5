#include "io/pcap_input.hpp"

#include <pcap/pcap.h>

#include "core/byte_view.hpp"

namespace sctplb {

namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86DD;
// IEEE 802.1Q customer tag, 802.1ad service tag, and the pre-standard QinQ tag.
constexpr std::uint16_t kEtherTypeVlan = 0x8100;
constexpr std::uint16_t kEtherTypeQinQ = 0x88A8;
constexpr std::uint16_t kEtherTypeQinQOld = 0x9100;
constexpr std::size_t kMaxVlanTags = 8;  // bounded walk; real stacks use one or two

constexpr std::size_t kEthernetHeader = 14;  // dst(6) src(6) type(2)
constexpr std::size_t kSllHeader = 16;       // Linux cooked v1, protocol at offset 14
constexpr std::size_t kSll2Header = 20;      // Linux cooked v2, protocol at offset 0
constexpr std::size_t kNullHeader = 4;       // address family

// Address family numbers of the BSD loopback header. AF_INET is 2 everywhere;
// AF_INET6 differs per OS (values as libpcap's BSD_AFNUM_INET6_* list them).
constexpr std::uint32_t kAfInet = 2;
constexpr bool is_af_inet6(std::uint32_t family) {
    return family == 10 /* Linux */ || family == 24 /* OpenBSD, NetBSD */ ||
           family == 28 /* FreeBSD */ || family == 30 /* macOS */;
}

bool is_vlan_tag(std::uint16_t ether_type) {
    return ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ ||
           ether_type == kEtherTypeQinQOld;
}

// `type_offset` holds an EtherType; the payload starts right after it. VLAN
// tags put TCI(2) + inner EtherType(2) there, so each tag shifts both by 4.
std::optional<std::span<const std::byte>> after_ether_type(ByteView frame, std::size_t type_offset) {
    for (std::size_t tags = 0; tags <= kMaxVlanTags; ++tags) {
        auto ether_type = frame.be16(type_offset);
        if (!ether_type) return std::nullopt;
        if (*ether_type == kEtherTypeIpv4 || *ether_type == kEtherTypeIpv6) {
            auto payload = frame.from(type_offset + 2);
            if (!payload) return std::nullopt;
            return payload->bytes();
        }
        if (!is_vlan_tag(*ether_type)) return std::nullopt;
        type_offset += 4;
    }
    return std::nullopt;  // more tags than any real network stacks up
}

std::optional<std::span<const std::byte>> after_address_family(ByteView frame, bool network_order) {
    auto raw = frame.be32(0);
    if (!raw) return std::nullopt;
    std::uint32_t family = *raw;
    // DLT_NULL stores the family in the capturing host's byte order: a small
    // number read big endian, or one whose low byte comes first.
    if (!network_order && family > 0xffff)
        family = ((family & 0xff) << 24) | ((family & 0xff00) << 8) | ((family >> 8) & 0xff00) |
                 (family >> 24);
    if (family != kAfInet && !is_af_inet6(family)) return std::nullopt;
    auto payload = frame.from(kNullHeader);
    if (!payload) return std::nullopt;
    return payload->bytes();
}

}  // namespace

bool link_type_supported(int type) {
    switch (type) {
        case link_type::kNull:
        case link_type::kEthernet:
        case link_type::kRaw:
        case link_type::kRawOpenBsd:
        case link_type::kRawLinktype:
        case link_type::kLoop:
        case link_type::kLinuxSll:
        case link_type::kIpv4:
        case link_type::kIpv6:
        case link_type::kLinuxSll2:
            return true;
        default:
            return false;
    }
}

std::optional<std::span<const std::byte>> find_ip_datagram(int type, std::span<const std::byte> bytes) {
    const ByteView frame(bytes);
    switch (type) {
        case link_type::kEthernet:
            return after_ether_type(frame, kEthernetHeader - 2);
        case link_type::kLinuxSll:
            if (frame.size() < kSllHeader) return std::nullopt;
            return after_ether_type(frame, 14);
        case link_type::kLinuxSll2: {
            // The protocol comes first; the payload starts after the 20-byte header.
            auto protocol = frame.be16(0);
            if (!protocol || frame.size() < kSll2Header) return std::nullopt;
            if (*protocol == kEtherTypeIpv4 || *protocol == kEtherTypeIpv6)
                return frame.from(kSll2Header)->bytes();
            if (!is_vlan_tag(*protocol)) return std::nullopt;
            // A tag the kernel did not strip: TCI(2) + EtherType(2) lead the payload.
            return after_ether_type(frame, kSll2Header + 2);
        }
        case link_type::kRaw:
        case link_type::kRawOpenBsd:
        case link_type::kRawLinktype:
        case link_type::kIpv4:
        case link_type::kIpv6:
            // No link header: the IP parser checks the version nibble.
            return bytes;
        case link_type::kNull:
            return after_address_family(frame, false);
        case link_type::kLoop:
            return after_address_family(frame, true);
        default:
            return std::nullopt;
    }
}

void PcapInput::PcapCloser::operator()(pcap* handle) const {
    if (handle != nullptr) pcap_close(handle);
}

std::optional<PcapInput> PcapInput::open(const std::string& path, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (handle == nullptr) {
        std::string why = errbuf;
        // libpcap names the file in some messages (missing file) and not in others.
        error = why.starts_with(path) ? why : path + ": " + why;
        return std::nullopt;
    }
    const bool nanosecond = pcap_get_tstamp_precision(handle) == PCAP_TSTAMP_PRECISION_NANO;
    PcapInput input(handle, pcap_datalink(handle), nanosecond);
    if (!link_type_supported(input.link_type_)) {
        error = path + ": link-layer type " + input.link_type_name() +
                " is not supported (supported: EN10MB with VLAN tags, LINUX_SLL, LINUX_SLL2, "
                "RAW, IPV4, IPV6, NULL, LOOP)";
        return std::nullopt;
    }
    return input;
}

std::string PcapInput::link_type_name() const {
    const char* name = pcap_datalink_val_to_name(link_type_);
    std::string number = std::to_string(link_type_);
    return name != nullptr ? std::string(name) + " (" + number + ")" : number;
}

PcapInput::ReadStatus PcapInput::next(CapturedPacket& out, std::string& error) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(handle_.get(), &header, &data);
    if (rc == PCAP_ERROR_BREAK) return ReadStatus::End;  // -2: end of the file
    if (rc != 1) {
        error = "after packet " + std::to_string(count_) + ": " + pcap_geterr(handle_.get());
        return ReadStatus::Error;
    }
    out.number = ++count_;
    const std::int64_t fraction = static_cast<std::int64_t>(header->ts.tv_usec);
    out.timestamp = std::chrono::seconds(header->ts.tv_sec) +
                    (nanosecond_ ? std::chrono::nanoseconds(fraction)
                                 : std::chrono::nanoseconds(std::chrono::microseconds(fraction)));
    out.captured_length = header->caplen;
    out.wire_length = header->len;
    // libpcap hands out bytes, which is what std::byte is for; the cast is of
    // the buffer pointer only, no packet structure is overlaid on it.
    const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), header->caplen);
    auto ip = find_ip_datagram(link_type_, frame);
    out.is_ip = ip.has_value();
    out.ip = ip.value_or(std::span<const std::byte>{});
    return ReadStatus::Packet;
}

}  // namespace sctplb
