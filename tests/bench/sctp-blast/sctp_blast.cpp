// sctp_blast: sends small SCTP DATA packets of many associations as fast as it
// can, or at a fixed rate, through a raw IPv4 socket (IP_HDRINCL), so the
// NFQUEUE throughput benchmark (tests/bench/nfq-throughput.sh) can load a load
// balancer without an SCTP stack (the host kernel has none).
//
// Packet k belongs to association k % N and leaves from that association's
// path (k / N) % P, so every association shows up on all its paths and the
// load balancer sees a spread of keys. Each packet is one IPv4 header, the
// SCTP common header (RFC 9260 §3.1) and one DATA chunk (§3.3.1) with B and E
// set, a per-association TSN and SSN, and (unless --no-crc) a correct CRC32c
// (RFC 9260 Appendix A).
//
// --export-associations FILE writes the same associations as an
// `sctplb assoc --import` document (lb/io/association_export.hpp) and exits:
// the load balancer then knows every (address, ports, Ts) key before the first
// packet, as after a real handshake.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raw_sender.hpp"
#include "sender_common.hpp"
#include "support/bytes.hpp"
#include "support/crc32c.hpp"

namespace {

using namespace sctplb::bench;

constexpr std::size_t kDataChunkHeaderBytes = 16;
constexpr std::size_t kMinPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + kDataChunkHeaderBytes;
constexpr std::size_t kMaxPacketBytes = 1500;
constexpr std::size_t kInitPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + kInitChunkBytes;
constexpr std::uint8_t kChunkData = 0x00;  // RFC 9260 §3.2
constexpr std::uint8_t kDataFlagsBeginEnd = 0x03;  // one unfragmented user message (§3.3.1)

struct Options : SenderOptions {
    Options() { sport_base = 10000; }
    std::uint32_t paths = 2;
    std::uint32_t associations = 1024;
    std::size_t packet_bytes = 64;
    double pps = 0;  // 0: as fast as possible
    bool crc = true;
    bool init = false;  // INITs with fresh tags instead of DATA (a flood of new associations)
    std::string export_file;
    std::vector<std::uint32_t> fwmarks{1};
};

void usage(FILE* out) {
    std::fputs(
        "usage: sctp_blast --dst ADDR --src ADDR[,ADDR...] [options]\n"
        "Sends 1-chunk SCTP DATA packets of many associations over a raw IPv4 socket.\n"
        "Prints: sctp_blast: sent=N errors=E seconds=S pps=R cpu=C%\n"
        "  --dst ADDR             destination (the VIP), IPv4\n"
        "  --src LIST             client addresses; association i uses --paths consecutive\n"
        "                         ones starting at (i * paths) mod count\n"
        "  --paths P              addresses (paths) per association (default 2)\n"
        "  --associations N       associations, each its own source port and tags (default 1024)\n"
        "  --dport P              destination port (default 36412)\n"
        "  --sport-base P         source port of association 0; i uses base + i (default 10000)\n"
        "  --size BYTES           IP packet size, 48..1500 (default 64)\n"
        "  --pps R                offered packets/s (default 0: as fast as possible)\n"
        "  --duration S           seconds to send (default 1)\n"
        "  --batch N              packets per sendmmsg, 1..1024 (default 64)\n"
        "  --no-crc               leave the CRC32c zero (cheaper; receivers that check drop them)\n"
        "  --init                 send INITs (vtag 0, a new Initiate Tag each packet, 52-byte packets):\n"
        "                         an INIT flood\n"
        "  --seed N               derives the tags (default 1)\n"
        "  --export-associations FILE\n"
        "                         write the associations as an 'sctplb assoc --import'\n"
        "                         document and exit without sending\n"
        "  --fwmarks M[,M...]     targets for the export, round robin (default 1)\n",
        out);
}

// Returns an error text, or nothing when the options are good.
std::optional<std::string> parse_options(int argc, char** argv, Options& o, bool& help) {
    const auto flag = [&](std::string_view name) {
        if (name == "--init") {
            o.init = true;
            o.packet_bytes = kInitPacketBytes;
            return true;
        }
        if (name == "--no-crc") {
            o.crc = false;
            return true;
        }
        return false;
    };
    const auto option = [&](std::string_view name, std::string_view value) {
        if (name == "--paths") return take_number<std::uint32_t>(value, o.paths, 1, 8);
        if (name == "--associations") return take_number<std::uint32_t>(value, o.associations, 1, 65535);
        if (name == "--size") return take_number<std::size_t>(value, o.packet_bytes, kMinPacketBytes, kMaxPacketBytes);
        if (name == "--pps") {
            const auto v = parse_double(value);
            if (!v) return OptionResult::bad;
            o.pps = *v;
            return OptionResult::taken;
        }
        if (name == "--export-associations") {
            if (value.empty()) return OptionResult::bad;
            o.export_file = value;
            return OptionResult::taken;
        }
        if (name == "--fwmarks") {
            o.fwmarks.clear();
            for (const auto part : split_commas(value)) {
                const auto v = parse_number<std::uint32_t>(part);
                if (!v || *v == 0) return OptionResult::bad;
                o.fwmarks.push_back(*v);
            }
            return OptionResult::taken;
        }
        return parse_sender_option(name, value, o);
    };
    if (auto error = parse_command_line(argc, argv, o, help, flag, option); error || help) return error;
    if (o.paths > o.sources.size()) return std::string("--paths is larger than the number of --src addresses");
    if (std::uint32_t{o.sport_base} + o.associations - 1 > 65535)
        return std::string("--sport-base + --associations exceeds port 65535");
    return std::nullopt;
}

// ---- associations ------------------------------------------------------------

struct AssociationSpec {
    std::uint16_t sport;
    std::uint32_t tc;  // client's tag (what an INIT would have carried)
    std::uint32_t ts;  // server's tag: the vtag of every client -> server DATA packet
    std::uint32_t first_address;  // index into Options::sources
};

std::vector<AssociationSpec> make_associations(const Options& o) {
    std::vector<AssociationSpec> out(o.associations);
    for (std::uint32_t i = 0; i < o.associations; ++i) {
        out[i].sport = static_cast<std::uint16_t>(o.sport_base + i);
        out[i].tc = nonzero_tag(o.seed * 0x100000000ull + 2 * i);
        out[i].ts = nonzero_tag(o.seed * 0x100000000ull + 2 * i + 1);
        out[i].first_address = static_cast<std::uint32_t>((std::uint64_t{i} * o.paths) % o.sources.size());
    }
    return out;
}

std::string address_text(in_addr address) {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &address, text, sizeof text);
    return text;
}

