// PcapInput over files written here with libpcap itself (pcap_open_dead +
// pcap_dump), one per link-layer type, plus the pure L3 locator.
#include "io/pcap_input.hpp"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sctplb {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

std::span<const std::byte> as_bytes(const Bytes& bytes) {
    return std::as_bytes(std::span(bytes.data(), bytes.size()));
}

Bytes to_vector(std::span<const std::byte> bytes) {
    Bytes out;
    for (std::byte b : bytes) out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

// Recognisable IP datagram starts (the locator never looks inside them).
const Bytes kIpv4 = {0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x84, 0x00, 0x00,
                     0xc0, 0xa8, 0x02, 0xdd, 0x0a, 0x00, 0x00, 0x01, 0xaa, 0xbb, 0xcc, 0xdd};
const Bytes kIpv6 = concat({{0x60, 0x00, 0x00, 0x00, 0x00, 0x04, 0x84, 0x40}, Bytes(32, 0x20),
                            {0xde, 0xad, 0xbe, 0xef}});
const Bytes kMacs = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
const Bytes kArp = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01};

// Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, address (8), protocol.
Bytes sll_header(std::uint16_t protocol) {
    return {0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0,
            static_cast<std::uint8_t>(protocol >> 8), static_cast<std::uint8_t>(protocol)};
}
// Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address (8).
Bytes sll2_header(std::uint16_t protocol) {
    return {static_cast<std::uint8_t>(protocol >> 8), static_cast<std::uint8_t>(protocol), 0, 0, 0, 0,
            0, 3, 0x00, 0x01, 0x00, 0x06, 0x02, 0, 0, 0, 0, 1, 0, 0};
}

