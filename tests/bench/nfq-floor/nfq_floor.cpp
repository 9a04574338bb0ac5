// nfq_floor: the minimal NFQUEUE loop on sctplb's NfQueue: accept every packet,
// optionally with a fixed mark. Its packet rate is the floor reference for the
// load balancer's benchmarks (the NFQUEUE round trip, not the LB logic, is the
// wall). Prints its counters on SIGTERM/SIGINT.
#include <cstdio>
#include <string>
#include <string_view>

#include "nfq_tool.hpp"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: nfq_floor [options]\n"
                 "Accepts every packet of an NFQUEUE; prints counters on SIGTERM/SIGINT.\n%s"
                 "  --mark M          set fwmark M on every packet (decimal or 0x..)\n"
                 "  --help            this text\n",
                 nfq_tool::kQueueOptionsHelp);
}

}  // namespace

int main(int argc, char** argv) {
    sctplb::NfQueueOptions options;
    std::optional<std::uint32_t> mark;
    for (int i = 1; i < argc; ++i) {
        const std::string_view name = argv[i];
        if (name == "--help" || name == "help" || name == "-h") {
            usage();
            return 0;
        }
        if (name == "--fail-open") {
            options.fail_open = true;
            continue;
        }
        if (name == "--no-batch-verdict") {
            options.use_batch_verdict = false;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        const std::string_view value = argv[++i];
        if (name == "--mark") {
            mark = nfq_tool::parse_number<std::uint32_t>(value);
            if (!mark) {
                usage();
                return 2;
            }
        } else if (!nfq_tool::parse_queue_option(name, value, options)) {
            usage();
            return 2;
        }
    }

    auto queue = nfq_tool::open_queue("nfq_floor", options);
    if (!queue) return 1;

    double first_packet = 0, last_packet = 0;
    const bool ok = queue->run(nfq_tool::stop_requested,
                               [&](std::span<const sctplb::QueuedPacket>, std::span<sctplb::PacketVerdict> out) {
                                   last_packet = nfq_tool::now_seconds();
                                   if (first_packet == 0) first_packet = last_packet;
                                   if (mark) {
                                       for (auto& verdict : out) verdict.mark = *mark;
                                   }
                               });
    nfq_tool::print_stats("nfq_floor", queue->stats(), first_packet, last_packet);
    if (!ok) {
        std::fprintf(stderr, "nfq_floor: %s\n", queue->last_error().c_str());
        return 1;
    }
    return 0;
}
