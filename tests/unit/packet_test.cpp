// parse_packet(): table-driven cases built field by field, plus properties (every prefix of a
// valid packet parses without reading out of bounds; `out` is fully reset between packets).
#include "core/packet.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/ip_address.hpp"
#include "support/packet_builder.hpp"

namespace sctplb {
namespace {

// The packet builder (kClient4, sctp(), ipv4(), ...) is tests/support/packet_builder.hpp.
using namespace test;

// ---------------------------------------------------------------------------------------------
// The table.

struct Case {
    std::string description;
    Bytes packet;
    ParseStatus status = ParseStatus::Ok;
    bool truncated = false;
    std::uint16_t encapsulation_port = 0;
    // Key fields, checked when set.
    std::optional<int> ip_version{};
    std::optional<std::string> src{};
    std::optional<std::string> dst{};
    std::optional<std::uint16_t> sport{};
    std::optional<std::uint16_t> dport{};
    std::optional<std::uint32_t> vtag{};
    std::optional<std::vector<std::string>> chunks{};  // names of the kept chunk types
    std::optional<int> chunk_count{};                  // default: chunks->size() when chunks is set
    std::optional<int> first_chunk_flags{};
    std::optional<bool> t_bit{};
    std::optional<std::uint16_t> udp_sport{};  // also expects udp_encapsulated
    std::optional<std::uint16_t> udp_dport{};
    std::optional<std::uint32_t> initiate_tag{};
    std::optional<std::vector<std::string>> init_addresses{};
    std::optional<bool> addresses_overflowed{};
    std::optional<bool> host_name_seen{};
    std::optional<std::string> asconf_lookup{};
    std::optional<std::vector<std::string>> asconf_added{};
    std::optional<int> asconf_deleted{};
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.description << " (" << c.packet.size() << " bytes)"; }

std::string test_name(const std::string& description) {
    std::string name;
    for (char ch : description) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    return name;
}

std::vector<std::string> address_strings(const std::array<IpAddress, kMaxAddresses>& a, std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n && i < a.size(); ++i) out.push_back(a[i].to_string());
    return out;
}

const Bytes kData = data_chunk();
const Bytes kSctpData = sctp(kData);
const Bytes kIpv4Data = ipv4(kSctpData);
const Bytes kInit3 = init_chunk(kInitiateTag, v4_param("192.0.2.10") + v4_param("192.0.2.11") +
                                                  v6_param("2001:db8::10"));
const Bytes kIpv4Init3 = ipv4(sctp(kInit3, 0));
const Bytes kAsconfAfterAuth =
    auth_chunk() + asconf_chunk(v4_param("192.0.2.10"),
                                asconf_param(0xC001, 1, v4_param("0.0.0.0")) +
                                    asconf_param(0xC001, 2, v4_param("203.0.113.7")) +
                                    asconf_param(0xC002, 3, v4_param("192.0.2.10")) +
                                    asconf_param(0xC004, 4, v4_param("203.0.113.7")));

Bytes ten_v4_params() {
    Bytes b;
    for (int i = 1; i <= 10; ++i) b = b + v4_param(("192.0.2." + std::to_string(i)).c_str());
    return b;
}
Bytes n_chunks(std::size_t n) { return repeat(chunk(ChunkType::Heartbeat, 0, {}), n); }  // bare HEARTBEAT headers

using S = ParseStatus;
using Names = std::vector<std::string>;

std::vector<Case> cases() {
    const std::size_t ip4 = 20;  // IPv4 header without options
    const std::size_t common = 12;
    return {
        // --- IPv4 ---------------------------------------------------------------------------
        {.description = "ipv4 DATA", .packet = kIpv4Data, .status = S::Ok, .ip_version = 4, .src = kClient4,
         .dst = kVip4, .sport = kClientPort, .dport = kServerPort, .vtag = kVtag, .chunks = Names{"DATA"},
         .first_chunk_flags = 0x03, .t_bit = false},
        {.description = "ipv4 with 8 bytes of options",
         .packet = ipv4(kSctpData, {.options = Bytes{std::byte{1}, std::byte{1}, std::byte{1}, std::byte{1},
                                                     std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}}}),
         .status = S::Ok, .ip_version = 4, .sport = kClientPort, .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "ipv4 IHL 4", .packet = ipv4(kSctpData, {.ihl = 4}), .status = S::BadIpHeader,
         .ip_version = 4},
        {.description = "ipv4 total length below header",
         .packet = ipv4(kSctpData, {.total_length = 16}), .status = S::BadIpHeader},
        {.description = "ipv4 IHL beyond total length",
         .packet = ipv4(kSctpData, {.ihl = 15, .total_length = 40}), .status = S::BadIpHeader},
        {.description = "ipv4 options cut by capture",
         .packet = cut(ipv4(kSctpData, {.options = zeros(20)}), 30), .status = S::BadIpHeader,
         .truncated = true},
        {.description = "empty", .packet = {}, .status = S::NotIp},
        {.description = "ipv4 shorter than fixed header", .packet = cut(kIpv4Data, 19), .status = S::NotIp},
        {.description = "version 5", .packet = Bytes{std::byte{0x55}} + zeros(60), .status = S::NotIp},
        {.description = "ipv4 TCP", .packet = ipv4(zeros(20), {.protocol = 6}), .status = S::NotSctp},
        {.description = "ipv4 non first fragment", .packet = ipv4(zeros(32), {.fragment = 185}),
         .status = S::IpFragment, .ip_version = 4, .src = kClient4, .dst = kVip4},
        {.description = "ipv4 middle fragment", .packet = ipv4(zeros(32), {.fragment = 0x2000 | 3}),
         .status = S::IpFragment, .src = kClient4},
        {.description = "ipv4 first fragment DATA runs past it",
         .packet = ipv4(cut(sctp(data_chunk(200)), common + 40), {.fragment = 0x2000}), .status = S::Ok,
         .truncated = true, .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "ipv4 first fragment INIT cut in parameters",
         .packet = ipv4(cut(sctp(kInit3, 0), common + 20 + 8 + 4), {.fragment = 0x2000}), .status = S::Ok,
         .truncated = true, .chunks = Names{"INIT"}, .initiate_tag = kInitiateTag,
         .init_addresses = Names{"192.0.2.10"}},
        {.description = "ethernet trailer ignored",
         .packet = ipv4(sctp(chunk(ChunkType::CookieAck, 0, {}))) + zeros(14), .status = S::Ok, .truncated = false,
         .chunks = Names{"COOKIE_ACK"}},

        // --- IPv6 ---------------------------------------------------------------------------
        {.description = "ipv6 DATA", .packet = ipv6(132, kSctpData), .status = S::Ok, .ip_version = 6,
         .src = kClient6, .dst = kVip6, .sport = kClientPort, .dport = kServerPort, .vtag = kVtag,
         .chunks = Names{"DATA"}},
        {.description = "ipv6 hop by hop then destination options",
         .packet = ipv6(0, ext_header(60, 8) + ext_header(132, 16) + kSctpData), .status = S::Ok,
         .ip_version = 6, .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "ipv6 routing then AH",
         .packet = ipv6(43, ext_header(51, 24) + ah_header(132, 24) + kSctpData), .status = S::Ok,
         .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "ipv6 eight extension headers",
         .packet = ipv6(60, repeat(ext_header(60, 8), 7) + ext_header(132, 8) + kSctpData), .status = S::Ok,
         .chunks = Names{"DATA"}},
        {.description = "ipv6 nine extension headers",
         .packet = ipv6(60, repeat(ext_header(60, 8), 8) + ext_header(132, 8) + kSctpData),
         .status = S::ExtensionChainTooLong, .ip_version = 6},
        {.description = "ipv6 extension header overruns payload",
         .packet = ipv6(0, ext_header(132, 8), {.payload_length = 6}) + kSctpData,
         .status = S::BadExtensionHeader},
        {.description = "ipv6 extension header cut by capture",
         .packet = cut(ipv6(0, ext_header(132, 64) + kSctpData), 40 + 32), .status = S::BadExtensionHeader,
         .truncated = true},
        {.description = "ipv6 no next header", .packet = ipv6(59, {}), .status = S::NotSctp, .ip_version = 6},
        {.description = "ipv6 no next header after destination options",
         .packet = ipv6(60, ext_header(59, 8)), .status = S::NotSctp},
        {.description = "ipv6 ESP", .packet = ipv6(50, zeros(40)), .status = S::NotSctp},
        {.description = "ipv6 non first fragment",
         .packet = ipv6(44, fragment_header(132, 100, true) + zeros(64)), .status = S::IpFragment,
         .ip_version = 6, .src = kClient6, .dst = kVip6},
        {.description = "ipv6 first fragment",
         .packet = ipv6(44, fragment_header(132, 0, true) + cut(sctp(data_chunk(300)), 100)), .status = S::Ok,
         .truncated = true, .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "ipv6 atomic fragment",
         .packet = ipv6(44, fragment_header(132, 0, false) + kSctpData), .status = S::Ok, .truncated = false,
         .chunks = Names{"DATA"}},
        {.description = "ipv6 shorter than fixed header", .packet = cut(ipv6(132, kSctpData), 39),
         .status = S::NotIp},
        {.description = "ipv6 payload length zero", .packet = ipv6(132, kSctpData, {.payload_length = 0}),
         .status = S::BadIpHeader},
        {.description = "ipv6 payload length shorter than common header",
         .packet = ipv6(132, kSctpData, {.payload_length = 8}), .status = S::BadSctpHeader, .truncated = false},
        {.description = "ipv6 payload length ends inside a chunk",
         .packet = ipv6(132, kSctpData, {.payload_length = static_cast<unsigned>(kSctpData.size() - 4)}),
         .status = S::BadChunkLength, .truncated = false},
        {.description = "ipv6 payload length beyond capture",
         .packet = ipv6(132, kSctpData, {.payload_length = static_cast<unsigned>(kSctpData.size() + 400)}),
         .status = S::Ok, .truncated = true, .chunks = Names{"DATA"}},

        // --- UDP encapsulation (RFC 6951) ---------------------------------------------------
        {.description = "udp encapsulation to port",
         .packet = ipv4(udp(40000, kUdpEncapsulationPort, kSctpData), {.protocol = 17}), .status = S::Ok,
         .encapsulation_port = kUdpEncapsulationPort, .sport = kClientPort, .dport = kServerPort,
         .vtag = kVtag, .chunks = Names{"DATA"}, .udp_sport = 40000, .udp_dport = kUdpEncapsulationPort},
        {.description = "udp encapsulation from port",
         .packet = ipv4(udp(kUdpEncapsulationPort, 40000, kSctpData), {.protocol = 17}), .status = S::Ok,
         .encapsulation_port = kUdpEncapsulationPort, .vtag = kVtag, .chunks = Names{"DATA"},
         .udp_sport = kUdpEncapsulationPort, .udp_dport = 40000},
        {.description = "udp encapsulation over ipv6",
         .packet = ipv6(17, udp(40000, kUdpEncapsulationPort, kSctpData)), .status = S::Ok,
         .encapsulation_port = kUdpEncapsulationPort, .ip_version = 6, .vtag = kVtag, .chunks = Names{"DATA"},
         .udp_sport = 40000, .udp_dport = kUdpEncapsulationPort},
        {.description = "udp encapsulation off",
         .packet = ipv4(udp(40000, kUdpEncapsulationPort, kSctpData), {.protocol = 17}),
         .status = S::NotSctp},
        {.description = "udp other port",
         .packet = ipv4(udp(40000, 53, kSctpData), {.protocol = 17}), .status = S::NotSctp,
         .encapsulation_port = kUdpEncapsulationPort},
        {.description = "udp length below header",
         .packet = ipv4(udp(40000, kUdpEncapsulationPort, kSctpData, 4), {.protocol = 17}),
         .status = S::BadUdpHeader, .encapsulation_port = kUdpEncapsulationPort,
         .udp_sport = 40000, .udp_dport = kUdpEncapsulationPort},
        {.description = "udp length beyond datagram",
         .packet = ipv4(udp(40000, kUdpEncapsulationPort, kSctpData, 500), {.protocol = 17}),
         .status = S::BadUdpHeader, .encapsulation_port = kUdpEncapsulationPort,
         .udp_sport = 40000, .udp_dport = kUdpEncapsulationPort},
        {.description = "udp header cut",
         .packet = ipv4(Bytes{std::byte{0x9a}, std::byte{0x9b}, std::byte{0}}, {.protocol = 17}),
         .status = S::BadUdpHeader, .encapsulation_port = kUdpEncapsulationPort},
        {.description = "udp length shorter than datagram",
         .packet = ipv4(udp(40000, kUdpEncapsulationPort, kSctpData + zeros(8),
                            static_cast<std::uint16_t>(8 + kSctpData.size())),
                        {.protocol = 17}),
         .status = S::Ok, .encapsulation_port = kUdpEncapsulationPort, .chunks = Names{"DATA"},
         .udp_sport = 40000, .udp_dport = kUdpEncapsulationPort},

        // --- chunks -------------------------------------------------------------------------
        {.description = "INIT with two ipv4 and one ipv6 address", .packet = kIpv4Init3, .status = S::Ok,
         .vtag = 0, .chunks = Names{"INIT"}, .initiate_tag = kInitiateTag,
         .init_addresses = Names{"192.0.2.10", "192.0.2.11", "2001:db8::10"}, .addresses_overflowed = false,
         .host_name_seen = false},
        {.description = "INIT with host name",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, param(11, Bytes{std::byte{'h'}, std::byte{'o'},
                                                                       std::byte{'s'}, std::byte{'t'},
                                                                       std::byte{0}})),
                             0)),
         .status = S::Ok, .chunks = Names{"INIT"}, .init_addresses = Names{}, .host_name_seen = true},
        {.description = "INIT with ten addresses",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, ten_v4_params()), 0)), .status = S::Ok,
         .chunks = Names{"INIT"},
         .init_addresses = Names{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5",
                                 "192.0.2.6", "192.0.2.7", "192.0.2.8"},
         .addresses_overflowed = true},
        {.description = "INIT with unknown parameters skipped",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, param(0x8000, zeros(4)) + param(9, be32(60)) +
                                                          param(0xC000, {}) + v4_param("192.0.2.10")),
                             0)),
         .status = S::Ok, .chunks = Names{"INIT"}, .init_addresses = Names{"192.0.2.10"}},
        {.description = "INIT bundled with DATA", .packet = ipv4(sctp(kInit3 + kData, 0)),
         .status = S::InitBundled},
        {.description = "DATA then INIT", .packet = ipv4(sctp(kData + kInit3, 0)), .status = S::InitBundled},
        {.description = "INIT initiate tag 0", .packet = ipv4(sctp(init_chunk(0, {}), 0)), .status = S::BadInit},
        {.description = "INIT fixed part short", .packet = ipv4(sctp(chunk(ChunkType::Init, 0, zeros(12)), 0)),
         .status = S::BadInit},
        {.description = "INIT ACK with an address",
         .packet = ipv4(sctp(init_chunk(0x5EED5EED, v4_param("198.51.100.1") + param(kParamStateCookie, zeros(32)), ChunkType::InitAck),
                             kInitiateTag),
                        {.src = kVip4, .dst = kClient4}),
         .status = S::Ok, .vtag = kInitiateTag, .chunks = Names{"INIT_ACK"}, .initiate_tag = 0x5EED5EED,
         .init_addresses = Names{"198.51.100.1"}},
        {.description = "ABORT with T bit", .packet = ipv4(sctp(chunk(ChunkType::Abort, 0x01, {}))), .status = S::Ok,
         .chunks = Names{"ABORT"}, .first_chunk_flags = 0x01, .t_bit = true},
        {.description = "ABORT without T bit", .packet = ipv4(sctp(chunk(ChunkType::Abort, 0x00, be32(0x00010004)))),
         .status = S::Ok, .chunks = Names{"ABORT"}, .t_bit = false},
        {.description = "SHUTDOWN COMPLETE with T bit", .packet = ipv4(sctp(chunk(ChunkType::ShutdownComplete, 0x01, {}))),
         .status = S::Ok, .chunks = Names{"SHUTDOWN_COMPLETE"}, .t_bit = true},
        {.description = "T flag on DATA is not the T bit", .packet = ipv4(sctp(data_chunk(8, 0x01))),
         .status = S::Ok, .first_chunk_flags = 0x01, .t_bit = false},
        {.description = "COOKIE ECHO and DATA",
         .packet = ipv4(sctp(chunk(ChunkType::CookieEcho, 0, zeros(37)) + kData)), .status = S::Ok,
         .chunks = Names{"COOKIE_ECHO", "DATA"}, .first_chunk_flags = 0},
        {.description = "SACK HEARTBEAT SHUTDOWN ACK",
         .packet = ipv4(sctp(chunk(ChunkType::Sack, 0, zeros(12)) + chunk(ChunkType::Heartbeat, 0, param(1, zeros(8))) + chunk(ChunkType::ShutdownAck, 0, {}))),
         .status = S::Ok, .chunks = Names{"SACK", "HEARTBEAT", "SHUTDOWN_ACK"}},
        {.description = "last chunk padding missing",
         .packet = ipv4(sctp(chunk(ChunkType::Heartbeat, 0, zeros(4)) + data_chunk(5, 0x03, false))), .status = S::Ok,
         .chunks = Names{"HEARTBEAT", "DATA"}},
        {.description = "unknown chunk type", .packet = ipv4(sctp(chunk(0x99, 0, zeros(4)))), .status = S::Ok,
         .chunks = Names{"UNKNOWN"}},
        {.description = "twenty chunks keep sixteen types", .packet = ipv4(sctp(n_chunks(20))),
         .status = S::Ok, .chunks = Names(16, "HEARTBEAT"), .chunk_count = 20},
        {.description = "sixty four chunks", .packet = ipv4(sctp(n_chunks(64))), .status = S::Ok,
         .chunk_count = 64},
        {.description = "ASCONF after AUTH", .packet = ipv4(sctp(kAsconfAfterAuth)), .status = S::Ok,
         .chunks = Names{"AUTH", "ASCONF"}, .asconf_lookup = "192.0.2.10",
         .asconf_added = Names{"0.0.0.0", "203.0.113.7"}, .asconf_deleted = 1},
        {.description = "ASCONF ipv6 wildcard add",
         .packet = ipv6(132, sctp(auth_chunk() + asconf_chunk(v6_param("2001:db8::10"),
                                                               asconf_param(0xC001, 9, v6_param("::"))))),
         .status = S::Ok, .chunks = Names{"AUTH", "ASCONF"}, .asconf_lookup = "2001:db8::10",
         .asconf_added = Names{"::"}, .asconf_deleted = 0},
        {.description = "ASCONF without address parameter",
         .packet = ipv4(sctp(auth_chunk() + asconf_chunk(param(0xC001, be32(1)), {}))),
         .status = S::BadParameter},
        {.description = "ASCONF add ip without address",
         .packet = ipv4(sctp(auth_chunk() + asconf_chunk(v4_param("192.0.2.10"), param(0xC001, be32(1))))),
         .status = S::BadParameter},
        {.description = "ASCONF add ip address overruns it",
         .packet = ipv4(sctp(auth_chunk() +
                             asconf_chunk(v4_param("192.0.2.10"),
                                          param(0xC001, be32(1) + raw_param(5, 8, zeros(2)))))),
         .status = S::BadParameter},

        // --- malformed ----------------------------------------------------------------------
        {.description = "chunk length 0", .packet = ipv4(sctp(Bytes{std::byte{0}, std::byte{3}, std::byte{0},
                                                                     std::byte{0}} + zeros(12))),
         .status = S::BadChunkLength},
        {.description = "chunk length 3",
         .packet = ipv4(sctp(Bytes{std::byte{0}, std::byte{3}, std::byte{0}, std::byte{3}} + zeros(12))),
         .status = S::BadChunkLength},
        {.description = "chunk overruns datagram",
         .packet = ipv4(sctp(Bytes{std::byte{0}, std::byte{3}, std::byte{0}, std::byte{100}} + zeros(20))),
         .status = S::BadChunkLength, .truncated = false},
        {.description = "stray bytes after last chunk", .packet = ipv4(sctp(kData + zeros(2))),
         .status = S::BadChunkLength},
        {.description = "sixty five chunks", .packet = ipv4(sctp(n_chunks(65))), .status = S::TooManyChunks},
        {.description = "short common header", .packet = ipv4(cut(kSctpData, 8)), .status = S::BadSctpHeader,
         .truncated = false},
        {.description = "common header and no chunk", .packet = ipv4(sctp({})), .status = S::NoChunks,
         .vtag = kVtag},
        {.description = "parameter length 2",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, raw_param(5, 2, zeros(6))), 0)),
         .status = S::BadParameter},
        {.description = "parameter overruns chunk",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, raw_param(7, 40, zeros(8))), 0)),
         .status = S::BadParameter},
        {.description = "ipv4 address parameter length 12",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, param(5, zeros(8))), 0)), .status = S::BadParameter},
        {.description = "ipv6 address parameter length 8",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, param(6, zeros(4))), 0)), .status = S::BadParameter},
        {.description = "stray bytes after last parameter",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, v4_param("192.0.2.10") + zeros(2)), 0)),
         .status = S::BadParameter},
        {.description = "129 parameters",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, repeat(param(0x8001, {}), 129)), 0)),
         .status = S::TooManyParameters},
        {.description = "128 parameters",
         .packet = ipv4(sctp(init_chunk(kInitiateTag, repeat(param(0x8001, {}), 128)), 0)), .status = S::Ok},

        // --- truncated by the capture ---------------------------------------------------------
        {.description = "DATA cut mid chunk", .packet = cut(ipv4(sctp(data_chunk(100))), ip4 + common + 20),
         .status = S::Ok, .truncated = true, .vtag = kVtag, .chunks = Names{"DATA"}},
        {.description = "SACK then DATA cut in chunk header",
         .packet = cut(ipv4(sctp(chunk(ChunkType::Sack, 0, zeros(12)) + kData)), ip4 + common + 16 + 2), .status = S::Ok,
         .truncated = true, .chunks = Names{"SACK"}},
        {.description = "INIT cut inside parameters", .packet = cut(kIpv4Init3, ip4 + common + 20 + 8 + 8 + 6),
         .status = S::Ok, .truncated = true, .vtag = 0, .chunks = Names{"INIT"}, .initiate_tag = kInitiateTag,
         .init_addresses = Names{"192.0.2.10", "192.0.2.11"}},
        {.description = "INIT cut inside fixed part", .packet = cut(kIpv4Init3, ip4 + common + 10),
         .status = S::BadInit, .truncated = true},
        {.description = "ASCONF cut inside parameters",
         .packet = cut(ipv4(sctp(kAsconfAfterAuth)), ip4 + common + 28 + 16 + 20),
         .status = S::Ok, .truncated = true, .chunks = Names{"AUTH", "ASCONF"}, .asconf_lookup = "192.0.2.10",
         .asconf_added = Names{"0.0.0.0"}},
        {.description = "cut inside common header", .packet = cut(kIpv4Data, ip4 + 6),
         .status = S::BadSctpHeader, .truncated = true},
        {.description = "cut after common header", .packet = cut(kIpv4Data, ip4 + common), .status = S::NoChunks,
         .truncated = true, .vtag = kVtag},
    };
}

