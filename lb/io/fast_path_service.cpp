#include "io/fast_path_service.hpp"


#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "io/clock.hpp"
#include "core/fast_path.hpp"
#include "core/fast_path_pacer.hpp"
#include "io/log.hpp"
#include "io/nft_fastpath.hpp"

namespace sctplb {

namespace {

std::int64_t ns_of(std::chrono::nanoseconds n) { return n.count(); }

// Whether packets of `fwmark` still go to their target: active or draining
// (a draining target keeps its associations), not down or unused. On a
// consistent snapshot only: "does not serve" removes the kernel's elements.
bool target_serves(const TargetSnapshot& targets, std::uint32_t max_targets, std::uint32_t fwmark) {
    for (std::uint32_t i = 0; i < max_targets && i < kMaxTargetSlots; ++i)
        if (targets[i].fwmark == fwmark)
            return targets[i].state == TargetState::Active || targets[i].state == TargetState::Draining;
    return false;
}

void publish_events(ThreadCounters& slot, const Counters& counters) {
    for (std::size_t i = 0; i < kEventCount; ++i) slot.events[i].store(counters.events[i], std::memory_order_relaxed);
}

}  // namespace

struct FastPathService::Impl {
    SharedState& state;
    FastPathServiceOptions options;
    NftSession nft;
    FastPathInfo info;
    FastPathLedger ledger;
    Counters counters;  // fastpath-* events, published to header.fast_path.decisions
    std::uint32_t cursor = 0;
    std::vector<std::uint32_t> warned_fwmarks;  // targets without a chain, logged once each
    bool pass_changed = false;       // this pass gave the kernel a non-empty batch
    TargetSnapshot walked_targets{};  // the targets when the last pass began
    std::uint32_t walked_live = 0;    // the table's live count when the last pass began

    SharedHeader& header() { return state.header(); }

    // Called under the table lock: the warning goes to `log`, written after it.
    bool has_chain(std::uint32_t fwmark, DeferredLog& log) {
        if (std::find(info.fwmarks.begin(), info.fwmarks.end(), fwmark) != info.fwmarks.end()) return true;
        if (std::find(warned_fwmarks.begin(), warned_fwmarks.end(), fwmark) == warned_fwmarks.end()) {
            warned_fwmarks.push_back(fwmark);
            log.add(kLogWarning,
                     "fast path: nft table %s has no chain for fwmark %u: its associations stay in the slow path "
                     "(run sctplb rules --fastpath with --target %u=...)",
                     options.table.c_str(), fwmark, fwmark);
        }
        return false;
    }

    bool wanted(const Association& a, const TargetSnapshot& targets, DeferredLog& log) {
        return fast_path_eligible(a, target_serves(targets, header().max_targets, a.fwmark)) && has_chain(a.fwmark, log);
    }

    // Applies `batch` to the kernel, commits it to the ledger and sets the
    // records' in_fast_path flags.
    void apply(FastPathBatch& batch) {
        if (batch.empty()) return;
        pass_changed = true;
        FastPathChangeResult result;
        std::string error;
        if (!nft.change(options.table, batch.remove, batch.add, result, error)) {
            log_line(header(), kLogError, "fast path: netlink: %s", error.c_str());
            result.add_ok.assign(batch.add.size(), false);
        }
        result.add_ok.resize(batch.add.size(), false);
        const std::size_t added = static_cast<std::size_t>(std::count(result.add_ok.begin(), result.add_ok.end(), true));
        for (std::size_t i = 0; i < added; ++i) counters.count(Event::FastPathAdded);
        for (std::size_t i = added; i < batch.add.size(); ++i) counters.count(Event::FastPathAddFailed);
        // (Elements the kernel had already timed out are not counted.)
        for (std::size_t i = 0; i < result.removed; ++i) counters.count(Event::FastPathRemoved);
        if (added < batch.add.size())
            log_line(header(), kLogWarning, "fast path: the kernel refused %zu of %zu elements (%s)",
                     batch.add.size() - added, batch.add.size(),
                     result.last_errno ? std::strerror(result.last_errno) : "netlink failed");
        ledger.commit(batch, result.add_ok);
        const TableLock lock(state);
        set_fast_path_flags(state.table(), batch, ledger);
    }

