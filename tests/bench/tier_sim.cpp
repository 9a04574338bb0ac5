// The LB tier at scale, by simulation: the real sync engine (lb/core/sync_engine)
// of N instances exchanging datagrams over an in-memory network in simulated
// time, under a setup rate with churn (closes, SCTP association restarts) and
// one instance rebooting with an empty table and pulling it from its peers.
// Prints one row per N: how long a new association takes to reach every live
// instance (simulated time: set by the engine's batching and the sync thread's
// 1 ms poll, not by this machine's speed), datagrams and bytes per second per
// instance, CPU (real time spent in the engine) per record and per instance,
// memory per instance, and whether every instance ends with the same view.
// Reports only; never fails on a timing (exit 1 only when the instances
// disagree). See docs/performance.md and docs/tier-scaling.md.
//   tier_sim [--quick] [--instances 2,4,8,16] [--associations N] [--rate SETUPS_PER_S]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "core/sync_engine.hpp"
#include "io/sync_key.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;
using namespace std::chrono_literals;

namespace {

// The simulated network: a datagram sent in one quantum is received in the
// next (one-way delay of a LAN hop plus the receiver's wake-up).
constexpr Nanos kQuantum = 250us;
// lb/io/sync_service: the sync thread polls with a 1 ms timeout and works
// when something arrived, the journal has entries or the engine is busy, or
// 10 ms passed (the coarse timers).
constexpr Nanos kPollTimeout = 1ms;
constexpr Nanos kIdleTickInterval = 10ms;
constexpr Nanos kRebootDowntime = 500ms;  // below peer_down_after: peers retransmit, then lose it
constexpr std::uint16_t kPort = 36412;
constexpr std::uint32_t kTargets = 32;

// CPU time of this thread: on a shared machine the wall clock also counts
// the time other processes held the CPU.
std::int64_t cpu_ns() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// One client association of the workload: two client addresses (two paths).
struct Client {
    std::uint32_t tc;
    std::uint32_t ts;
    std::uint32_t fwmark;
    Nanos created;
    bool closed = false;
    bool restarted = false;
    bool lost = false;  // only its instance knew it, and that instance rebooted
    [[nodiscard]] IpAddress address(std::uint32_t k, int path) const {
        return IpAddress::v4((path == 0 ? 0x0A000000u : 0x0B000000u) + k);
    }
};

struct Instance {
    std::unique_ptr<test::HeapTable> table;
    std::vector<SyncReplayWindow> windows;
    std::unique_ptr<SyncEngine> engine;
    Counters counters;
    std::uint64_t epoch = 0;
    bool down = false;
    Nanos last_wake{0};
    Nanos last_tick{0};
    std::int64_t engine_ns = 0;  // CPU time in on_datagram/collect/tick
    std::uint64_t datagrams_sent = 0;
    std::uint64_t bytes_sent = 0;
    std::size_t peak_unacked = 0;  // messages kept for retransmission, over all peers
    struct Arrival {
        std::size_t peer;
        std::vector<std::byte> bytes;
    };
    std::vector<Arrival> inbox;  // received in this quantum
};

struct Result {
    std::vector<Nanos> reach;  // per association: created -> present on every live instance
    std::uint64_t datagrams = 0, bytes = 0;  // sent by all instances during the load
    std::int64_t engine_ns = 0;              // all instances, the whole run
    std::uint64_t records_applied = 0;       // all instances
    std::size_t table_bytes = 0;
    std::size_t peak_unacked = 0;
    Nanos load_time{0};
    Nanos reboot_ready{-1};        // reboot -> engine ready (every peer sent its table)
    std::uint64_t reboot_records = 0;  // records the rebooted instance received in table dumps
    std::size_t lost = 0;        // made on the rebooting instance and not sent before it went
    std::size_t unreached = 0;   // never reached every live instance
    std::size_t mismatches = 0;
    std::size_t checked = 0;
};

class SimulatedTier {
public:
    SimulatedTier(std::size_t n, std::uint32_t capacity) : n_(n), limits_{.capacity = capacity} {
        std::string error;
        keys_ = SyncKeyring::parse("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", error);
        timeouts_.closed_linger = std::chrono::hours(1);  // the run checks closed entries at the end
        for (std::size_t i = 0; i < n; ++i) {
            instances_.emplace_back();
            boot(i, true);
        }
    }