class PacketCase : public ::testing::TestWithParam<Case> {};

TEST_P(PacketCase, Parses) {
    const Case& c = GetParam();
    ParsedPacket out;
    parse_packet(c.packet, ParseOptions{.encapsulation_port = c.encapsulation_port}, out);

    EXPECT_EQ(parse_status_name(out.status), parse_status_name(c.status));
    EXPECT_EQ(out.truncated, c.truncated);
    EXPECT_EQ(out.ok(), c.status == ParseStatus::Ok);
    if (c.ip_version) { EXPECT_EQ(out.ip_version, *c.ip_version); }
    if (c.src) { EXPECT_EQ(out.src.to_string(), *c.src); }
    if (c.dst) { EXPECT_EQ(out.dst.to_string(), *c.dst); }
    if (c.sport) { EXPECT_EQ(out.sport, *c.sport); }
    if (c.dport) { EXPECT_EQ(out.dport, *c.dport); }
    if (c.vtag) { EXPECT_EQ(out.vtag, *c.vtag); }
    if (c.chunks) {
        std::vector<std::string> kept;
        for (std::size_t i = 0; i < out.chunk_count && i < kMaxChunkTypesKept; ++i)
            kept.emplace_back(chunk_type_name(out.chunk_types[i]));
        EXPECT_EQ(kept, *c.chunks);
    }
    if (c.chunk_count || c.chunks) {
        EXPECT_EQ(out.chunk_count, c.chunk_count.value_or(static_cast<int>(c.chunks ? c.chunks->size() : 0)));
    }
    if (c.first_chunk_flags) { EXPECT_EQ(out.first_chunk_flags, *c.first_chunk_flags); }
    if (c.t_bit) { EXPECT_EQ(out.t_bit, *c.t_bit); }
    EXPECT_EQ(out.udp_encapsulated, c.udp_sport.has_value() || c.udp_dport.has_value());
    if (c.udp_sport) { EXPECT_EQ(out.udp_sport, *c.udp_sport); }
    if (c.udp_dport) { EXPECT_EQ(out.udp_dport, *c.udp_dport); }
    if (c.initiate_tag) { EXPECT_EQ(out.init.initiate_tag, *c.initiate_tag); }
    if (c.init_addresses) {
        EXPECT_EQ(address_strings(out.init.addresses, out.init.address_count), *c.init_addresses);
    }
    if (c.addresses_overflowed) { EXPECT_EQ(out.init.addresses_overflowed, *c.addresses_overflowed); }
    if (c.host_name_seen) { EXPECT_EQ(out.init.host_name_seen, *c.host_name_seen); }
    if (c.asconf_lookup) {
        EXPECT_TRUE(out.asconf.has_lookup_address);
        EXPECT_EQ(out.asconf.lookup_address.to_string(), *c.asconf_lookup);
    }
    if (c.asconf_added) {
        EXPECT_EQ(address_strings(out.asconf.added, out.asconf.added_count), *c.asconf_added);
    }
    if (c.asconf_deleted) { EXPECT_EQ(out.asconf.deleted_count, *c.asconf_deleted); }

    // The has_* flags agree with the chunk types kept.
    if (out.ok() && out.chunk_count <= kMaxChunkTypesKept) {
        auto seen = [&](ChunkType t) {
            for (std::size_t i = 0; i < out.chunk_count; ++i)
                if (out.chunk_types[i] == static_cast<std::uint8_t>(t)) return true;
            return false;
        };
        EXPECT_EQ(out.has_init, seen(ChunkType::Init));
        EXPECT_EQ(out.has_init_ack, seen(ChunkType::InitAck));
        EXPECT_EQ(out.has_cookie_echo, seen(ChunkType::CookieEcho));
        EXPECT_EQ(out.has_abort, seen(ChunkType::Abort));
        EXPECT_EQ(out.has_shutdown_ack, seen(ChunkType::ShutdownAck));
        EXPECT_EQ(out.has_shutdown_complete, seen(ChunkType::ShutdownComplete));
        EXPECT_EQ(out.has_asconf, seen(ChunkType::Asconf));
        EXPECT_EQ(out.has_auth, seen(ChunkType::Auth));
    }
}