    // One slice of the walk: plans the slots [cursor, cursor + slice).
    bool walk_slice() {
        FastPathBatch batch;
        const std::uint64_t timeout_ms = 0;  // the map's timeout
        bool wrapped = false;
        const TargetSnapshot targets = read_targets(header());  // before the lock: it is held shorter
        {
            DeferredLog log(header());  // destroyed after the lock: writes then
            const TableLock lock(state);
            AssociationTable& table = state.table();
            if (cursor == 0) {
                // At a pass's start: a change after it, even in the middle of
                // the pass, wakes the next pass (a slice already walked did not see it).
                walked_targets = targets;
                walked_live = table.size();
            }
            const std::uint32_t capacity = table.capacity();
            const std::uint32_t end = std::min<std::uint64_t>(std::uint64_t{cursor} + options.slice, capacity);
            for (std::uint32_t id = cursor; id < end; ++id) {
                const Association& a = table.at(id);
                if (a.state == AssociationState::Free) {
                    if (ledger.tracks(id)) ledger.plan(id, a, false, timeout_ms, batch);
                    continue;
                }
                ledger.plan(id, a, wanted(a, targets, log), timeout_ms, batch);
            }
            cursor = end >= capacity ? 0 : end;
            wrapped = cursor == 0;
        }
        apply(batch);
        return wrapped;
    }

    // Every element of the maps; false (logged) when netlink failed.
    bool read_map(std::vector<FastPathElement>& dump) {
        std::string error;
        if (nft.dump(options.table, dump, error)) return true;
        log_line(header(), kLogError, "fast path: cannot read the map: %s", error.c_str());
        return false;
    }

    // Reads the kernel's elements: packet times, and associations whose
    // elements all timed out.
    void check_activity() {
        std::vector<FastPathElement> dump;
        if (!read_map(dump)) return;
        const std::int64_t now = ns_of(monotonic_now());
        const auto activity = fast_path_activity(ledger, dump, info.timeout_ms, now);
        const TableLock lock(state);
        AssociationTable& table = state.table();
        const std::int64_t idle_ns = ns_of(table.timeouts().idle);
        for (const FastPathActivity& act : activity) {
            const FastPathLedger::Entry* entry = ledger.find(act.id);
            const Association& a = table.at(act.id);
            if (entry == nullptr || a.state == AssociationState::Free || a.generation != entry->generation) continue;
            if (!act.gone) {
                table.note_seen(act.id, act.seen_ns);
                if (act.present != (1u << entry->installed) - 1u) ledger.retain(act.id, act.present);
                continue;
            }
            // Every element timed out. Idle unless someone (a slow-path packet
            // here, a sync peer) saw the association since: then the walk
            // puts it back.
            ledger.forget(act.id);
            table.set_in_fast_path(act.id, false);
            if (now - a.last_seen_ns >= idle_ns) {
                table.remove(act.id);
                counters.count(Event::FastPathIdle);
            }
        }
    }

    // Whether the next pass must not wait: a target changed state (its
    // elements go or come: docs/operations.md promises a pass), or
    // associations came or went.
    bool pass_due_now() {
        if (read_targets(header()) != walked_targets) return true;
        const TableLock lock(state);
        return state.table().size() != walked_live;
    }