// The document lb/io/association_export.hpp reads (format version 1).
bool export_associations(const Options& o, const std::vector<AssociationSpec>& associations) {
    const std::string temporary = o.export_file + ".tmp";
    FILE* out = std::fopen(temporary.c_str(), "w");
    if (out == nullptr) {
        std::fprintf(stderr, "sctp_blast: %s: %s\n", temporary.c_str(), std::strerror(errno));
        return false;
    }
    const std::int64_t now = monotonic_ns();
    std::fprintf(out, "{\"format\":\"sctplb-associations\",\"version\":1,\"exported_monotonic_ns\":%" PRId64
                      ",\"associations\":[",
                 now);
    for (std::size_t i = 0; i < associations.size(); ++i) {
        const AssociationSpec& a = associations[i];
        std::string addresses;
        for (std::uint32_t p = 0; p < o.paths; ++p)
            addresses += (p ? ",\"" : "\"") + address_text(o.sources[(a.first_address + p) % o.sources.size()]) + "\"";
        std::fprintf(out,
                     "%s\n{\"state\":\"established\",\"sport\":%u,\"dport\":%u,\"tc\":\"0x%08" PRIx32
                     "\",\"ts\":\"0x%08" PRIx32 "\",\"fwmark\":%" PRIu32
                     ",\"addresses\":[%s],\"server_addresses\":[],\"pending_tc\":\"0x00000000\","
                     "\"old_tags_linger\":false,\"old_tc\":\"0x00000000\",\"old_ts\":\"0x00000000\","
                     "\"created_ns\":%" PRId64 ",\"last_seen_ns\":%" PRId64 ",\"state_since_ns\":%" PRId64
                     ",\"old_tags_until_ns\":0}",
                     i ? "," : "", static_cast<unsigned>(a.sport), static_cast<unsigned>(o.dport), a.tc, a.ts,
                     o.fwmarks[i % o.fwmarks.size()], addresses.c_str(), now, now, now);
    }
    std::fputs("\n]}\n", out);
    if (std::fclose(out) != 0 || std::rename(temporary.c_str(), o.export_file.c_str()) != 0) {
        std::fprintf(stderr, "sctp_blast: %s: %s\n", o.export_file.c_str(), std::strerror(errno));
        return false;
    }
    std::printf("sctp_blast: exported %zu associations to %s\n", associations.size(), o.export_file.c_str());
    return true;
}

// ---- packets -----------------------------------------------------------------

using sctplb::test::Crc32c;
using sctplb::test::store16;
using sctplb::test::store32;