INSTANTIATE_TEST_SUITE_P(Table, PacketCase, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return test_name(info.param.description); });

// ---------------------------------------------------------------------------------------------

TEST(PacketPrefix, EveryPrefixOfAnInitParsesWithinBounds) {
    // Run under ASan in CI: each prefix is copied into its own allocation so that a read one byte
    // past the end is caught.
    const Bytes full = kIpv4Init3;
    std::size_t previous_addresses = 0;
    for (std::size_t n = 0; n <= full.size(); ++n) {
        const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        ParsedPacket out;
        parse_packet(prefix, {}, out);
        SCOPED_TRACE("prefix length " + std::to_string(n));
        if (n < 20) {
            EXPECT_EQ(out.status, ParseStatus::NotIp);
            continue;
        }
        EXPECT_EQ(out.truncated, n < full.size());
        EXPECT_GE(out.init.address_count, previous_addresses);  // a longer prefix never loses an address
        previous_addresses = out.init.address_count;
        if (out.ok()) {
            EXPECT_TRUE(out.has_init);
            EXPECT_EQ(out.init.initiate_tag, kInitiateTag);
        }
    }
    EXPECT_EQ(previous_addresses, 3u);
}

TEST(PacketPrefix, EveryPrefixOfAnIpv6AsconfParsesWithinBounds) {
    const Bytes full = ipv6(0, ext_header(44, 8) + fragment_header(132, 0, false) + sctp(kAsconfAfterAuth));
    for (std::size_t n = 0; n <= full.size(); ++n) {
        const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        ParsedPacket out;
        parse_packet(prefix, {}, out);
        SCOPED_TRACE("prefix length " + std::to_string(n));
        EXPECT_EQ(out.truncated, n >= 40 && n < full.size());
        if (n == full.size()) {
            EXPECT_TRUE(out.ok());
            EXPECT_EQ(out.asconf.added_count, 2);
        }
    }
}

