// Association sync costs: what journaling adds to the data path's association
// setup, and how many records per second one sync thread encodes + signs, and
// authenticates + merges. Reports only; never fails on a timing.
// See docs/performance.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "core/association_table.hpp"
#include "core/sync_engine.hpp"
#include "io/sync_key.hpp"
#include "core/sync_merge.hpp"
#include "core/sync_wire.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;

namespace {

constexpr std::uint32_t kCapacity = 1u << 18;  // 262144 associations: far beyond the caches
constexpr std::size_t kRecordsPerMessage = 15;  // as many as fit, two addresses each (dual-path clients)

struct Table {
    test::HeapTable table{TableLimits{.capacity = kCapacity, .half_open_capacity = kCapacity}};
};

SyncKeyring keys() {
    std::string error;
    return *SyncKeyring::parse("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", error);
}

// The data path's part of a new association (INIT, then COOKIE ECHO: insert,
// learn Ts, establish), with or without the sync's change journal.
void setup_associations(benchmark::State& state, bool journaled) {
    Table t;
    std::vector<std::uint64_t> ring(1u << 16);
    ChangeJournal journal(ring);
    if (journaled) t.table->set_journal(&journal);
    Counters counters;
    std::uint32_t i = 0;
    for (auto _ : state) {
        if (t.table->size() + 1 >= kCapacity) {
            state.PauseTiming();
            for (AssociationId id = 0; id < kCapacity; ++id)
                if (t.table->at(id).state != AssociationState::Free) t.table->remove(id);
            state.ResumeTiming();
        }
        const IpAddress addresses[] = {IpAddress::v4(0x0A000000u + i), IpAddress::v4(0x0B000000u + i)};
        const AssociationId id = t.table->insert_half_open(addresses, 36412, 36412, 2 * i + 1, 1 + i % 32, Nanos{1}, counters);
        t.table->set_ts(id, 2 * i + 2);
        t.table->establish(id, Nanos{1});
        if (journaled && (i & 1023) == 0) journal.drain([](AssociationId, std::uint32_t) {});
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["ns/setup"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
void BM_BaselineSetupWithoutSync(benchmark::State& state) { setup_associations(state, false); }
void BM_SetupJournaled(benchmark::State& state) { setup_associations(state, true); }
BENCHMARK(BM_BaselineSetupWithoutSync);
BENCHMARK(BM_SetupJournaled);

Association sample(std::uint32_t i) {
    Association a{};
    a.state = AssociationState::Established;
    a.sport = a.dport = 36412;
    a.tc = 2 * i + 1;
    a.ts = 2 * i + 2;
    a.fwmark = 1 + i % 32;
    a.address_count = 2;
    a.addresses[0] = IpAddress::v4(0x0A000000u + i);
    a.addresses[1] = IpAddress::v4(0x0B000000u + i);
    a.sync_version = 3;
    return a;
}

// Sender: records into a message, signed (HMAC-SHA256).
void BM_SyncEncodeAndSign(benchmark::State& state) {
    const SyncKeyring ring = keys();
    SyncMessageWriter writer;
    std::vector<Association> records;
    for (std::uint32_t i = 0; i < kRecordsPerMessage; ++i) records.push_back(sample(i));
    std::uint64_t sequence = 0;
    for (auto _ : state) {
        writer.begin(SyncHeader{.type = SyncType::Records, .key_id = ring.signing_key_id()});
        writer.put_u16(kRecordsPerMessage);
        for (const Association& a : records)
            if (!put_sync_record(writer, a, Nanos{1})) state.SkipWithError("records do not fit one message");
        benchmark::DoNotOptimize(writer.finish(++sequence, ring).data());
    }
    state.SetItemsProcessed(state.iterations() * kRecordsPerMessage);
    state.counters["ns/record"] = benchmark::Counter(static_cast<double>(state.iterations() * kRecordsPerMessage),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SyncEncodeAndSign);

// Receiver: authenticate and merge messages of new associations into a table.
void BM_SyncAuthenticateAndMerge(benchmark::State& state) {
    const SyncKeyring ring = keys();
    constexpr std::uint32_t kMessages = 4096;  // 61440 distinct associations, then refreshed
    std::vector<std::vector<std::byte>> messages;
    SyncMessageWriter writer;
    for (std::uint32_t m = 0; m < kMessages; ++m) {
        writer.begin(SyncHeader{.type = SyncType::Records, .key_id = ring.signing_key_id()});
        writer.put_u16(kRecordsPerMessage);
        for (std::uint32_t r = 0; r < kRecordsPerMessage; ++r) put_sync_record(writer, sample(m * kRecordsPerMessage + r), Nanos{1});
        const auto bytes = writer.finish(m + 1, ring);
        messages.emplace_back(bytes.begin(), bytes.end());
    }
    Table t;
    Counters counters;
    std::size_t k = 0;
    std::uint64_t applied = 0;
    for (auto _ : state) {
        SyncMessage message;
        if (open_sync_message(messages[k++ % kMessages], ring, message) != SyncRejection::None) {
            state.SkipWithError("a signed message did not open");
            break;
        }
        for_each_sync_record(message.body, Nanos{1}, [&](const SyncRecord& record) {
            const MergeOutcome outcome = merge_sync_record(*t.table, record, MergeContext{}, Nanos{1}, counters);
            applied += outcome == MergeOutcome::Inserted || outcome == MergeOutcome::Refreshed;
        });
    }
    if (applied != static_cast<std::uint64_t>(state.iterations()) * kRecordsPerMessage)
        state.SkipWithError("a record was not applied");
    state.SetItemsProcessed(state.iterations() * kRecordsPerMessage);
    state.counters["ns/record"] = benchmark::Counter(static_cast<double>(state.iterations() * kRecordsPerMessage),
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SyncAuthenticateAndMerge);

}  // namespace