// Fills the fixed parts once; write_variable() sets what changes per packet.
void write_template(std::byte* p, const Options& o) {
    write_ipv4_sctp(p, o.packet_bytes, o.destination, o.dport);
    std::byte* sctp = p + kIpHeaderBytes;
    std::byte* chunk = sctp + kCommonHeaderBytes;
    if (o.init) {
        write_init_chunk(chunk, 0, 1);  // the Initiate Tag is per packet: write_variable()
        return;
    }
    chunk[0] = std::byte{kChunkData};
    chunk[1] = std::byte{kDataFlagsBeginEnd};
    // Chunk length excludes padding (§3.2); the user data is whatever fits.
    const std::size_t user_data = o.packet_bytes - kMinPacketBytes;
    store16(chunk + 2, static_cast<std::uint16_t>(kDataChunkHeaderBytes + user_data));
    // The IP total length may not be a multiple of 4 when --size is odd: the
    // chunk is then unpadded, which receivers tolerate only as the last chunk.
}

void write_variable(std::byte* p, const Options& o, const AssociationSpec& a, in_addr source, std::uint32_t tsn,
                    std::uint16_t ssn, const Crc32c& crc) {
    std::memcpy(p + 12, &source, 4);
    std::byte* sctp = p + kIpHeaderBytes;
    store16(sctp, a.sport);
    store32(sctp + 4, o.init ? 0 : a.ts);  // an INIT's vtag is 0 (§8.5.1)
    store32(sctp + 8, 0);
    std::byte* chunk = sctp + kCommonHeaderBytes;
    if (o.init) {
        store32(chunk + 4, nonzero_tag(a.tc ^ (std::uint64_t{tsn} << 32) ^ ssn));  // a fresh Initiate Tag
    } else {
        store32(chunk + 4, tsn);
        store16(chunk + 8, 0);     // stream 0
        store16(chunk + 10, ssn);  // stream sequence number
    }
    if (o.crc) crc.store(sctp, o.packet_bytes - kIpHeaderBytes);
}

int send_packets(const Options& o, const std::vector<AssociationSpec>& associations) {
    RawSender sender;
    if (!sender.open("sctp_blast")) return 1;

    // Paced sends keep whole batches (a smaller one costs the sender more per
    // packet than the receiver gains in smoothness): at 100 kpps a burst of 64
    // every 640 µs, far below any queue length. Only very low rates shrink it.
    std::size_t batch = o.batch;
    if (o.pps > 0) batch = std::max<std::size_t>(1, std::min(batch, static_cast<std::size_t>(o.pps * 1e-3)));
    sender.prepare(batch, o.packet_bytes, o.destination);
    for (std::size_t i = 0; i < batch; ++i) write_template(sender.slot(i), o);
    const Crc32c crc;
    std::vector<std::uint32_t> tsn(associations.size());
    for (std::size_t i = 0; i < tsn.size(); ++i) tsn[i] = static_cast<std::uint32_t>(splitmix64(o.seed + i));

    const std::uint64_t n = associations.size();
    std::uint64_t next = 0;  // index of the next packet to build
    const std::int64_t start = monotonic_ns();
    const auto end = start + static_cast<std::int64_t>(o.duration * 1e9);
    Pacer pacer(o.pps, start);
    std::int64_t now = start;
    while (now < end) {
        if (o.pps > 0) {
            if (const auto due = pacer.ahead(next, now)) {
                sleep_until(std::min(*due, end));
                now = monotonic_ns();
                if (now >= end) break;
            }
        }
        for (std::size_t i = 0; i < batch; ++i, ++next) {
            const std::uint64_t a = next % n;
            const std::uint64_t round = next / n;
            const AssociationSpec& spec = associations[a];
            const in_addr source = o.sources[(spec.first_address + round % o.paths) % o.sources.size()];
            write_variable(sender.slot(i), o, spec, source, tsn[a]++,
                           static_cast<std::uint16_t>(round), crc);
        }
        sender.send(batch);
        now = monotonic_ns();
    }
    const double seconds = static_cast<double>(now - start) * 1e-9;
    std::printf("sctp_blast: sent=%" PRIu64 " errors=%" PRIu64 " seconds=%.3f pps=%.0f cpu=%.0f%%\n",
                sender.sent(), sender.errors(), seconds,
                seconds > 0 ? static_cast<double>(sender.sent()) / seconds : 0.0, cpu_percent(seconds));
    sender.report_errors("sctp_blast");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    bool help = false;
    if (const auto error = parse_options(argc, argv, options, help)) {
        std::fprintf(stderr, "sctp_blast: %s (try --help)\n", error->c_str());
        return 2;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    const auto associations = make_associations(options);
    if (!options.export_file.empty()) return export_associations(options, associations) ? 0 : 1;
    return send_packets(options, associations);
}