TEST(PacketReset, OutputIsFullyOverwritten) {
    ParsedPacket out;
    parse_packet(ipv4(udp(1, kUdpEncapsulationPort, sctp(kInit3, 0)), {.protocol = 17}),
                 {.encapsulation_port = kUdpEncapsulationPort}, out);
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out.udp_encapsulated);
    ASSERT_EQ(out.init.address_count, 3);

    parse_packet(kIpv4Data, {}, out);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out.udp_encapsulated);
    EXPECT_FALSE(out.has_init);
    EXPECT_EQ(out.init.address_count, 0);
    EXPECT_EQ(out.init.initiate_tag, 0u);
    EXPECT_EQ(out.chunk_count, 1);

    parse_packet({}, {}, out);
    EXPECT_EQ(out.status, ParseStatus::NotIp);
    EXPECT_EQ(out.chunk_count, 0);
    EXPECT_EQ(out.ip_version, 0);
}

TEST(PacketNames, StatusNames) {
    const std::vector<std::pair<ParseStatus, std::string_view>> table = {
        {ParseStatus::Ok, "ok"},
        {ParseStatus::NotIp, "not-ip"},
        {ParseStatus::BadIpHeader, "bad-ip-header"},
        {ParseStatus::IpFragment, "ip-fragment"},
        {ParseStatus::ExtensionChainTooLong, "extension-chain-too-long"},
        {ParseStatus::BadExtensionHeader, "bad-extension-header"},
        {ParseStatus::NotSctp, "not-sctp"},
        {ParseStatus::BadUdpHeader, "bad-udp-header"},
        {ParseStatus::BadSctpHeader, "bad-sctp-header"},
        {ParseStatus::NoChunks, "no-chunks"},
        {ParseStatus::BadChunkLength, "bad-chunk-length"},
        {ParseStatus::TooManyChunks, "too-many-chunks"},
        {ParseStatus::BadInit, "bad-init"},
        {ParseStatus::BadParameter, "bad-parameter"},
        {ParseStatus::TooManyParameters, "too-many-parameters"},
        {ParseStatus::InitBundled, "init-bundled"},
    };
    for (const auto& [status, name] : table) EXPECT_EQ(parse_status_name(status), name);
}

