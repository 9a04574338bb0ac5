// parse_packet() cost per packet (ns/packet = "Time" column; items_per_second = packets/s).
// Reports only: no threshold, a benchmark never fails a build on a timing.
#include "core/packet.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "support/packet_builder.hpp"

namespace sctplb {
namespace {

using namespace test;

// An INIT with `addresses` IPv4 Address parameters 192.0.2.1, 192.0.2.2, ...
Bytes init_with_addresses(unsigned addresses) {
    Bytes params;
    for (unsigned i = 0; i < addresses; ++i) params = params + param(kParamIpv4, be32(0xC0000200 + i + 1));
    return init_chunk(kInitiateTag, params);
}

void run(benchmark::State& state, const Bytes& packet) {
    ParsedPacket out;
    const ParseOptions options{};
    parse_packet(packet, options, out);
    if (!out.ok()) {
        state.SkipWithError("benchmark packet does not parse");
        return;
    }
    for (auto _ : state) {
        parse_packet(packet, options, out);
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["bytes"] = static_cast<double>(packet.size());
}

void BM_ParseIpv4Data64(benchmark::State& state) {
    const Bytes packet = ipv4(sctp(data_chunk(16)));  // 20 + 12 + 32 = 64 bytes
    run(state, packet);
}
BENCHMARK(BM_ParseIpv4Data64);

void BM_ParseIpv6Data(benchmark::State& state) { run(state, ipv6(kIpProtocolSctp, sctp(data_chunk(16)))); }
BENCHMARK(BM_ParseIpv6Data);

void BM_ParseIpv4Init4Addresses(benchmark::State& state) { run(state, ipv4(sctp(init_with_addresses(4), 0))); }
BENCHMARK(BM_ParseIpv4Init4Addresses);

}  // namespace
}  // namespace sctplb
