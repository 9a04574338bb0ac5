// nfq_marker: a test helper on sctplb's NfQueue. Marks each SCTP packet with
// (destination port % N) + 1, or a fixed mark, keeping the bits outside
// --mask; optionally logs every packet, including the wire length when the copy
// range cut it. Used by tests/integration/test-nfqueue.sh.
#include <cstdio>
#include <string>
#include <string_view>

#include "core/byte_view.hpp"
#include "nfq_tool.hpp"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: nfq_marker [options]\n"
                 "Marks NFQUEUE packets; prints counters on SIGTERM/SIGINT.\n%s"
                 "  --modulo N        mark = (SCTP destination port %% N) + 1\n"
                 "  --mark M          fixed mark (when no --modulo, or for non-SCTP packets)\n"
                 "  --mask M          only these mark bits change (default 0xffffffff)\n"
                 "  --log             one line per packet\n"
                 "  --help            this text\n",
                 nfq_tool::kQueueOptionsHelp);
}

constexpr std::uint8_t kSctp = 132;

// The SCTP destination port of an IPv4 or IPv6 packet without extension headers.
std::optional<std::uint16_t> sctp_destination_port(std::span<const std::byte> payload) {
    const sctplb::ByteView packet(payload);
    const auto first = packet.u8(0);
    if (!first) return std::nullopt;
    if ((*first >> 4) == 4) {
        const std::size_t header_length = static_cast<std::size_t>(*first & 0x0f) * 4;
        if (packet.u8(9) != kSctp || header_length < 20) return std::nullopt;
        return packet.be16(header_length + 2);  // RFC 9260 §3.1: source port, destination port
    }
    if ((*first >> 4) == 6) {
        if (packet.u8(6) != kSctp) return std::nullopt;
        return packet.be16(40 + 2);
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    sctplb::NfQueueOptions options;
    std::uint32_t modulo = 0;
    std::uint32_t fixed_mark = 0;
    std::uint32_t mask = 0xffffffff;
    bool log = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view name = argv[i];
        if (name == "--help" || name == "help" || name == "-h") {
            usage();
            return 0;
        }
        if (name == "--fail-open" || name == "--no-batch-verdict" || name == "--log") {
            if (name == "--fail-open") options.fail_open = true;
            if (name == "--no-batch-verdict") options.use_batch_verdict = false;
            if (name == "--log") log = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const std::string_view value = argv[++i];
        std::optional<std::uint32_t> number;
        if (name == "--modulo" || name == "--mark" || name == "--mask") {
            number = nfq_tool::parse_number<std::uint32_t>(value);
            if (!number || (name == "--modulo" && *number == 0)) {
                usage();
                return 2;
            }
            (name == "--modulo" ? modulo : name == "--mark" ? fixed_mark : mask) = *number;
        } else if (!nfq_tool::parse_queue_option(name, value, options)) {
            usage();
            return 2;
        }
    }

    auto queue = nfq_tool::open_queue("nfq_marker", options);
    if (!queue) return 1;

    double first_packet = 0, last_packet = 0;
    const bool ok = queue->run(
        nfq_tool::stop_requested,
        [&](std::span<const sctplb::QueuedPacket> packets, std::span<sctplb::PacketVerdict> out) {
            last_packet = nfq_tool::now_seconds();
            if (first_packet == 0) first_packet = last_packet;
            for (std::size_t i = 0; i < packets.size(); ++i) {
                const auto& packet = packets[i];
                const auto port = sctp_destination_port(packet.payload);
                std::uint32_t mark = fixed_mark;
                if (modulo != 0 && port) mark = *port % modulo + 1;
                if (mark != 0) out[i].mark = sctplb::apply_mark(packet.mark, mark, mask);
                if (log) {
                    std::printf("packet id=%u payload=%zu wire=%u hw=0x%04x dport=%d old_mark=0x%x mark=0x%x%s\n",
                                packet.id, packet.payload.size(), packet.wire_length, packet.hw_protocol,
                                port ? static_cast<int>(*port) : -1, packet.mark, out[i].mark.value_or(packet.mark),
                                packet.truncated() ? " truncated" : "");
                }
            }
            if (log) std::fflush(stdout);
        });
    nfq_tool::print_stats("nfq_marker", queue->stats(), first_packet, last_packet);
    if (!ok) {
        std::fprintf(stderr, "nfq_marker: %s\n", queue->last_error().c_str());
        return 1;
    }
    return 0;
}