    // The pause after a pass, cut short by stop or pass_due_now().
    void pause(FastPathPacer& pacer, const std::atomic<bool>& stop) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(pacer.pause_ms());
        const auto step = std::chrono::milliseconds(pacer.check_ms());
        while (!stop.load(std::memory_order_relaxed)) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= until) return;
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(step, until - now));
            if (pass_due_now()) {
                pacer.wake();
                return;
            }
        }
    }

    void publish() {
        FastPathShared& shared = header().fast_path;
        shared.associations.store(ledger.associations(), std::memory_order_relaxed);
        shared.elements.store(ledger.elements(), std::memory_order_relaxed);
        publish_events(shared.decisions, counters);
    }

    // At start: adopts the kernel's elements the table knows, imports the
    // ones it does not (live associations whose state was lost), and removes
    // elements that contradict the table.
    void reconcile() {
        std::vector<FastPathElement> dump;
        if (!read_map(dump)) return;
        std::string error;
        const std::int64_t now = ns_of(monotonic_now());
        const auto seen_at = [&](const FastPathElement& e) { return fast_path_seen_at(e.expires_ms, info.timeout_ms, now); };
        std::vector<FastPathKey> stale;
        // Unknown elements grouped into associations: (sport, dport, Ts, fwmark).
        std::map<std::tuple<std::uint16_t, std::uint16_t, std::uint32_t, std::uint32_t>, std::vector<const FastPathElement*>>
            unknown;
        std::size_t adopted = 0, imported = 0, import_failed = 0;
        const TargetSnapshot targets = read_targets(header());
        {
            DeferredLog log(header());  // destroyed after the lock: writes then
            const TableLock lock(state);
            AssociationTable& table = state.table();
            for (const FastPathElement& e : dump) {
                const Nanos now_here = monotonic_now();
                const AssociationTable::Found found =
                    table.find_by_ts(e.key.client, e.key.sport, e.key.dport, e.key.vtag, now_here);
                // An expired entry goes before an import could add its keys again (uncounted, as
                // the data path did not see it go).
                table.settle(found, now_here);
                const AssociationId id = found.id;
                if (id == kNoAssociation) {
                    unknown[{e.key.sport, e.key.dport, e.key.vtag, e.fwmark}].push_back(&e);
                    continue;
                }
                const Association& a = table.at(id);
                std::size_t index = 0;
                while (index < a.address_count && !(a.addresses[index] == e.key.client)) ++index;
                if (a.fwmark != e.fwmark || a.ts != e.key.vtag || !wanted(a, targets, log)) {
                    stale.push_back(e.key);
                    continue;
                }
                ledger.adopt(id, a, index);
                table.note_seen(id, seen_at(e));
                table.set_in_fast_path(id, true);
                ++adopted;
            }
            for (const auto& [key, elements] : unknown) {
                Association fields{};
                fields.state = AssociationState::Established;
                std::tie(fields.sport, fields.dport, fields.ts, fields.fwmark) = key;
                std::int64_t seen = 0;
                for (const FastPathElement* e : elements) {
                    if (fields.address_count < kMaxClientAddresses) fields.addresses[fields.address_count++] = e->key.client;
                    seen = std::max(seen, seen_at(*e));
                }
                fields.created_ns = fields.state_since_ns = fields.last_seen_ns = seen;
                fields.in_fast_path = true;
                const AssociationId id = table.insert_restored(fields, counters);
                if (id == kNoAssociation) {
                    ++import_failed;  // left in the kernel: it forwards them until they time out
                    continue;
                }
                counters.count(Event::FastPathImported);
                ++imported;
                for (std::size_t i = 0; i < table.at(id).address_count; ++i) ledger.adopt(id, table.at(id), i);
            }
        }
        if (!stale.empty()) {
            FastPathChangeResult result;
            if (!nft.change(options.table, stale, {}, result, error))
                log_line(header(), kLogError, "fast path: netlink: %s", error.c_str());
            for (std::size_t i = 0; i < result.removed; ++i) counters.count(Event::FastPathRemoved);
        }
        log_line(header(), kLogNotice,
                 "fast path: nft table inet %s, %zu elements at start: %zu adopted, %zu imported as associations%s, "
                 "%zu stale removed",
                 options.table.c_str(), dump.size(), adopted, imported,
                 import_failed ? " (some did not fit the table)" : "", stale.size());
    }
};

