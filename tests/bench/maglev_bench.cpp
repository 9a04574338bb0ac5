// Maglev population (configuration time) and the per-packet lookup
// (keyed hash of the INIT key + one table load). Reports only.
#include "core/keyed_hash.hpp"
#include "core/maglev.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace sctplb {
namespace {

std::vector<std::uint32_t> make_fwmarks(std::size_t count) {
    std::vector<std::uint32_t> fwmarks;
    for (std::size_t i = 0; i < count; ++i) {
        fwmarks.push_back(100 + static_cast<std::uint32_t>(i));
    }
    return fwmarks;
}

// Args: {M, N}.
void BM_MaglevPopulate(benchmark::State& state) {
    const KeyedHash hash;
    const auto m = static_cast<std::size_t>(state.range(0));
    const auto fwmarks = make_fwmarks(static_cast<std::size_t>(state.range(1)));
    std::vector<std::uint32_t> table(m);
    for (auto _ : state) {
        const bool ok = maglev_populate(hash, fwmarks, table);
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(table.data());
        benchmark::ClobberMemory();
    }
}
BENCHMARK(BM_MaglevPopulate)->Args({65537, 100})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MaglevPopulate)->Args({997, 32})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MaglevPopulate)->Args({65537, 1000})->Unit(benchmark::kMillisecond);

// The INIT decision's hashing and lookup: key = (ports, Initiate Tag).
// Arg: M.
void BM_MaglevLookup(benchmark::State& state) {
    const KeyedHash hash;
    std::vector<std::uint32_t> table(static_cast<std::size_t>(state.range(0)));
    if (!maglev_populate(hash, make_fwmarks(100), table)) {
        state.SkipWithError("populate failed");
        return;
    }
    std::uint32_t initiate_tag = 0x12345678;
    for (auto _ : state) {
        const std::uint64_t ports = (std::uint64_t{36412} << 16) | 36412;
        const std::uint32_t fwmark = maglev_lookup(table, hash.hash_u64_pair(ports, initiate_tag));
        benchmark::DoNotOptimize(fwmark);
        initiate_tag = initiate_tag * 2654435761u + 1;  // a new key each packet
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MaglevLookup)->Arg(997);
BENCHMARK(BM_MaglevLookup)->Arg(65537);

void BM_KeyedHashU64(benchmark::State& state) {
    const KeyedHash hash;
    std::uint64_t key = 1;
    for (auto _ : state) {
        benchmark::DoNotOptimize(hash.hash_u64(key));
        ++key;
    }
}
BENCHMARK(BM_KeyedHashU64);

}  // namespace
}  // namespace sctplb
