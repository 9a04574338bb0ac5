// parse_packet() cost per packet (ns/packet = "Time" column; items_per_second = packets/s).
// Reports only: no threshold, a benchmark never fails a build on a timing.
#include "packet.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace sctplb {
namespace {

using Bytes = std::vector<std::byte>;

void put8(Bytes& b, unsigned v) { b.push_back(static_cast<std::byte>(v & 0xFF)); }
void put16(Bytes& b, unsigned v) {
    put8(b, v >> 8);
    put8(b, v);
}
void put32(Bytes& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}

// SCTP common header (RFC 9260 §3.1) + one DATA chunk with `payload` bytes of user data.
Bytes sctp_data(std::size_t payload) {
    Bytes b;
    put16(b, 5000);
    put16(b, 36412);
    put32(b, 0x11223344);
    put32(b, 0);  // CRC32c, not checked by the parser
    put8(b, 0);   // DATA
    put8(b, 0x03);
    put16(b, 16 + payload);
    put32(b, 1000);  // TSN
    put32(b, 0x00010000);  // stream 1, SSN 0
    put32(b, 18);  // PPID
    for (std::size_t i = 0; i < payload; ++i) put8(b, i);
    while (b.size() % 4 != 0) put8(b, 0);
    return b;
}

// SCTP common header (vtag 0) + INIT with `addresses` IPv4 Address parameters (RFC 9260 §3.3.2).
Bytes sctp_init(unsigned addresses) {
    Bytes b;
    put16(b, 5000);
    put16(b, 36412);
    put32(b, 0);
    put32(b, 0);
    put8(b, 1);
    put8(b, 0);
    put16(b, 20 + 8 * addresses);
    put32(b, 0xCAFEF00D);  // initiate tag
    put32(b, 65536);       // a_rwnd
    put16(b, 10);
    put16(b, 10);
    put32(b, 4242);  // initial TSN
    for (unsigned i = 0; i < addresses; ++i) {
        put16(b, 5);
        put16(b, 8);
        put32(b, 0xC0000200 + i + 1);  // 192.0.2.x
    }
    return b;
}

Bytes ipv4(const Bytes& payload) {
    Bytes b;
    put8(b, 0x45);
    put8(b, 0);
    put16(b, 20 + payload.size());
    put32(b, 0);
    put8(b, 64);
    put8(b, 132);
    put16(b, 0);
    put32(b, 0xC000020A);  // 192.0.2.10
    put32(b, 0xC6336401);  // 198.51.100.1
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

Bytes ipv6(const Bytes& payload) {
    Bytes b;
    put32(b, 0x60000000);
    put16(b, payload.size());
    put8(b, 132);
    put8(b, 64);
    for (std::uint32_t word : {0x20010db8u, 0u, 0u, 0x10u, 0x20010db8u, 0x01000000u, 0u, 1u}) put32(b, word);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
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
    const Bytes packet = ipv4(sctp_data(16));  // 20 + 12 + 32 = 64 bytes
    run(state, packet);
}
BENCHMARK(BM_ParseIpv4Data64);

void BM_ParseIpv6Data(benchmark::State& state) { run(state, ipv6(sctp_data(16))); }
BENCHMARK(BM_ParseIpv6Data);

void BM_ParseIpv4Init4Addresses(benchmark::State& state) { run(state, ipv4(sctp_init(4))); }
BENCHMARK(BM_ParseIpv4Init4Addresses);

}  // namespace
}  // namespace sctplb