    // (Re)starts instance i; a reboot loses the table (and the shared memory
    // holding the replay windows), so the instance pulls it from its peers.
    void boot(std::size_t i, bool empty_table) {
        Instance& s = instances_[i];
        if (s.engine) (*s.table)->set_journal(nullptr);
        s.engine.reset();
        if (empty_table) {
            s.table = std::make_unique<test::HeapTable>(limits_, timeouts_);
            s.windows.assign(n_ - 1, SyncReplayWindow{});
        }
        SyncEngineOptions o;
        o.instance = 1000 + i;
        o.epoch = ++s.epoch;
        o.peer_count = n_ - 1;
        s.engine = std::make_unique<SyncEngine>(o, **s.table, *keys_, std::span(s.windows), now_);
        (*s.table)->set_journal(&s.engine->journal());
        s.down = false;
        s.last_wake = s.last_tick = now_;
        s.inbox.clear();
    }

    // One quantum: every live instance's sync thread, as lb/io/sync_service runs it.
    void step() {
        for (std::size_t i = 0; i < n_; ++i) {
            Instance& s = instances_[i];
            if (s.down) {
                s.inbox.clear();
                continue;
            }
            SyncEngine& e = *s.engine;
            const bool received = !s.inbox.empty();
            if (!received && now_ - s.last_wake < kPollTimeout) continue;
            s.last_wake = now_;
            const std::int64_t begin = cpu_ns();
            for (const auto& a : s.inbox) e.on_datagram(a.peer, a.bytes, now_, s.counters);
            s.inbox.clear();
            const bool work = received || e.journal().has_entries() || e.busy() || now_ - s.last_tick >= kIdleTickInterval;
            if (work) {
                s.last_tick = now_;
                e.collect(now_);
                e.tick(now_);
            }
            s.engine_ns += cpu_ns() - begin;
            std::size_t unacked = 0;
            for (std::size_t k = 0; k < e.peer_count(); ++k) unacked += e.peer_status(k).unacked;
            s.peak_unacked = std::max(s.peak_unacked, unacked);
            for (auto& out : e.outgoing()) {
                const std::size_t j = out.peer < i ? out.peer : out.peer + 1;
                ++s.datagrams_sent;
                s.bytes_sent += out.bytes.size();
                in_flight_.push_back({j, i < j ? i : i - 1, std::move(out.bytes)});
            }
            e.outgoing().clear();
        }
        // Sent in this quantum, received in the next.
        for (auto& f : in_flight_) instances_[f.to].inbox.push_back({f.from_peer, std::move(f.bytes)});
        in_flight_.clear();
        now_ += kQuantum;
    }