class TempDir {
public:
    TempDir() {
        path_ = std::filesystem::temp_directory_path() /
                ("sctplb-pcap-input-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

struct Frame {
    Bytes bytes;
    std::int64_t seconds = 1'700'000'000;
    std::int64_t fraction = 123'456'789;  // ns, or µs for microsecond files
    std::uint32_t wire_length = 0;        // 0: the captured length
};

// Writes `frames` with libpcap's own writer.
void write_pcap(const std::string& path, int link_type, const std::vector<Frame>& frames,
                bool nanosecond = true) {
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(
        link_type, 65535, nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    ASSERT_NE(dead, nullptr);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
    for (const auto& frame : frames) {
        pcap_pkthdr header{};
        header.ts.tv_sec = frame.seconds;
        header.ts.tv_usec = frame.fraction;
        header.caplen = static_cast<bpf_u_int32>(frame.bytes.size());
        header.len = frame.wire_length != 0 ? frame.wire_length : header.caplen;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.bytes.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

// A classic pcap file header written by hand, for link types libpcap will not write.
void write_raw_pcap(const std::string& path, std::uint32_t link_type, const Bytes& frame) {
    auto le32 = [](Bytes& out, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    Bytes file;
    le32(file, 0xa1b2c3d4);  // microsecond magic, little endian
    file.insert(file.end(), {2, 0, 4, 0});  // version 2.4
    le32(file, 0);
    le32(file, 0);
    le32(file, 65535);
    le32(file, link_type);
    le32(file, 1'700'000'000);
    le32(file, 250'000);
    le32(file, static_cast<std::uint32_t>(frame.size()));
    le32(file, static_cast<std::uint32_t>(frame.size()));
    file.insert(file.end(), frame.begin(), frame.end());
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(file.data()),
                                                static_cast<std::streamsize>(file.size()));
}

struct LinkCase {
    const char* name;
    int link_type;
    Bytes frame;
    bool is_ip;
    Bytes expected_ip;
};

std::vector<LinkCase> link_cases() {
    return {
        {"ethernet-ipv4", DLT_EN10MB, concat({kMacs, {0x08, 0x00}, kIpv4}), true, kIpv4},
        {"ethernet-ipv6", DLT_EN10MB, concat({kMacs, {0x86, 0xdd}, kIpv6}), true, kIpv6},
        {"ethernet-8021q", DLT_EN10MB, concat({kMacs, {0x81, 0x00, 0x00, 0x64, 0x08, 0x00}, kIpv4}),
         true, kIpv4},
        {"ethernet-qinq", DLT_EN10MB,
         concat({kMacs, {0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x64, 0x86, 0xdd}, kIpv6}), true,
         kIpv6},
        {"ethernet-old-qinq", DLT_EN10MB,
         concat({kMacs, {0x91, 0x00, 0x00, 0x0a, 0x08, 0x00}, kIpv4}), true, kIpv4},
        {"ethernet-arp", DLT_EN10MB, concat({kMacs, {0x08, 0x06}, kArp}), false, {}},
        {"ethernet-8021q-arp", DLT_EN10MB, concat({kMacs, {0x81, 0x00, 0x00, 0x64, 0x08, 0x06}, kArp}),
         false, {}},
        {"ethernet-802.3-length", DLT_EN10MB, concat({kMacs, {0x00, 0x26}, kIpv4}), false, {}},
        {"sll-ipv4", DLT_LINUX_SLL, concat({sll_header(0x0800), kIpv4}), true, kIpv4},
        {"sll-ipv6", DLT_LINUX_SLL, concat({sll_header(0x86dd), kIpv6}), true, kIpv6},
        {"sll-8021q", DLT_LINUX_SLL, concat({sll_header(0x8100), {0x00, 0x64, 0x08, 0x00}, kIpv4}),
         true, kIpv4},
        {"sll-arp", DLT_LINUX_SLL, concat({sll_header(0x0806), kArp}), false, {}},
        {"sll2-ipv4", DLT_LINUX_SLL2, concat({sll2_header(0x0800), kIpv4}), true, kIpv4},
        {"sll2-ipv6", DLT_LINUX_SLL2, concat({sll2_header(0x86dd), kIpv6}), true, kIpv6},
        {"sll2-8021q", DLT_LINUX_SLL2, concat({sll2_header(0x8100), {0x00, 0x64, 0x86, 0xdd}, kIpv6}),
         true, kIpv6},
        {"sll2-arp", DLT_LINUX_SLL2, concat({sll2_header(0x0806), kArp}), false, {}},
        {"raw-ipv4", DLT_RAW, kIpv4, true, kIpv4},
        {"raw-ipv6", DLT_RAW, kIpv6, true, kIpv6},
        {"ipv4", DLT_IPV4, kIpv4, true, kIpv4},
        {"ipv6", DLT_IPV6, kIpv6, true, kIpv6},
        {"null-inet-little-endian", DLT_NULL, concat({{2, 0, 0, 0}, kIpv4}), true, kIpv4},
        {"null-inet6-freebsd-big-endian", DLT_NULL, concat({{0, 0, 0, 28}, kIpv6}), true, kIpv6},
        {"null-inet6-linux-little-endian", DLT_NULL, concat({{10, 0, 0, 0}, kIpv6}), true, kIpv6},
        {"null-other-family", DLT_NULL, concat({{7, 0, 0, 0}, kIpv4}), false, {}},
        {"loop-inet", DLT_LOOP, concat({{0, 0, 0, 2}, kIpv4}), true, kIpv4},
        {"loop-inet6-openbsd", DLT_LOOP, concat({{0, 0, 0, 24}, kIpv6}), true, kIpv6},
    };
}

TEST(PcapInputTest, EveryLinkTypeYieldsTheIpDatagramAndNanosecondTimestamp) {
    TempDir dir;
    for (const auto& c : link_cases()) {
        SCOPED_TRACE(c.name);
        const std::string path = dir.file(std::string(c.name) + ".pcap");
        write_pcap(path, c.link_type, {Frame{c.frame}});
        std::string error;
        auto input = PcapInput::open(path, error);
        ASSERT_TRUE(input.has_value()) << error;
        EXPECT_EQ(input->link_type(), c.link_type);
        EXPECT_TRUE(input->nanosecond_precision());

        CapturedPacket packet;
        ASSERT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet) << error;
        EXPECT_EQ(packet.number, 1u);
        EXPECT_EQ(packet.timestamp.count(), 1'700'000'000'123'456'789);
        EXPECT_EQ(packet.captured_length, c.frame.size());
        EXPECT_EQ(packet.wire_length, c.frame.size());
        EXPECT_EQ(packet.is_ip, c.is_ip);
        EXPECT_EQ(to_vector(packet.ip), c.expected_ip);
        EXPECT_EQ(input->next(packet, error), PcapInput::ReadStatus::End);
    }
}

TEST(PcapInputTest, RawLinkTypesFromOtherSystemsAreRaw) {
    // 101 (LINKTYPE_RAW, reported as DLT_RAW 12) and 14 (OpenBSD's DLT_RAW).
    TempDir dir;
    for (std::uint32_t link_type : {12u, 14u, 101u}) {
        SCOPED_TRACE(link_type);
        const std::string path = dir.file("raw" + std::to_string(link_type) + ".pcap");
        write_raw_pcap(path, link_type, kIpv4);
        std::string error;
        auto input = PcapInput::open(path, error);
        ASSERT_TRUE(input.has_value()) << error;
        CapturedPacket packet;
        ASSERT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet) << error;
        EXPECT_TRUE(packet.is_ip);
        EXPECT_EQ(to_vector(packet.ip), kIpv4);
        // A microsecond file: the fraction is scaled to nanoseconds.
        EXPECT_EQ(packet.timestamp.count(), 1'700'000'000'250'000'000);
    }
}

TEST(PcapInputTest, MicrosecondFileTimestampsAreScaled) {
    TempDir dir;
    const std::string path = dir.file("micro.pcap");
    write_pcap(path, DLT_RAW, {Frame{kIpv4, 1'600'000'000, 654'321}}, /*nanosecond=*/false);
    std::string error;
    auto input = PcapInput::open(path, error);
    ASSERT_TRUE(input.has_value()) << error;
    CapturedPacket packet;
    ASSERT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet) << error;
    EXPECT_EQ(packet.timestamp.count(), 1'600'000'000'654'321'000);
}

TEST(PcapInputTest, PacketsAreNumberedFromOneIncludingNonIpFrames) {
    TempDir dir;
    const std::string path = dir.file("numbered.pcap");
    const Bytes ip_frame = concat({kMacs, {0x08, 0x00}, kIpv4});
    const Bytes arp_frame = concat({kMacs, {0x08, 0x06}, kArp});
    write_pcap(path, DLT_EN10MB,
               {Frame{ip_frame, 10, 1}, Frame{arp_frame, 10, 2}, Frame{ip_frame, 11, 0}});
    std::string error;
    auto input = PcapInput::open(path, error);
    ASSERT_TRUE(input.has_value()) << error;
    CapturedPacket packet;
    const std::vector<std::pair<bool, std::int64_t>> expected = {
        {true, 10'000'000'001}, {false, 10'000'000'002}, {true, 11'000'000'000}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet) << error;
        EXPECT_EQ(packet.number, i + 1);
        EXPECT_EQ(packet.is_ip, expected[i].first);
        EXPECT_EQ(packet.timestamp.count(), expected[i].second);
        if (!packet.is_ip) {
            EXPECT_TRUE(packet.ip.empty());
        }
    }
    EXPECT_EQ(input->next(packet, error), PcapInput::ReadStatus::End);
}

TEST(PcapInputTest, SnappedPacketReportsBothLengths) {
    TempDir dir;
    const std::string path = dir.file("snapped.pcap");
    const Bytes frame = concat({kMacs, {0x08, 0x00}, kIpv4});  // 38 bytes kept of 1514
    write_pcap(path, DLT_EN10MB, {Frame{frame, 1, 0, 1514}});
    std::string error;
    auto input = PcapInput::open(path, error);
    ASSERT_TRUE(input.has_value()) << error;
    CapturedPacket packet;
    ASSERT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet) << error;
    EXPECT_EQ(packet.captured_length, frame.size());
    EXPECT_EQ(packet.wire_length, 1514u);
    EXPECT_EQ(to_vector(packet.ip), kIpv4);  // only the captured bytes
}

TEST(PcapInputTest, UnsupportedLinkTypeIsAClearError) {
    TempDir dir;
    const std::string path = dir.file("wifi.pcap");
    write_pcap(path, DLT_IEEE802_11, {Frame{kIpv4}});
    std::string error;
    EXPECT_FALSE(PcapInput::open(path, error).has_value());
    EXPECT_NE(error.find("IEEE802_11"), std::string::npos) << error;
    EXPECT_NE(error.find("not supported"), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(PcapInputTest, MissingAndNonPcapFilesAreErrorsNamingTheFile) {
    TempDir dir;
    std::string error;
    const std::string missing = dir.file("missing.pcap");
    EXPECT_FALSE(PcapInput::open(missing, error).has_value());
    EXPECT_NE(error.find(missing), std::string::npos) << error;

    const std::string text = dir.file("text.pcap");
    std::ofstream(text) << "this is not a capture file, just text long enough\n";
    error.clear();
    EXPECT_FALSE(PcapInput::open(text, error).has_value());
    EXPECT_NE(error.find(text), std::string::npos) << error;
}

TEST(PcapInputTest, FileCutInsideARecordIsAReadError) {
    TempDir dir;
    const std::string path = dir.file("cut.pcap");
    write_pcap(path, DLT_RAW, {Frame{kIpv4}, Frame{kIpv4}});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
    std::string error;
    auto input = PcapInput::open(path, error);
    ASSERT_TRUE(input.has_value()) << error;
    CapturedPacket packet;
    EXPECT_EQ(input->next(packet, error), PcapInput::ReadStatus::Packet);
    EXPECT_EQ(input->next(packet, error), PcapInput::ReadStatus::Error);
    EXPECT_FALSE(error.empty());
}

TEST(FindIpDatagramTest, ShortOrOddFrames) {
    struct Case {
        const char* name;
        int link_type;
        Bytes frame;
        bool found;
        std::size_t ip_size;
    };
    const Bytes nine_tags = [] {
        Bytes frame = kMacs;
        for (int i = 0; i < 9; ++i) frame.insert(frame.end(), {0x81, 0x00, 0x00, 0x01});
        frame.insert(frame.end(), {0x08, 0x00});
        return concat({frame, kIpv4});
    }();
    const std::vector<Case> cases = {
        {"ethernet cut in the MACs", DLT_EN10MB, Bytes(10, 0), false, 0},
        {"ethernet header only", DLT_EN10MB, concat({kMacs, {0x08, 0x00}}), true, 0},
        {"vlan tag cut", DLT_EN10MB, concat({kMacs, {0x81, 0x00, 0x00}}), false, 0},
        {"more tags than walked", DLT_EN10MB, nine_tags, false, 0},
        {"sll cut", DLT_LINUX_SLL, Bytes(15, 0), false, 0},
        {"sll2 cut", DLT_LINUX_SLL2, Bytes{0x08, 0x00, 0, 0}, false, 0},
        {"null cut", DLT_NULL, Bytes{2, 0}, false, 0},
        {"raw empty", DLT_RAW, Bytes{}, true, 0},
        {"unsupported", DLT_IEEE802_11, kIpv4, false, 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto ip = find_ip_datagram(c.link_type, as_bytes(c.frame));
        EXPECT_EQ(ip.has_value(), c.found);
        if (ip) {
            EXPECT_EQ(ip->size(), c.ip_size);
        }
    }
}

TEST(FindIpDatagramTest, SupportedLinkTypes) {
    for (int supported : {0, 1, 12, 14, 101, 108, 113, 228, 229, 276})
        EXPECT_TRUE(link_type_supported(supported)) << supported;
    for (int unsupported : {105, 127, 147, 9, 50})
        EXPECT_FALSE(link_type_supported(unsupported)) << unsupported;
}

}  // namespace
}  // namespace sctplb
