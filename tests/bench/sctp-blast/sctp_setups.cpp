// sctp_setups: plays the client side of many short SCTP associations through
// a raw IPv4 socket, so tests/bench/nfq-setups.sh can measure association
// setups per second through a load balancer without an SCTP stack (the host
// kernel has none).
//
// Association a lives INIT -> (INIT ACK) -> COOKIE ECHO -> (COOKIE ACK) ->
// SHUTDOWN -> (SHUTDOWN ACK) -> SHUTDOWN COMPLETE (RFC 9260 §5.1, §9.2). Under
// direct server return the load balancer sees only the client -> server
// packets, which are the ones sent here:
//   INIT               vtag 0, Initiate Tag Tc, no address parameters (the
//                      source is the association's only address, §5.1.2):
//                      the LB creates a half-open entry and picks a server
//   COOKIE ECHO        vtag Ts (the Initiate Tag of the server's INIT ACK,
//                      which the LB never saw): matched to the half-open
//                      entry by address and ports, Ts learned, established
//   SHUTDOWN           vtag Ts (§9.2)
//   SHUTDOWN COMPLETE  vtag Ts, T bit clear: the LB closes the entry
// The server's answers go straight to the client and cost the LB nothing.
//
// Each association has its own (source address, source port): address
// a % S, port base + (a / S) mod span. Packets are pipelined: round r sends
// the INIT of association r, the COOKIE ECHO of r - W, the SHUTDOWN of r - 2W
// and the SHUTDOWN COMPLETE of r - 3W, so the load balancer always has W
// associations in each state. When the time is up, the tail is sent too:
// every association started is completed. CRC32c per RFC 9260 Appendix A.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

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
constexpr std::size_t kCookieBytes = 16;  // opaque to everyone but the server
constexpr std::uint8_t kIpProtocolSctp = 132;
// RFC 9260 §3.2 chunk types.
constexpr std::uint8_t kChunkInit = 1;
constexpr std::uint8_t kChunkShutdown = 7;
constexpr std::uint8_t kChunkCookieEcho = 10;
constexpr std::uint8_t kChunkShutdownComplete = 14;
constexpr std::size_t kSteps = 4;  // client -> server packets per association
constexpr std::size_t kMaxPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + 20;

struct Options {
    in_addr destination{};
    std::vector<in_addr> sources;
    std::uint16_t dport = 36412;
    std::uint16_t sport_base = 1024;
    std::uint32_t port_span = 64000;
    std::uint64_t first = 0;  // index of the first association (a later trial continues)
    std::uint32_t window = 256;
    double setups_per_second = 0;  // 0: as fast as possible
    double duration = 1.0;
    std::size_t batch = 64;
    std::uint64_t seed = 1;
};

void usage(FILE* out) {
    std::fputs(
        "usage: sctp_setups --dst ADDR --src ADDR[,ADDR...] [options]\n"
        "Sends INIT, COOKIE ECHO, SHUTDOWN, SHUTDOWN COMPLETE of many associations (the client\n"
        "side of a setup and teardown under direct server return) over a raw IPv4 socket.\n"
        "Prints: sctp_setups: associations=N packets=P errors=E seconds=S setups_per_s=R cpu=C% next=F\n"
        "  --dst ADDR        destination (the VIP), IPv4\n"
        "  --src LIST        client addresses; association a uses address a mod count\n"
        "  --dport P         destination port (default 36412)\n"
        "  --sport-base P    lowest source port (default 1024)\n"
        "  --port-span N     source ports per address (default 64000): a (address, port) pair\n"
        "                    repeats after count * span associations\n"
        "  --first N         index of the first association (default 0): give the 'next' a\n"
        "                    previous run printed so that pairs are not reused\n"
        "  --window W        associations between one step and the next (default 256)\n"
        "  --rate R          offered setups/s (default 0: as fast as possible)\n"
        "  --duration S      seconds to start associations (default 1; the tail follows)\n"
        "  --batch N         packets per sendmmsg, 1..1024 (default 64)\n"
        "  --seed N          derives the tags (default 1)\n",
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
        } else if (name == "--dport" || name == "--sport-base") {
            const auto v = parse_number<std::uint16_t>(value);
            if (!v || *v == 0) return bad();
            (name == "--dport" ? o.dport : o.sport_base) = *v;
        } else if (name == "--port-span") {
            const auto v = parse_number<std::uint32_t>(value);
            if (!v || *v == 0) return bad();
            o.port_span = *v;
        } else if (name == "--first") {
            const auto v = parse_number<std::uint64_t>(value);
            if (!v) return bad();
            o.first = *v;
        } else if (name == "--window") {
            const auto v = parse_number<std::uint32_t>(value);
            if (!v || *v == 0 || *v > 1'000'000) return bad();
            o.window = *v;
        } else if (name == "--rate") {
            const auto v = parse_double(value);
            if (!v) return bad();
            o.setups_per_second = *v;
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
        } else {
            return "unknown option " + std::string(name);
        }
    }
    if (!have_destination) return std::string("--dst is required");
    if (o.sources.empty()) return std::string("--src is required");
    if (std::uint32_t{o.sport_base} + o.port_span - 1 > 65535)
        return std::string("--sport-base + --port-span exceeds port 65535");
    return std::nullopt;
}