TEST(PacketNames, ChunkTypeNames) {
    const std::vector<std::pair<std::uint8_t, std::string_view>> table = {
        {0, "DATA"},          {1, "INIT"},          {2, "INIT_ACK"},
        {3, "SACK"},          {4, "HEARTBEAT"},     {5, "HEARTBEAT_ACK"},
        {6, "ABORT"},         {7, "SHUTDOWN"},      {8, "SHUTDOWN_ACK"},
        {9, "ERROR"},         {10, "COOKIE_ECHO"},  {11, "COOKIE_ACK"},
        {12, "ECNE"},         {13, "CWR"},          {14, "SHUTDOWN_COMPLETE"},
        {15, "AUTH"},         {64, "I_DATA"},       {0x80, "ASCONF_ACK"},
        {130, "RE_CONFIG"},   {132, "PAD"},         {192, "FORWARD_TSN"},
        {0xC1, "ASCONF"},     {194, "I_FORWARD_TSN"}, {16, "UNKNOWN"},
        {63, "UNKNOWN"},      {0x81, "UNKNOWN"},    {255, "UNKNOWN"},
    };
    for (const auto& [type, name] : table) EXPECT_EQ(chunk_type_name(type), name) << int{type};
}

// ---------------------------------------------------------------------------------------------
// Fragments (the key the other fragments are matched by) and ICMP errors quoting SCTP.

