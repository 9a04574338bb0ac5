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

#include "sender_common.hpp"
#include "support/bytes.hpp"
#include "support/crc32c.hpp"

namespace {

using namespace sctplb::bench;

constexpr std::size_t kIpHeaderBytes = 20;
constexpr std::size_t kCommonHeaderBytes = 12;
constexpr std::size_t kDataChunkHeaderBytes = 16;
constexpr std::size_t kMinPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + kDataChunkHeaderBytes;
constexpr std::size_t kMaxPacketBytes = 1500;
constexpr std::size_t kInitChunkBytes = 20;  // RFC 9260 §3.3.2, no parameters
constexpr std::size_t kInitPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + kInitChunkBytes;
constexpr std::uint8_t kIpProtocolSctp = 132;
constexpr std::uint8_t kChunkData = 0x00;  // RFC 9260 §3.2
constexpr std::uint8_t kChunkInit = 0x01;
constexpr std::uint8_t kDataFlagsBeginEnd = 0x03;  // one unfragmented user message (§3.3.1)

struct Options {
    in_addr destination{};
    std::vector<in_addr> sources;
    std::uint32_t paths = 2;
    std::uint16_t dport = 36412;
    std::uint16_t sport_base = 10000;
    std::uint32_t associations = 1024;
    std::size_t packet_bytes = 64;
    double pps = 0;  // 0: as fast as possible
    double duration = 1.0;
    std::size_t batch = 64;
    bool crc = true;
    bool init = false;  // INITs with fresh tags instead of DATA (a flood of new associations)
    std::uint64_t seed = 1;
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
    bool have_destination = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view name = argv[i];
        if (name == "--help" || name == "-h" || name == "help") {
            help = true;
            return std::nullopt;
        }
        if (name == "--init") {
            o.init = true;
            o.packet_bytes = kInitPacketBytes;
            continue;
        }
        if (name == "--no-crc") {
            o.crc = false;
            continue;
        }
        if (i + 1 >= argc) return "option " + std::string(name) + " needs a value";
        const std::string_view value = argv[++i];
        const auto bad = [&] { return "bad value '" + std::string(value) + "' for " + std::string(name); };
        if (name == "--dst") {
            const auto address = parse_ipv4(value);
            if (!address) return bad();
            o.destination = *address;
            have_destination = true;
        } else if (name == "--src") {
            o.sources.clear();
            for (const auto part : split_commas(value)) {
                const auto address = parse_ipv4(part);
                if (!address) return bad();
                o.sources.push_back(*address);
            }
        } else if (name == "--paths") {
            const auto v = parse_number<std::uint32_t>(value);
            if (!v || *v == 0 || *v > 8) return bad();
            o.paths = *v;
        } else if (name == "--associations") {
            const auto v = parse_number<std::uint32_t>(value);
            if (!v || *v == 0 || *v > 65535) return bad();
            o.associations = *v;
        } else if (name == "--dport") {
            const auto v = parse_number<std::uint16_t>(value);
            if (!v || *v == 0) return bad();
            o.dport = *v;
        } else if (name == "--sport-base") {
            const auto v = parse_number<std::uint16_t>(value);
            if (!v || *v == 0) return bad();
            o.sport_base = *v;
        } else if (name == "--size") {
            const auto v = parse_number<std::size_t>(value);
            if (!v || *v < kMinPacketBytes || *v > kMaxPacketBytes) return bad();
            o.packet_bytes = *v;
        } else if (name == "--pps") {
            const auto v = parse_double(value);
            if (!v) return bad();
            o.pps = *v;
        } else if (name == "--duration") {
            const auto v = parse_double(value);
            if (!v || *v <= 0) return bad();
            o.duration = *v;
        } else if (name == "--batch") {
            const auto v = parse_number<std::size_t>(value);
            if (!v || *v == 0 || *v > 1024) return bad();
            o.batch = *v;
        } else if (name == "--seed") {
            const auto v = parse_number<std::uint64_t>(value);
            if (!v) return bad();
            o.seed = *v;
        } else if (name == "--export-associations") {
            if (value.empty()) return bad();
            o.export_file = value;
        } else if (name == "--fwmarks") {
            o.fwmarks.clear();
            for (const auto part : split_commas(value)) {
                const auto v = parse_number<std::uint32_t>(part);
                if (!v || *v == 0) return bad();
                o.fwmarks.push_back(*v);
            }
        } else {
            return "unknown option " + std::string(name);
        }
    }
    if (!have_destination) return std::string("--dst is required");
    if (o.sources.empty()) return std::string("--src is required");
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
    std::memset(p, 0, o.packet_bytes);
    p[0] = std::byte{0x45};                                        // IPv4, 20-byte header
    store16(p + 2, static_cast<std::uint16_t>(o.packet_bytes));       // total length
    store16(p + 6, 0x4000);                                          // DF; id 0: the kernel fills it
    p[8] = std::byte{64};                                          // TTL
    p[9] = std::byte{kIpProtocolSctp};
    std::memcpy(p + 16, &o.destination, 4);                        // network order already
    std::byte* sctp = p + kIpHeaderBytes;
    store16(sctp + 2, o.dport);
    std::byte* chunk = sctp + kCommonHeaderBytes;
    if (o.init) {
        chunk[0] = std::byte{kChunkInit};
        store16(chunk + 2, static_cast<std::uint16_t>(kInitChunkBytes));
        store32(chunk + 8, 65536);  // a_rwnd
        store16(chunk + 12, 10);    // outbound streams
        store16(chunk + 14, 10);    // inbound streams
        store32(chunk + 16, 1);     // initial TSN
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
    // IPPROTO_RAW implies IP_HDRINCL: we write the source address of each path.
    const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) {
        std::fprintf(stderr, "sctp_blast: raw socket: %s (needs CAP_NET_RAW)\n", std::strerror(errno));
        return 1;
    }
    const int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // best effort
    prctl(PR_SET_TIMERSLACK, 1UL);  // paced sends wake on time, not 50 µs late