    [[nodiscard]] Nanos now() const { return now_; }
    [[nodiscard]] std::size_t size() const { return n_; }
    Instance& instance(std::size_t i) { return instances_[i]; }
    AssociationTable& table(std::size_t i) { return **instances_[i].table; }

private:
    struct InFlight {
        std::size_t to;
        std::size_t from_peer;
        std::vector<std::byte> bytes;
    };
    std::size_t n_;
    TableLimits limits_;
    Timeouts timeouts_;
    std::optional<SyncKeyring> keys_;
    std::vector<Instance> instances_;
    std::vector<InFlight> in_flight_;
    Nanos now_{100s};
};

// Whether association k is on instance i as on the instance that made it:
// found through either path's address by its current Ts, same target, same state.
double ms(Nanos t) { return std::chrono::duration<double, std::milli>(t).count(); }

bool present(AssociationTable& t, const Client& c, std::uint32_t k, Nanos now, AssociationState* state = nullptr,
             std::uint32_t* fwmark = nullptr) {
    const auto a = t.find_by_ts(c.address(k, 0), kPort, kPort, c.ts, now);
    const auto b = t.find_by_ts(c.address(k, 1), kPort, kPort, c.ts, now);
    if (a.id == kNoAssociation || a.id != b.id) return false;
    if (state) *state = t.at(a.id).state;
    if (fwmark) *fwmark = t.at(a.id).fwmark;
    return true;
}

Result run(std::size_t n, std::uint32_t associations, std::uint32_t rate) {
    Result r;
    const std::uint32_t capacity = associations + associations / 4;
    SimulatedTier tier(n, capacity);
    std::mt19937_64 random(42 + n);
    for (int i = 0; i < 200; ++i) tier.step();  // start: every instance pulls the (empty) tables

    std::vector<Client> clients;
    clients.reserve(associations);
    struct Pending {
        std::uint32_t k;
        std::uint32_t reached;  // bit set per instance that has it (n <= 32)
    };
    std::vector<Pending> pending;
    const std::size_t rebooting = n - 1;
    const std::uint32_t reboot_at = associations / 2;
    Nanos reboot_time{-1};
    Nanos back_time{-1};
    double owed = 0;  // setups due but not made yet (fractional per quantum)
    const Nanos load_start = tier.now();
    std::uint64_t datagrams0 = 0, bytes0 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        datagrams0 += tier.instance(i).datagrams_sent;
        bytes0 += tier.instance(i).bytes_sent;
    }
    const auto live = [&](std::size_t i) { return !tier.instance(i).down; };
    const auto random_live = [&] {
        for (;;) {
            const std::size_t i = random() % n;
            if (live(i)) return i;
        }
    };
    Counters counters;
    // One quantum, bringing the rebooted instance back when its downtime is over.
    const auto advance = [&] {
        const Nanos now = tier.now();
        if (reboot_time >= Nanos{0} && back_time < Nanos{0} && now - reboot_time >= kRebootDowntime) {
            tier.boot(rebooting, true);
            back_time = now;
        }
        if (back_time >= Nanos{0} && r.reboot_ready < Nanos{0} && tier.instance(rebooting).engine->ready()) {
            r.reboot_ready = now - back_time;
            r.reboot_records = tier.instance(rebooting).engine->stats().of(SyncCounter::TableRecordsReceived);
        }
        tier.step();
    };
    Nanos load_end{-1};
    while (clients.size() < associations || !pending.empty()) {
        const Nanos now = tier.now();
        if (clients.size() == associations && load_end < Nanos{0}) load_end = now;
        if (load_end >= Nanos{0} && now - load_end > 2s) {
            r.unreached = pending.size();
            break;
        }
        // Setups: each through the instance ECMP hashed its INIT to.
        owed += static_cast<double>(rate) * std::chrono::duration<double>(kQuantum).count();
        while (owed >= 1 && clients.size() < associations) {
            owed -= 1;
            const auto k = static_cast<std::uint32_t>(clients.size());
            Client c{2 * k + 1, 2 * k + 2, 1 + static_cast<std::uint32_t>(random() % kTargets), now};
            AssociationTable& t = tier.table(random_live());
            const IpAddress addresses[] = {c.address(k, 0), c.address(k, 1)};
            const AssociationId id = t.insert_half_open(addresses, kPort, kPort, c.tc, c.fwmark, now, counters);
            if (id == kNoAssociation) {
                std::fprintf(stderr, "tier_sim: table full\n");
                std::exit(2);
            }
            t.set_ts(id, c.ts);
            t.establish(id, now);
            clients.push_back(c);
            pending.push_back({k, 0});
            // Churn: one in ten closes (ABORT seen by one instance), one in a
            // hundred restarts (new tags), each on an association older than 50 ms.
            const auto churn = [&](bool close) {
                const std::uint32_t old = static_cast<std::uint32_t>(random() % clients.size());
                Client& o = clients[old];
                if (o.closed || o.restarted || o.lost || now - o.created < 50ms) return;
                AssociationTable& ot = tier.table(random_live());
                const auto found = ot.find_by_ts(o.address(old, 0), kPort, kPort, o.ts, now);
                if (found.id == kNoAssociation) return;
                if (close) {
                    ot.set_state(found.id, AssociationState::Closed, now);
                    o.closed = true;
                } else {
                    o.tc |= 0x80000000u;
                    o.ts |= 0x80000000u;
                    ot.mark_restart_pending(found.id, o.tc, now);
                    ot.complete_restart(found.id, o.ts, now);
                    o.restarted = true;
                }
            };
            if (k % 10 == 5) churn(true);
            if (k % 100 == 7) churn(false);
            // Churn: one instance reboots with an empty table and pulls it.
            if (k == reboot_at && n > 1) {
                // What only it knew is gone (its client retransmits the
                // COOKIE ECHO, RFC 9260 §5.1, and another instance takes it).
                std::erase_if(pending, [&](const Pending& p) {
                    if (p.reached & ~(1u << rebooting)) return false;
                    clients[p.k].lost = true;
                    ++r.lost;
                    return true;
                });
                tier.instance(rebooting).down = true;
                tier.table(rebooting).set_journal(nullptr);
                reboot_time = now;
            }
        }
        advance();
        // Which new associations every live instance knows now.
        const Nanos after = tier.now();
        std::uint32_t live_mask = 0;
        for (std::size_t i = 0; i < n; ++i)
            if (live(i)) live_mask |= 1u << i;
        std::erase_if(pending, [&](Pending& p) {
            const Client& c = clients[p.k];
            for (std::size_t i = 0; i < n; ++i)
                if (live(i) && !(p.reached >> i & 1) && present(tier.table(i), c, p.k, after)) p.reached |= 1u << i;
            if ((p.reached & live_mask) != live_mask) return false;
            r.reach.push_back(after - c.created);
            return true;
        });
    }
    r.load_time = tier.now() - load_start;
    for (std::size_t i = 0; i < n; ++i) {
        r.datagrams += tier.instance(i).datagrams_sent;
        r.bytes += tier.instance(i).bytes_sent;
    }
    r.datagrams -= datagrams0;
    r.bytes -= bytes0;
    // Settle: acknowledgements, the rebooted instance's table transfer.
    for (Nanos end = tier.now() + 1s; tier.now() < end || back_time < Nanos{0};) advance();
    // Every association on every instance: both paths, same target, same state
    // (a closed one too: it lingers, an hour here, on every instance, including
    // the rebooted one, which learns it from the table it pulls).
    // TIER_SIM_DEBUG=1 prints the first disagreements (how the stale-established
    // finding in docs/performance.md section 7 was read).
    const bool print_mismatches = std::getenv("TIER_SIM_DEBUG") != nullptr;
    for (std::uint32_t k = 0; k < clients.size(); ++k) {
        const Client& c = clients[k];
        if (c.lost) continue;
        AssociationState state0{};
        std::uint32_t fwmark0 = 0;
        const bool there0 = present(tier.table(0), c, k, tier.now(), &state0, &fwmark0);
        for (std::size_t i = 0; i < n; ++i) {
            AssociationState state{};
            std::uint32_t fwmark = 0;
            ++r.checked;
            if (!there0 || !present(tier.table(i), c, k, tier.now(), &state, &fwmark) || fwmark != c.fwmark ||
                fwmark != fwmark0 || state != state0) {
                ++r.mismatches;
                if (print_mismatches && r.mismatches < 20)
                    std::fprintf(stderr, "k=%u on %zu: there0=%d there=%d state0=%d state=%d closed=%d restarted=%d created=%.1f\n", k, i,
                                 there0, present(tier.table(i), c, k, tier.now()), int(state0), int(state), c.closed,
                                 c.restarted, ms(c.created - load_start));
            }
        }
    }
    for (std::size_t i = 0; i < n; ++i) {
        const Instance& s = tier.instance(i);
        r.engine_ns += s.engine_ns;
        r.records_applied += s.engine->stats().of(SyncCounter::RecordsApplied);
        r.peak_unacked = std::max(r.peak_unacked, s.peak_unacked);
    }
    r.table_bytes = AssociationTable::bytes_needed(TableLimits{.capacity = capacity});
    return r;
}