// RFC 792 / RFC 4443 §2.1: type, code, checksum (not checked here), 4 bytes, then the quote.
Bytes icmp_message(std::uint8_t type, std::uint8_t code, std::uint32_t rest, const Bytes& quote) {
    Bytes b;
    put8(b, type);
    put8(b, code);
    put16(b, 0);
    put32(b, rest);
    return b + quote;
}

TEST(PacketFragments, FirstAndLaterFragmentsCarryTheirKey) {
    ParsedPacket p;
    parse_packet(ipv4(kSctpData, {.fragment = 0x2000}), {}, p);  // MF, offset 0: the first
    EXPECT_EQ(p.status, ParseStatus::Ok);
    EXPECT_TRUE(p.fragment.present);
    EXPECT_TRUE(p.fragment.first);
    EXPECT_EQ(p.fragment.id, 0x1234u);
    EXPECT_EQ(p.fragment.protocol, 132);
    EXPECT_TRUE(p.truncated);
    parse_packet(ipv4(zeros(40), {.fragment = 0x0005}), {}, p);  // last fragment at 40 bytes
    EXPECT_EQ(p.status, ParseStatus::IpFragment);
    EXPECT_TRUE(p.fragment.present);
    EXPECT_FALSE(p.fragment.first);
    EXPECT_EQ(p.fragment.id, 0x1234u);
    EXPECT_EQ(p.src, ip(kClient4));
    parse_packet(kIpv4Data, {}, p);
    EXPECT_FALSE(p.fragment.present);
    parse_packet(ipv6(44, fragment_header(132, 0, true) + kSctpData), {}, p);
    EXPECT_EQ(p.status, ParseStatus::Ok);
    EXPECT_TRUE(p.fragment.present && p.fragment.first);
    EXPECT_EQ(p.fragment.id, 0xABCDu);
    parse_packet(ipv6(44, fragment_header(132, 3, false) + zeros(16)), {}, p);
    EXPECT_EQ(p.status, ParseStatus::IpFragment);
    EXPECT_TRUE(p.fragment.present && !p.fragment.first);
    EXPECT_EQ(p.fragment.id, 0xABCDu);
    EXPECT_EQ(p.fragment.protocol, 132);
}

