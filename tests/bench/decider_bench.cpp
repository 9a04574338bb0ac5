// decide() cost per packet and association setups per second.
// Reports only; never fails on a timing. See docs/performance.md.
#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <cstdlib>
#include <array>
#include <memory>
#include <random>
#include <vector>

#include "core/decider.hpp"
#include "core/maglev.hpp"

using namespace sctplb;

namespace {

// Packets visit associations in a random order this long (a power of two, more
// than the largest table): a 1M-association run then really misses the caches
// instead of cycling through a cache-resident subset.
constexpr std::size_t kOrderLength = std::size_t{1} << 21;

// Table memory as the daemon maps it: anonymous pages with transparent huge
// pages requested (a random lookup then costs cache misses, not TLB walks).
struct Mapping {
    explicit Mapping(std::size_t n) : size(n) {
        void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) std::abort();
        madvise(p, n, MADV_HUGEPAGE);
        bytes = static_cast<std::byte*>(p);
    }
    ~Mapping() { munmap(bytes, size); }
    std::size_t size;
    std::byte* bytes;
};

struct World {
    explicit World(std::uint32_t capacity)
        : limits{.capacity = capacity, .half_open_capacity = capacity},
          memory(AssociationTable::bytes_needed(limits)),
          table(*AssociationTable::create(std::span(memory.bytes, memory.size), limits, Timeouts{})),
          decider(DeciderConfig{HashMode::Vtag}, hash, table),
          maglev(65537) {
        std::vector<std::uint32_t> fwmarks;
        for (std::uint32_t i = 1; i <= 32; ++i) fwmarks.push_back(i);
        maglev_populate(hash, fwmarks, maglev);
        init.status = ParseStatus::Ok;
        init.has_init = true;
        init.chunk_count = 1;
        init.dport = 36412;
        init.sport = 36412;
        cookie = init;
        cookie.has_init = false;
        cookie.has_cookie_echo = true;
        data = cookie;
        data.has_cookie_echo = false;
    }
    // Client i: addresses a_i (path A) and b_i (path B), Tc = 2i+1, Ts = 2i+2.
    static IpAddress path_a(std::uint32_t i) { return IpAddress::v4(0x0A000000u + i); }
    static IpAddress path_b(std::uint32_t i) { return IpAddress::v4(0x0B000000u + i); }
    void setup(std::uint32_t i) {
        init.src = path_a(i);
        init.vtag = 0;
        init.init.initiate_tag = 2 * i + 1;
        init.init.addresses[0] = path_b(i);
        init.init.address_count = 1;
        decider.decide(init, Direction::In, maglev, now, counters);
        cookie.src = path_b(i);
        cookie.vtag = 2 * i + 2;
        decider.decide(cookie, Direction::In, maglev, now, counters);
    }

    KeyedHash hash;
    TableLimits limits;
    Mapping memory;
    AssociationTable table;
    Decider decider;
    std::vector<std::uint32_t> maglev;
    Counters counters;
    Nanos now{1};
    ParsedPacket init, cookie, data;
};

// An established DATA packet's key: association i on a random one of its two
// paths. Drawn before the timed region, so that a benchmark times the decision,
// not its own choice of the next packet.
struct DataKey {
    IpAddress src;
    std::uint32_t vtag = 0;
};
std::vector<DataKey> random_data_keys(std::uint32_t associations) {
    std::mt19937 rng(1);
    std::vector<DataKey> keys(kOrderLength);
    for (DataKey& key : keys) {
        const std::uint32_t i = rng() % associations;
        key = DataKey{(i & 1) ? World::path_a(i) : World::path_b(i), 2 * i + 2};
    }
    return keys;
}