Nanos percentile(std::vector<Nanos>& v, double q) {
    if (v.empty()) return Nanos{0};
    const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
}

constexpr const char* kUsage =
    "usage: tier_sim [--quick] [--instances 2,4,8,16] [--associations N] [--rate SETUPS_PER_S]\n";

// Bad arguments: the usage line on stderr, exit 2 (--help prints it on stdout and exits 0).
int usage() {
    std::fputs(kUsage, stderr);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> sizes{2, 4, 8, 16};
    std::uint32_t associations = 1'000'000;
    std::uint32_t rate = 50'000;
    for (int a = 1; a < argc; ++a) {
        const std::string_view arg = argv[a];
        const bool has_value = a + 1 < argc;
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (arg == "--quick") {
            associations = 100'000;
        } else if (arg == "--associations" && has_value) {
            associations = static_cast<std::uint32_t>(std::strtoul(argv[++a], nullptr, 10));
        } else if (arg == "--rate" && has_value) {
            rate = static_cast<std::uint32_t>(std::strtoul(argv[++a], nullptr, 10));
        } else if (arg == "--instances" && has_value) {
            sizes.clear();
            for (char* p = argv[++a]; *p;) {
                char* end = nullptr;
                sizes.push_back(std::strtoul(p, &end, 10));
                if (end == p) return usage();
                p = *end == ',' ? end + 1 : end;
            }
        } else {
            return usage();
        }
    }
    for (const std::size_t n : sizes)
        if (n < 2 || n > 32) return usage();
    if (associations == 0 || rate == 0) return usage();

    std::printf("tier_sim: %u associations at %u setups/s per tier, 10%% closed, 1%% restarted, "
                "instance N-1 rebooted (empty table, %lld ms down) halfway\n",
                associations, rate, static_cast<long long>(ms(kRebootDowntime)));
    std::printf("%3s %9s %9s %9s %11s %11s %12s %10s %9s %9s %10s %10s %6s %s\n", "N", "p50_ms", "p99_ms", "max_ms",
                "dgrams/s/i", "kbytes/s/i", "tier_dgram/s", "us/record", "core%/i", "MiB/i", "reboot_ms",
                "reboot_rec", "lost", "consistent");
    int status = 0;
    for (const std::size_t n : sizes) {
        Result r = run(n, associations, rate);
        const double seconds = std::chrono::duration<double>(r.load_time).count();
        const double per_instance_dgrams = static_cast<double>(r.datagrams) / static_cast<double>(n) / seconds;
        const double per_instance_kbytes = static_cast<double>(r.bytes) / static_cast<double>(n) / seconds / 1000;
        const double us_per_record = r.records_applied ? static_cast<double>(r.engine_ns) / 1000 / static_cast<double>(r.records_applied) : 0;
        // The engine's real time per instance over the load's simulated time.
        const double core = 100.0 * static_cast<double>(r.engine_ns) / static_cast<double>(n) / 1e9 / seconds;
        const double mib = static_cast<double>(r.table_bytes + r.peak_unacked * kSyncMaxDatagram + (1u << 16) * 8) / (1 << 20);
        std::printf("%3zu %9.2f %9.2f %9.2f %11.0f %11.0f %12.0f %10.2f %9.1f %9.1f %10.0f %10llu %6zu %s\n", n,
                    ms(percentile(r.reach, 0.5)), ms(percentile(r.reach, 0.99)), ms(percentile(r.reach, 1.0)),
                    per_instance_dgrams, per_instance_kbytes, per_instance_dgrams * static_cast<double>(n),
                    us_per_record, core, mib, r.reboot_ready < Nanos{0} ? -1.0 : ms(r.reboot_ready),
                    static_cast<unsigned long long>(r.reboot_records), r.lost,
                    r.mismatches == 0 ? "yes" : (std::to_string(r.mismatches) + " of " + std::to_string(r.checked) + " differ").c_str());
        std::fflush(stdout);
        if (r.unreached != 0)
            std::printf("    %zu associations never reached every live instance\n", r.unreached);
        if (r.mismatches != 0 || r.unreached != 0) status = 1;
    }
    return status;
}