TEST(PacketIcmp, ErrorsQuotingSctpAreParsedOthersAreNotSctp) {
    // What the server sent: VIP -> client, vtag = the client's tag.
    const Bytes sent4 = ipv4(sctp(kData, 0xC11E47, kServerPort, kClientPort), {.src = kVip4, .dst = kClient4});
    const Bytes sent6 = ipv6(132, sctp(kData, 0xC11E47, kServerPort, kClientPort), {.src = kVip6, .dst = kClient6});
    const Ipv4Fields from_router{.src = "192.0.2.254", .dst = kVip4, .protocol = 1};
    const Ipv6Fields from_router6{.src = "2001:db8::fe", .dst = kVip6};
    const struct {
        const char* name;
        Bytes packet;
        bool icmp_error;
        std::uint8_t type = 0;
    } cases[] = {
        {"fragmentation needed, 28 bytes quoted (RFC 792 minimum)", ipv4(icmp_message(3, 4, 1400, cut(sent4, 28)), from_router), true, 3},
        {"time exceeded, whole packet quoted", ipv4(icmp_message(11, 0, 0, sent4), from_router), true, 11},
        {"parameter problem", ipv4(icmp_message(12, 0, 0, sent4), from_router), true, 12},
        {"packet too big (ICMPv6)", ipv6(58, icmp_message(2, 0, 1280, sent6), from_router6), true, 2},
        {"destination unreachable (ICMPv6)", ipv6(58, icmp_message(1, 4, 0, cut(sent6, 48)), from_router6), true, 1},
        {"echo request is no error", ipv4(icmp_message(8, 0, 0, sent4), from_router), false},
        {"ICMPv6 echo is no error", ipv6(58, icmp_message(128, 0, 0, sent6), from_router6), false},
        {"quote too short for the tag", ipv4(icmp_message(3, 4, 1400, cut(sent4, 24)), from_router), false},
        {"quote of TCP", ipv4(icmp_message(3, 4, 1400, ipv4(zeros(20), {.src = kVip4, .dst = kClient4, .protocol = 6})), from_router), false},
        {"ICMPv4 quoting IPv6", ipv4(icmp_message(3, 4, 1400, sent6), from_router), false},
        {"truncated ICMP header", ipv4(Bytes{std::byte{3}}, from_router), false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        ParsedPacket p;
        parse_packet(c.packet, {}, p);
        if (!c.icmp_error) {
            EXPECT_EQ(p.status, ParseStatus::NotSctp);
            EXPECT_FALSE(p.icmp_error);
            continue;
        }
        ASSERT_EQ(p.status, ParseStatus::Ok);
        ASSERT_TRUE(p.icmp_error);
        EXPECT_EQ(p.icmp.type, c.type);
        EXPECT_EQ(p.icmp.vtag, 0xC11E47u);
        EXPECT_EQ(p.icmp.sport, kServerPort);
        EXPECT_EQ(p.icmp.dport, kClientPort);
        EXPECT_EQ(p.icmp.dst, ip(p.ip_version == 4 ? kClient4 : kClient6));
        EXPECT_EQ(p.icmp.src, ip(p.ip_version == 4 ? kVip4 : kVip6));
        EXPECT_EQ(p.chunk_count, 0);
    }
}

// Writes every table case as a seed for the fuzzer (tests/fuzz/corpus/packet). Run by hand:
//   SCTPLB_FUZZ_SEED_DIR=tests/fuzz/corpus/packet packet_test --gtest_also_run_disabled_tests
//       --gtest_filter='*WriteFuzzSeeds*'
TEST(PacketSeeds, DISABLED_WriteFuzzSeeds) {
    const char* dir = std::getenv("SCTPLB_FUZZ_SEED_DIR");
    ASSERT_NE(dir, nullptr) << "set SCTPLB_FUZZ_SEED_DIR";
    std::filesystem::create_directories(dir);
    for (const Case& c : cases()) {
        std::ofstream file(std::filesystem::path(dir) / (test_name(c.description) + ".bin"), std::ios::binary);
        file.write(reinterpret_cast<const char*>(c.packet.data()), static_cast<std::streamsize>(c.packet.size()));
        ASSERT_TRUE(file.good()) << c.description;
    }
}

}  // namespace
}  // namespace sctplb
