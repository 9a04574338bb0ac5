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

#include "raw_sender.hpp"
#include "sender_common.hpp"
#include "support/bytes.hpp"
#include "support/crc32c.hpp"

namespace {

using namespace sctplb::bench;

constexpr std::size_t kCookieBytes = 16;  // opaque to everyone but the server
// RFC 9260 §3.2 chunk types (INIT: sender_common.hpp).
constexpr std::uint8_t kChunkShutdown = 7;
constexpr std::uint8_t kChunkCookieEcho = 10;
constexpr std::uint8_t kChunkShutdownComplete = 14;
constexpr std::size_t kSteps = 4;  // client -> server packets per association
constexpr std::size_t kMaxPacketBytes = kIpHeaderBytes + kCommonHeaderBytes + 20;

struct Options : SenderOptions {
    std::uint32_t port_span = 64000;
    std::uint64_t first = 0;  // index of the first association (a later trial continues)
    std::uint32_t window = 256;
    double setups_per_second = 0;  // 0: as fast as possible
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
    const auto no_flags = [](std::string_view) { return false; };
    const auto option = [&](std::string_view name, std::string_view value) {
        if (name == "--port-span") return take_number<std::uint32_t>(value, o.port_span, 1, UINT32_MAX);
        if (name == "--first") return take_number<std::uint64_t>(value, o.first, 0, UINT64_MAX);
        if (name == "--window") return take_number<std::uint32_t>(value, o.window, 1, 1'000'000);
        if (name == "--rate") {
            const auto v = parse_double(value);
            if (!v) return OptionResult::bad;
            o.setups_per_second = *v;
            return OptionResult::taken;
        }
        return parse_sender_option(name, value, o);
    };
    if (auto error = parse_command_line(argc, argv, o, help, no_flags, option); error || help) return error;
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
    write_ipv4_sctp(p, length, o.destination, o.dport);
    std::memcpy(p + 12, &source, 4);
    std::byte* sctp = p + kIpHeaderBytes;
    store16(sctp, sport);
    store32(sctp + 4, step == 0 ? 0 : ts);  // an INIT's vtag is 0; after it the server's tag (§8.5)
    std::byte* chunk = sctp + kCommonHeaderBytes;
    switch (step) {
        case 0:
            write_init_chunk(chunk, tc, tc);
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
    store16(chunk + 2, static_cast<std::uint16_t>(kChunkBytes[step]));
    crc.store(sctp, length - kIpHeaderBytes);
    return length;
}

int run(const Options& o) {
    RawSender sender;
    if (!sender.open("sctp_setups")) return 1;
    const std::size_t batch = o.batch;
    sender.prepare(batch, kMaxPacketBytes, o.destination);
    const Crc32c crc;
    auto flush = [&](std::size_t count) { sender.send(count); };

    // Round r: INIT of r, COOKIE ECHO of r - W, SHUTDOWN of r - 2W, SHUTDOWN
    // COMPLETE of r - 3W (relative to --first). New INITs stop at the
    // deadline; the rounds go on until the last association is complete.
    const std::uint64_t w = o.window;
    std::uint64_t round = 0, started = 0;
    std::size_t filled = 0;
    const std::int64_t start = monotonic_ns();
    const std::int64_t end = start + static_cast<std::int64_t>(o.duration * 1e9);
    Pacer pacer(o.setups_per_second, start);
    bool starting = true;
    std::int64_t now = start;
    for (;; ++round) {
        if (starting && (round & 63) == 0) {
            now = monotonic_ns();
            if (now >= end) starting = false;
            if (starting && o.setups_per_second > 0) {
                if (const auto due = pacer.ahead(round, now)) {
                    if (filled) flush(filled), filled = 0;
                    sleep_until(*due);
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
            sender.set_length(filled, write_packet(sender.slot(filled), o, o.first + index, step, crc));
            if (++filled == batch) flush(filled), filled = 0;
        }
    }
    if (filled) flush(filled);
    now = monotonic_ns();
    const double seconds = static_cast<double>(now - start) * 1e-9;
    std::printf("sctp_setups: associations=%" PRIu64 " packets=%" PRIu64 " errors=%" PRIu64
                " seconds=%.3f setups_per_s=%.0f cpu=%.0f%% next=%" PRIu64 "\n",
                started, sender.sent(), sender.errors(), seconds,
                seconds > 0 ? static_cast<double>(started) / seconds : 0.0, cpu_percent(seconds), o.first + started);
    sender.report_errors("sctp_setups");
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