using sctplb::test::Crc32c;
using sctplb::test::store16;
using sctplb::test::store32;

// Writes step `step` (0 INIT, 1 COOKIE ECHO, 2 SHUTDOWN, 3 SHUTDOWN COMPLETE)
// of association `a` into `p`; returns the IP packet's length.
std::size_t write_packet(std::byte* p, const Options& o, std::uint64_t a, std::size_t step, const Crc32c& crc) {
    const std::uint32_t tc = nonzero_tag(o.seed * 0x9e3779b97f4a7c15ull + 2 * a);
    const std::uint32_t ts = nonzero_tag(o.seed * 0x9e3779b97f4a7c15ull + 2 * a + 1);
    const in_addr source = o.sources[a % o.sources.size()];
    const auto sport = static_cast<std::uint16_t>(o.sport_base + (a / o.sources.size()) % o.port_span);
    static constexpr std::array<std::size_t, kSteps> kChunkBytes = {
        20,                // INIT without parameters (§3.3.2)
        4 + kCookieBytes,  // COOKIE ECHO (§3.3.11)
        8,                 // SHUTDOWN: Cumulative TSN Ack (§3.3.8)
        4,                 // SHUTDOWN COMPLETE (§3.3.13)
    };
    const std::size_t length = kIpHeaderBytes + kCommonHeaderBytes + kChunkBytes[step];
    std::memset(p, 0, length);
    p[0] = std::byte{0x45};  // IPv4, 20-byte header
    store16(p + 2, static_cast<std::uint16_t>(length));
    store16(p + 6, 0x4000);  // DF; id 0: the kernel fills it
    p[8] = std::byte{64};
    p[9] = std::byte{kIpProtocolSctp};
    std::memcpy(p + 12, &source, 4);
    std::memcpy(p + 16, &o.destination, 4);
    std::byte* sctp = p + kIpHeaderBytes;
    store16(sctp, sport);
    store16(sctp + 2, o.dport);
    store32(sctp + 4, step == 0 ? 0 : ts);  // an INIT's vtag is 0; after it the server's tag (§8.5)
    std::byte* chunk = sctp + kCommonHeaderBytes;
    store16(chunk + 2, static_cast<std::uint16_t>(kChunkBytes[step]));
    switch (step) {
        case 0:
            chunk[0] = std::byte{kChunkInit};
            store32(chunk + 4, tc);      // Initiate Tag
            store32(chunk + 8, 65536);   // a_rwnd
            store16(chunk + 12, 10);     // outbound streams
            store16(chunk + 14, 10);     // inbound streams
            store32(chunk + 16, tc);     // initial TSN
            break;
        case 1:
            chunk[0] = std::byte{kChunkCookieEcho};
            store32(chunk + 4, ts);
            store32(chunk + 8, tc);
            break;
        case 2:
            chunk[0] = std::byte{kChunkShutdown};
            store32(chunk + 4, ts - 1);  // nothing received: the server's initial TSN - 1
            break;
        default: chunk[0] = std::byte{kChunkShutdownComplete}; break;  // T bit clear: vtag is Ts
    }
    crc.store(sctp, length - kIpHeaderBytes);
    return length;
}