// Established DATA on random associations and random paths.
void BM_DecideEstablished(benchmark::State& state) {
    const auto associations = static_cast<std::uint32_t>(state.range(0));
    World w(associations + associations / 4);
    for (std::uint32_t i = 0; i < associations; ++i) w.setup(i);
    const std::vector<DataKey> keys = random_data_keys(associations);
    std::size_t k = 0;
    std::uint64_t marked = 0;
    for (auto _ : state) {
        const DataKey& key = keys[k++ & (kOrderLength - 1)];
        w.data.src = key.src;
        w.data.vtag = key.vtag;
        const Verdict v = w.decider.decide(w.data, Direction::In, w.maglev, w.now, w.counters);
        marked += v.action == Action::AcceptMarked;
        benchmark::DoNotOptimize(v);
    }
    if (marked != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("a packet of a known association was not marked");
    state.SetItemsProcessed(state.iterations());
    state.counters["ns/packet"] = benchmark::Counter(
        static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DecideEstablished)->Arg(1'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

// The same, a batch of 64 at a time as the daemon receives them under load (recvmmsg), with
// decide_batch()'s pipelined prefetch (index slot 2D packets ahead, record D ahead).
void BM_DecideEstablishedBatched(benchmark::State& state) {
    const auto associations = static_cast<std::uint32_t>(state.range(0));
    constexpr std::size_t kBatch = 64;
    World w(associations + associations / 4);
    for (std::uint32_t i = 0; i < associations; ++i) w.setup(i);
    const std::vector<DataKey> keys = random_data_keys(associations);
    std::vector<ParsedPacket> batch(kBatch, w.data);
    std::array<const ParsedPacket*, kBatch> pointers{};
    for (std::size_t j = 0; j < kBatch; ++j) pointers[j] = &batch[j];
    std::array<Direction, kBatch> directions{};
    directions.fill(Direction::In);
    std::array<Verdict, kBatch> verdicts{};
    std::size_t k = 0;
    std::uint64_t marked = 0;
    for (auto _ : state) {
        // What the parse of a received batch writes (each packet's source and
        // vtag), copied from keys drawn before the timed region.
        for (auto& p : batch) {
            const DataKey& key = keys[k++ & (kOrderLength - 1)];
            p.src = key.src;
            p.vtag = key.vtag;
        }
        w.decider.decide_batch(pointers, directions, w.maglev, w.now, w.counters, verdicts);
        for (const Verdict& v : verdicts) marked += v.action == Action::AcceptMarked;
    }
    if (marked != static_cast<std::uint64_t>(state.iterations()) * kBatch)
        state.SkipWithError("a packet of a known association was not marked");
    state.SetItemsProcessed(state.iterations() * kBatch);
    state.counters["ns/packet"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DecideEstablishedBatched)->Arg(1'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);

// Baseline in the same run: the stateless choice nfqlb makes (hash the ports,
// one Maglev load), the floor any stateful decision is compared against.
void BM_BaselineStatelessPortsHash(benchmark::State& state) {
    World w(16);
    std::mt19937 rng(1);
    std::vector<std::uint16_t> ports(1 << 16);
    for (auto& p : ports) p = static_cast<std::uint16_t>(rng());
    std::size_t k = 0;
    for (auto _ : state) {
        const std::uint32_t fwmark = maglev_lookup(w.maglev, w.decider.ports_key(ports[k++ & 0xffff], 36412));
        benchmark::DoNotOptimize(fwmark);
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["ns/packet"] = benchmark::Counter(
        static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_BaselineStatelessPortsHash)->Unit(benchmark::kNanosecond);

// Baseline in the same run: the memory floor of any table lookup. A block the
// size of the association table at 1M associations; each "packet" reads one
// random line and then a second line chosen by what the first held (an index
// slot, then its record). Plain: one packet after the other. Batched: 32
// packets at a time, every first line prefetched, then every second line.
void BM_BaselineTwoDependentRandomReads(benchmark::State& state) {
    const bool batched = state.range(0) != 0;
    const std::size_t bytes = AssociationTable::bytes_needed(TableLimits{.capacity = 1'250'000});
    Mapping memory(bytes);
    const std::size_t lines = bytes / 64;
    auto* words = reinterpret_cast<std::uint64_t*>(memory.bytes);
    std::mt19937_64 rng(7);
    for (std::size_t i = 0; i < lines; ++i) words[i * 8] = rng() % lines;
    std::vector<std::uint64_t> first(kOrderLength);
    for (auto& f : first) f = rng() % lines;
    std::size_t k = 0;
    std::uint64_t sum = 0;
    constexpr std::size_t kBatch = 32;
    for (auto _ : state) {
        if (!batched) {
            const std::uint64_t second = words[first[k++ & (kOrderLength - 1)] * 8];
            sum += words[second * 8 + 1];
        } else {
            std::array<std::uint64_t, kBatch> a{}, b{};
            for (std::size_t j = 0; j < kBatch; ++j) {
                a[j] = first[(k + j) & (kOrderLength - 1)];
                __builtin_prefetch(&words[a[j] * 8]);
            }
            for (std::size_t j = 0; j < kBatch; ++j) {
                b[j] = words[a[j] * 8];
                __builtin_prefetch(&words[b[j] * 8]);
            }
            for (std::size_t j = 0; j < kBatch; ++j) sum += words[b[j] * 8 + 1];
            k += kBatch;
        }
    }
    benchmark::DoNotOptimize(sum);
    const auto packets = state.iterations() * (batched ? kBatch : 1);
    state.SetItemsProcessed(packets);
    state.counters["ns/packet"] = benchmark::Counter(static_cast<double>(packets),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_BaselineTwoDependentRandomReads)->Arg(0)->Arg(1)->Unit(benchmark::kNanosecond);

// One association setup = INIT (path A) + COOKIE ECHO (path B); the table is
// kept at a steady fill by removing the association set up `live` setups ago.
void BM_AssociationSetup(benchmark::State& state) {
    const std::uint32_t live = 100'000;
    World w(live + live / 2);
    std::uint32_t i = 0;
    for (auto _ : state) {
        w.setup(i);
        if (i >= live) {
            const std::uint32_t old = i - live;
            const AssociationId id =
                w.table.find_by_ts(World::path_a(old), 36412, 36412, 2 * old + 2, w.now).id;
            if (id != kNoAssociation) w.table.remove(id);
        }
        ++i;
    }
    if (w.counters.of(Reason::CookieEchoMatched) != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("a setup did not complete");
    state.SetItemsProcessed(state.iterations());
    state.counters["setups/s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AssociationSetup)->Unit(benchmark::kNanosecond);

// Setups as tests/bench/nfq-setups.sh drives them through the daemon, decided
// as the daemon does (decide_batch, 64 packets a batch): association r's INIT,
// the COOKIE ECHO of r - W, the SHUTDOWN of r - 2W, the SHUTDOWN COMPLETE of
// r - 3W, each association from its own address and port (64 addresses), in a
// 1M-slot table kept at `live` associations (the oldest closed one removed per
// setup, as the sweep would after the linger).
void BM_SetupsBatched(benchmark::State& state) {
    constexpr std::uint32_t kCapacity = 1u << 20;
    constexpr std::uint32_t kWindow = 256;
    constexpr std::uint32_t kBatch = 64;
    const auto live = static_cast<std::uint32_t>(state.range(0));
    World w(kCapacity);
    auto address = [](std::uint32_t a) { return IpAddress::v4(0x0A000000u + a % 64); };
    auto port = [](std::uint32_t a) { return static_cast<std::uint16_t>(1024 + (a / 64) % 64000); };
    auto ts_of = [](std::uint32_t a) { return 0x40000000u + a; };
    std::vector<ParsedPacket> packets(kBatch);
    std::vector<const ParsedPacket*> pointers;
    for (const ParsedPacket& p : packets) pointers.push_back(&p);
    const std::vector<Direction> directions(kBatch, Direction::In);
    std::vector<Verdict> verdicts(kBatch);
    std::uint32_t r = 0;  // the next round
    std::uint64_t setups = 0;
    for (auto _ : state) {
        std::size_t n = 0;
        while (n + 4 <= kBatch) {
            const ParsedPacket* templates[4] = {&w.init, &w.cookie, &w.data, &w.data};
            for (std::uint32_t step = 0; step < 4; ++step) {
                if (r < step * kWindow) continue;
                const std::uint32_t a = r - step * kWindow;
                ParsedPacket& p = packets[n++];
                p = *templates[step];
                p.src = address(a);
                p.sport = port(a);
                p.vtag = step == 0 ? 0 : ts_of(a);
                if (step == 0) {
                    p.init.initiate_tag = 1 + a;
                    p.init.address_count = 0;
                }
                p.has_shutdown_complete = step == 3;  // SHUTDOWN (step 2) is plain established
                if (step == 3) ++setups;
            }
            if (r >= 3 * kWindow + live) {  // the linger of an old closed association is over
                const std::uint32_t old = r - 3 * kWindow - live;
                const AssociationId id = w.table.find_by_ts(address(old), port(old), 36412, ts_of(old), w.now).id;
                if (id != kNoAssociation) w.table.remove(id);
            }
            ++r;
        }
        w.decider.decide_batch(std::span(pointers.data(), n), std::span(directions.data(), n), w.maglev, w.now,
                               w.counters, std::span(verdicts.data(), n));
    }
    if (w.counters.of(Reason::UnknownAssociation) != 0 || w.counters.of(Reason::TableFull) != 0)
        state.SkipWithError("a setup packet was not matched");
    state.SetItemsProcessed(static_cast<std::int64_t>(setups));
    state.counters["setups/s"] = benchmark::Counter(static_cast<double>(setups), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SetupsBatched)->Arg(200'000)->Unit(benchmark::kMicrosecond);

// The data path's table sweep (AssociationTable::expire): cost per slot visited
// in a 1M-slot table with a quarter of the slots live (none due), in the
// daemon's steps of up to capacity/100 slots (one 10 ms tick of a 1 s pass).
// The daemon sweeps a full pass every second whatever the traffic, so at
// capacity C this costs C x ns/slot of CPU per second.
void BM_SweepTable(benchmark::State& state) {
    constexpr std::uint32_t kCapacity = 1u << 20;
    World w(kCapacity);
    // Filled, then three of four slots freed: live records spread as after churn.
    for (std::uint32_t i = 0; i < kCapacity; ++i) w.setup(i);
    for (AssociationId id = 0; id < kCapacity; ++id)
        if (id % 4 != 0) w.table.remove(id);
    if (w.table.size() != kCapacity / 4) state.SkipWithError("the table was not filled");
    const std::size_t step = kCapacity / 100;
    for (auto _ : state)
        if (w.table.expire(w.now, step, w.counters) != 0) state.SkipWithError("a live association expired");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * step));
    state.counters["ns/slot"] = benchmark::Counter(static_cast<double>(state.iterations() * step),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SweepTable)->Unit(benchmark::kMicrosecond);

}  // namespace