FastPathService::FastPathService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FastPathService::~FastPathService() {
    if (impl_) impl_->state.header().fast_path.enabled.store(0, std::memory_order_release);
}

std::unique_ptr<FastPathService> FastPathService::start(SharedState& state, const FastPathServiceOptions& options,
                                                        std::string& error) {
    SharedHeader& header = state.header();
    header.fast_path.enabled.store(0, std::memory_order_release);
    const auto without = [&](const char* why) -> std::unique_ptr<FastPathService> {
        // Nobody keeps the kernel's idea of idleness now: the sweep takes over.
        std::size_t cleared = 0;
        {
            const TableLock lock(state);
            cleared = state.table().clear_fast_path_flags();
        }
        log_line(header, kLogNotice, "fast path off: %s%s", why,
                 cleared ? " (associations the kernel forwarded are back in the slow path)" : "");
        return nullptr;
    };
    auto nft = NftSession::open(error);
    if (!nft) {
        if (options.mode == FastPathMode::On) {
            error = "fast path: " + error;
            return nullptr;
        }
        error.clear();
        return without("no netfilter netlink socket");
    }
    const auto info = nft->describe(options.table, error);
    if (!info) {
        if (options.mode == FastPathMode::On) {
            error = "fast path: " + error + " (install it with 'sctplb rules --fastpath ...', or run without --fastpath)";
            return nullptr;
        }
        error.clear();
        return without(options.mode == FastPathMode::Off ? "--no-fastpath" : "no nft table (sctplb rules --fastpath installs it)");
    }
    if (options.mode == FastPathMode::Off) {
        // The rules stay; with empty maps every packet reaches the daemon.
        if (!nft->flush(options.table, error)) {
            error = "fast path: cannot empty the maps of nft table " + options.table + ": " + error;
            return nullptr;
        }
        error.clear();
        return without("--no-fastpath (the maps were emptied)");
    }
    auto impl = std::make_unique<Impl>(Impl{state, options, std::move(*nft), *info, {}, {}, 0, {}});
    impl->reconcile();
    FastPathShared& shared = header.fast_path;
    std::memset(shared.table, 0, sizeof shared.table);
    std::memcpy(shared.table, options.table.data(), std::min(options.table.size(), sizeof shared.table - 1));
    shared.timeout_ms.store(info->timeout_ms, std::memory_order_relaxed);
    shared.map_size.store(info->map_size, std::memory_order_relaxed);
    impl->publish();
    shared.enabled.store(1, std::memory_order_release);
    return std::unique_ptr<FastPathService>(new FastPathService(std::move(impl)));
}

void FastPathService::run(const std::atomic<bool>& stop) {
    Impl& s = *impl_;
    FastPathPacer pacer(s.options.pass_interval_ms, s.options.quiet_pass_interval_ms);
    auto next_activity = std::chrono::steady_clock::now() + std::chrono::milliseconds(s.options.activity_interval_ms);
    while (!stop.load(std::memory_order_relaxed)) {
        // Slices with the lock released between them, paced so that the walk
        // takes at most a fifth of a CPU however large the table; a pause
        // after each pass.
        const auto slice_started = std::chrono::steady_clock::now();
        if (!s.walk_slice()) {
            std::this_thread::sleep_for((std::chrono::steady_clock::now() - slice_started) * 4);
            continue;
        }
        s.header().fast_path.last_pass_ns.store(ns_of(monotonic_now()), std::memory_order_relaxed);
        if (std::chrono::steady_clock::now() >= next_activity) {
            s.check_activity();
            next_activity = std::chrono::steady_clock::now() + std::chrono::milliseconds(s.options.activity_interval_ms);
        }
        s.publish();
        pacer.pass_done(std::exchange(s.pass_changed, false));
        s.pause(pacer, stop);
    }
    s.publish();
}

}  // namespace sctplb