    // Paced sends keep whole batches (a smaller one costs the sender more per
    // packet than the receiver gains in smoothness): at 100 kpps a burst of 64
    // every 640 µs, far below any queue length. Only very low rates shrink it.
    std::size_t batch = o.batch;
    if (o.pps > 0) batch = std::max<std::size_t>(1, std::min(batch, static_cast<std::size_t>(o.pps * 1e-3)));
    std::vector<std::byte> buffers(batch * o.packet_bytes);
    std::vector<iovec> iovecs(batch);
    std::vector<mmsghdr> messages(batch);
    sockaddr_in destination{};
    destination.sin_family = AF_INET;
    destination.sin_addr = o.destination;
    for (std::size_t i = 0; i < batch; ++i) {
        write_template(&buffers[i * o.packet_bytes], o);
        iovecs[i] = iovec{&buffers[i * o.packet_bytes], o.packet_bytes};
        messages[i].msg_hdr = msghdr{};
        messages[i].msg_hdr.msg_name = &destination;
        messages[i].msg_hdr.msg_namelen = sizeof destination;
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    const Crc32c crc;
    std::vector<std::uint32_t> tsn(associations.size());
    for (std::size_t i = 0; i < tsn.size(); ++i) tsn[i] = static_cast<std::uint32_t>(splitmix64(o.seed + i));

    const std::uint64_t n = associations.size();
    std::uint64_t next = 0;  // index of the next packet to build
    std::uint64_t sent = 0, errors = 0;
    int last_errno = 0;
    const std::int64_t start = monotonic_ns();
    const auto end = start + static_cast<std::int64_t>(o.duration * 1e9);
    // Pacing: packet number `scheduled_base + k` is due at schedule_start + k / pps.
    std::int64_t schedule_start = start;
    std::uint64_t scheduled_base = 0;
    // Preempted for longer (a busy machine): restart the schedule rather than
    // catch up with a burst that could overflow a queue the steady rate would not.
    const std::int64_t max_lag_ns = 5'000'000;
    std::int64_t now = start;
    while (now < end) {
        if (o.pps > 0) {
            const auto due = schedule_start + static_cast<std::int64_t>(static_cast<double>(next - scheduled_base) * 1e9 / o.pps);
            if (due > now) {
                sleep_until(std::min(due, end));
                now = monotonic_ns();
                if (now >= end) break;
            } else if (now - due > max_lag_ns) {
                schedule_start = now;
                scheduled_base = next;
            }
        }
        for (std::size_t i = 0; i < batch; ++i, ++next) {
            const std::uint64_t a = next % n;
            const std::uint64_t round = next / n;
            const AssociationSpec& spec = associations[a];
            const in_addr source = o.sources[(spec.first_address + round % o.paths) % o.sources.size()];
            write_variable(&buffers[i * o.packet_bytes], o, spec, source, tsn[a]++,
                           static_cast<std::uint16_t>(round), crc);
        }
        std::size_t done = 0;
        while (done < batch) {
            const int r = sendmmsg(fd, messages.data() + done, static_cast<unsigned>(batch - done), 0);
            if (r > 0) {
                done += static_cast<std::size_t>(r);
                sent += static_cast<std::uint64_t>(r);
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            // ENOBUFS and the like: that packet is lost at the sender; count it, go on.
            last_errno = errno;
            ++errors;
            ++done;
        }
        now = monotonic_ns();
    }
    const double seconds = static_cast<double>(now - start) * 1e-9;
    // CPU time of this process over wall time: ~100 % at full rate means the
    // sender was the limit; much less means it lost its CPU to someone else.
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    std::printf("sctp_blast: sent=%" PRIu64 " errors=%" PRIu64 " seconds=%.3f pps=%.0f cpu=%.0f%%\n", sent, errors,
                seconds, seconds > 0 ? static_cast<double>(sent) / seconds : 0.0,
                seconds > 0 ? 100.0 * cpu_seconds / seconds : 0.0);
    if (errors) std::fprintf(stderr, "sctp_blast: last send error: %s\n", std::strerror(last_errno));
    close(fd);
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
