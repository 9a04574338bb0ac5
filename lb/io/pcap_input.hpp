// Reading packets from a capture file (pcap or pcapng, through libpcap) and
// finding the IP datagram inside each link-layer frame.
//
// The L3 locator (`find_ip_datagram`) is a pure function over the frame bytes
// so it is tested without files; `PcapInput` only adds libpcap and the clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct pcap;  // libpcap's pcap_t, kept out of this header

namespace sctplb {

// Link-layer header types we can strip (values as pcap_datalink() returns them).
// LINKTYPE_RAW (101) in a file is reported as DLT_RAW (12); OpenBSD's DLT_RAW
// is 14 and reaches us unchanged from files written there.
namespace link_type {
inline constexpr int kNull = 0;         // BSD loopback: 4-byte address family, host byte order
inline constexpr int kEthernet = 1;     // DLT_EN10MB, with 802.1Q / 802.1ad tags
inline constexpr int kRaw = 12;         // DLT_RAW
inline constexpr int kRawOpenBsd = 14;  // DLT_RAW on OpenBSD
inline constexpr int kRawLinktype = 101;  // LINKTYPE_RAW, should libpcap ever pass it through
inline constexpr int kLoop = 108;       // OpenBSD loopback: address family, network byte order
inline constexpr int kLinuxSll = 113;   // Linux cooked capture v1 ("any" interface)
inline constexpr int kIpv4 = 228;       // raw IPv4
inline constexpr int kIpv6 = 229;       // raw IPv6
inline constexpr int kLinuxSll2 = 276;  // Linux cooked capture v2
}  // namespace link_type

[[nodiscard]] bool link_type_supported(int link_type);

// The IP datagram inside `frame`, or nullopt when the frame does not carry
// IPv4/IPv6 (ARP, LLDP, a link header cut short, ...). The returned span may be
// empty (e.g. Ethernet header with nothing after it): the IP parser then says
// why. VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, old QinQ 0x9100) are skipped.
[[nodiscard]] std::optional<std::span<const std::byte>> find_ip_datagram(
    int link_type, std::span<const std::byte> frame);

struct CapturedPacket {
    std::uint64_t number = 0;           // 1-based position in the capture, every frame counted
    std::chrono::nanoseconds timestamp{};  // capture time since the Unix epoch
    bool is_ip = false;                 // false: not an IP frame; `ip` is empty
    std::span<const std::byte> ip;      // the IP datagram (captured bytes only)
    std::uint32_t captured_length = 0;  // bytes in the file for this frame (caplen)
    std::uint32_t wire_length = 0;      // bytes on the wire (len); > captured when snapped
};

class PcapInput {
public:
    // Opens `path` with nanosecond timestamps where the file has them.
    // nullopt with `error` set (one line, no trailing newline) on failure,
    // including an unsupported link-layer type.
    [[nodiscard]] static std::optional<PcapInput> open(const std::string& path, std::string& error);

    enum class ReadStatus { Packet, End, Error };
    // Reads the next frame. The spans in `out` stay valid until the next call.
    ReadStatus next(CapturedPacket& out, std::string& error);

    [[nodiscard]] int link_type() const { return link_type_; }
    [[nodiscard]] std::string link_type_name() const;
    [[nodiscard]] bool nanosecond_precision() const { return nanosecond_; }

private:
    struct PcapCloser {
        void operator()(pcap* handle) const;
    };
    PcapInput(pcap* handle, int link_type, bool nanosecond)
        : handle_(handle), link_type_(link_type), nanosecond_(nanosecond) {}

    std::unique_ptr<pcap, PcapCloser> handle_;
    int link_type_ = 0;
    bool nanosecond_ = false;
    std::uint64_t count_ = 0;
};

}  // namespace sctplb