int run(const Options& o) {
    // IPPROTO_RAW implies IP_HDRINCL: we write each association's source address.
    const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) {
        std::fprintf(stderr, "sctp_setups: raw socket: %s (needs CAP_NET_RAW)\n", std::strerror(errno));
        return 1;
    }
    const int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);  // best effort
    prctl(PR_SET_TIMERSLACK, 1UL);

    const std::size_t batch = o.batch;
    std::vector<std::byte> buffers(batch * kMaxPacketBytes);
    std::vector<iovec> iovecs(batch);
    std::vector<mmsghdr> messages(batch);
    sockaddr_in destination{};
    destination.sin_family = AF_INET;
    destination.sin_addr = o.destination;
    for (std::size_t i = 0; i < batch; ++i) {
        iovecs[i] = iovec{&buffers[i * kMaxPacketBytes], 0};
        messages[i].msg_hdr = msghdr{};
        messages[i].msg_hdr.msg_name = &destination;
        messages[i].msg_hdr.msg_namelen = sizeof destination;
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    const Crc32c crc;
    std::uint64_t sent = 0, errors = 0;
    int last_errno = 0;
    auto flush = [&](std::size_t count) {
        std::size_t done = 0;
        while (done < count) {
            const int r = sendmmsg(fd, messages.data() + done, static_cast<unsigned>(count - done), 0);
            if (r > 0) {
                done += static_cast<std::size_t>(r);
                sent += static_cast<std::uint64_t>(r);
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            last_errno = errno;  // ENOBUFS and the like: lost at the sender; counted
            ++errors;
            ++done;
        }
    };

    // Round r: INIT of r, COOKIE ECHO of r - W, SHUTDOWN of r - 2W, SHUTDOWN
    // COMPLETE of r - 3W (relative to --first). New INITs stop at the
    // deadline; the rounds go on until the last association is complete.
    const std::uint64_t w = o.window;
    std::uint64_t round = 0, started = 0;
    std::size_t filled = 0;
    const std::int64_t start = monotonic_ns();
    const std::int64_t end = start + static_cast<std::int64_t>(o.duration * 1e9);
    std::int64_t schedule_start = start;
    std::uint64_t scheduled_base = 0;
    const std::int64_t max_lag_ns = 5'000'000;  // behind by more: restart the schedule, no burst
    bool starting = true;
    std::int64_t now = start;
    for (;; ++round) {
        if (starting && (round & 63) == 0) {
            now = monotonic_ns();
            if (now >= end) starting = false;
            if (starting && o.setups_per_second > 0) {
                const auto due = schedule_start +
                                 static_cast<std::int64_t>(static_cast<double>(round - scheduled_base) * 1e9 / o.setups_per_second);
                if (due > now) {
                    if (filled) flush(filled), filled = 0;
                    sleep_until(due);
                } else if (now - due > max_lag_ns) {
                    schedule_start = now;
                    scheduled_base = round;
                }
            }
        }
        if (!starting && round >= started + (kSteps - 1) * w) break;  // the last one is complete
        for (std::size_t step = 0; step < kSteps; ++step) {
            std::uint64_t index = round;
            if (step == 0) {
                if (!starting) continue;
                ++started;
            } else {
                if (round < step * w) continue;
                index = round - step * w;
                if (index >= started) continue;  // never started: nothing to continue
            }
            iovecs[filled].iov_len = write_packet(&buffers[filled * kMaxPacketBytes], o, o.first + index, step, crc);
            if (++filled == batch) flush(filled), filled = 0;
        }
    }
    if (filled) flush(filled);
    now = monotonic_ns();
    const double seconds = static_cast<double>(now - start) * 1e-9;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    std::printf("sctp_setups: associations=%" PRIu64 " packets=%" PRIu64 " errors=%" PRIu64
                " seconds=%.3f setups_per_s=%.0f cpu=%.0f%% next=%" PRIu64 "\n",
                started, sent, errors, seconds, seconds > 0 ? static_cast<double>(started) / seconds : 0.0,
                seconds > 0 ? 100.0 * cpu_seconds / seconds : 0.0, o.first + started);
    if (errors) std::fprintf(stderr, "sctp_setups: last send error: %s\n", std::strerror(last_errno));
    close(fd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    bool help = false;
    if (const auto error = parse_options(argc, argv, options, help)) {
        std::fprintf(stderr, "sctp_setups: %s (try --help)\n", error->c_str());
        return 2;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    return run(options);
}
