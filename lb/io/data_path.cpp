#include "data_path.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <thread>

#include "clock.hpp"
#include "decider.hpp"
#include "fragment_table.hpp"
#include "hold_queue.hpp"
#include "packet.hpp"

namespace sctplb {

namespace {

void format_address(const IpAddress& address, char (&out)[INET6_ADDRSTRLEN]) {
    const auto& b = address.bytes();
    if (!(address.is_v4() ? inet_ntop(AF_INET, b.data() + 12, out, sizeof out)
                          : inet_ntop(AF_INET6, b.data(), out, sizeof out)))
        out[0] = '\0';
}

bool trace_matches(const TraceFilter& filter, const ParsedPacket& p) {
    if (!filter.enabled.load(std::memory_order_relaxed)) return false;  // the cheap check, per packet
    const TraceSettings trace = read_trace(filter);                        // consistent: port and address together
    if (!trace.enabled) return false;
    if (trace.port != 0 && p.sport != trace.port && p.dport != trace.port) return false;
    if (trace.address && !(p.src == *trace.address || p.dst == *trace.address)) return false;
    return true;
}

// `copied`/`wire_length`: bytes we have of the packet / its length on the
// wire. `note` says what the hold did with it ("" when it was not held).
// Into `log`, not to stderr: held packets are traced under the table lock.
void trace_packet(DeferredLog& log, std::uint16_t queue, std::uint32_t id, std::size_t copied,
                  std::uint32_t wire_length, const ParsedPacket& p, const Verdict& v, const char* note) {
    char chunks[96] = "";
    std::size_t used = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(p.chunk_count, kMaxChunkTypesKept); ++i) {
        const int n = std::snprintf(chunks + used, sizeof chunks - used, "%s%.*s", i ? "," : "",
                                    static_cast<int>(chunk_type_name(p.chunk_types[i]).size()),
                                    chunk_type_name(p.chunk_types[i]).data());
        if (n < 0 || static_cast<std::size_t>(n) >= sizeof chunks - used) break;
        used += static_cast<std::size_t>(n);
    }
    char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];  // no allocation, even when tracing
    format_address(p.src, src);
    format_address(p.dst, dst);
    log.add(kLogError, "trace q%u id=%u %s:%u -> %s:%u vtag=0x%08x [%s] len=%u/%u -> %.*s mark=%u reason=%.*s%s",
             queue, id, src, p.sport, dst, p.dport, p.vtag, chunks, static_cast<unsigned>(copied), wire_length,
             static_cast<int>(action_name(v.action).size()), action_name(v.action).data(), v.fwmark,
             static_cast<int>(reason_name(v.reason).size()), reason_name(v.reason).data(), note);
}

// Vtag mode drops the first two because the association is not (yet) in the
// table: exactly what a peer's sync record may fix within milliseconds (only
// worth waiting for with a sync). A non-first fragment whose first fragment
// has not come yet waits for it (fragments may arrive in any order).
bool worth_holding(const Verdict& v, bool with_sync) {
    if (v.action == Action::Drop && v.reason == Reason::IpFragment) return true;
    return with_sync && dropped_as_unknown(v);
}

// Adds the counts of a held packet's re-decision: the table's events always
// (they happened now), the packet's own events never (counted when it first
// came), its reason only when the packet leaves the hold with that verdict.
void merge_redecision(Counters& into, const Counters& scratch, bool with_reason) {
    for (std::size_t i = 0; i < kEventCount; ++i) {
        const auto event = static_cast<Event>(i);
        if (event == Event::TruncatedPacket || event == Event::HostNameIgnored) continue;
        into.events[i] += scratch.events[i];
    }
    if (with_reason)
        for (std::size_t i = 0; i < kReasonCount; ++i) into.reasons[i] += scratch.reasons[i];
}

// Which target slot an fwmark belongs to, for per-target packet counts.
// Rebuilt when the configuration generation changes (not per packet).
class TargetSlots {
public:
    void refresh(const TargetSnapshot& targets) {
        entries_.clear();
        for (std::uint32_t i = 0; i < kMaxTargets; ++i)
            if (targets[i].state != TargetState::Unused) entries_.emplace_back(targets[i].fwmark, i);
        std::sort(entries_.begin(), entries_.end());
    }
    [[nodiscard]] std::optional<std::uint32_t> slot_of(std::uint32_t fwmark) const {
        auto it = std::lower_bound(entries_.begin(), entries_.end(), std::make_pair(fwmark, std::uint32_t{0}));
        if (it == entries_.end() || it->first != fwmark) return std::nullopt;
        return it->second;
    }

private:
    std::vector<std::pair<std::uint32_t, std::uint32_t>> entries_;
};

void publish(ThreadCounters& slot, const Counters& counters, std::uint64_t packets, std::uint64_t batches,
             std::uint64_t enobufs) {
    for (std::size_t i = 0; i < kReasonCount; ++i) slot.reasons[i].store(counters.reasons[i], std::memory_order_relaxed);
    for (std::size_t i = 0; i < kEventCount; ++i) slot.events[i].store(counters.events[i], std::memory_order_relaxed);
    slot.packets.store(packets, std::memory_order_relaxed);
    slot.batches.store(batches, std::memory_order_relaxed);
    slot.enobufs.store(enobufs, std::memory_order_relaxed);
}

struct Worker {
    SharedState& state;
    const DataPathOptions& options;
    const std::atomic<bool>& stop;
    DataPathSync* sync;
    FragmentTable& fragments;
    SweepPacer& sweep_pacer;  // shared by the queue threads, used under the table lock
    AdmissionControl* admission;
    NfQueue queue;
    ThreadCounters& slot;
    std::uint16_t queue_number;
    int status = 0;

    // Holding: early fragments always; unknown associations only with a sync
    // thread (without one nothing would ever resolve them).
    [[nodiscard]] bool hold_enabled() const { return options.hold_ms > 0; }
    [[nodiscard]] bool worth_holding(const Verdict& v) const { return sctplb::worth_holding(v, sync != nullptr); }

    void count_target(const TargetSlots& targets, std::uint32_t fwmark) {
        if (auto s = targets.slot_of(fwmark))
            slot.per_target_packets[*s].store(slot.per_target_packets[*s].load(std::memory_order_relaxed) + 1,
                                              std::memory_order_relaxed);
    }

    // Blocks until the sync thread finished the startup resync (or stop):
    // until then the table may lack associations the peers know, and their
    // packets would be dropped. Packets wait in the kernel queue (up to
    // --qlength; beyond it the kernel drops them, or passes them unmarked
    // with --fail-open).
    void wait_for_sync(const SharedHeader& header) {
        if (sync == nullptr || sync->ready.load(std::memory_order_acquire)) return;
        log_line(header, kLogNotice, "queue %u: waiting for the startup sync before reading packets", queue_number);
        while (!stop.load(std::memory_order_relaxed) && !sync->ready.load(std::memory_order_acquire))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (!stop.load(std::memory_order_relaxed))
            log_line(header, kLogNotice, "queue %u: startup sync done, reading packets", queue_number);
    }

    void run() {
        SharedHeader& header = state.header();
        Decider decider(DeciderConfig{.mode = header.hash_mode, .unknown_may_resolve = hold_enabled() && sync != nullptr},
                        header.hash, state.table());
        decider.set_fragment_table(&fragments);
        decider.set_admission(admission);
        const ParseOptions parse_options{options.encapsulation_port};
        const std::size_t batch = options.batch;
        std::vector<ParsedPacket> parsed(batch);
        std::vector<const ParsedPacket*> pointers(batch);
        for (std::size_t i = 0; i < batch; ++i) pointers[i] = &parsed[i];
        // Everything queued to us is addressed to a VIP; an INIT ACK is still
        // recognised as server -> client by its chunk type.
        std::vector<Direction> directions(batch, Direction::In);
        std::vector<Verdict> decided(batch);
        Counters counters;
        // Carry on the counts of an earlier run of this slot (daemon restart).
        for (std::size_t i = 0; i < kReasonCount; ++i) counters.reasons[i] = slot.reasons[i].load();
        for (std::size_t i = 0; i < kEventCount; ++i) counters.events[i] = slot.events[i].load();
        std::uint64_t packets = slot.packets.load(), batches = slot.batches.load(), enobufs = slot.enobufs.load();
        std::uint64_t generation = ~std::uint64_t{0};
        // The sweep walks records in order and costs a cache line each. How
        // many is the shared pacer's call (a full pass of the table every
        // SweepPacer::kFullPass whatever the traffic); this thread asks at most
        // every 10 ms, and at least every receive timeout (200 ms) when idle.
        constexpr Nanos kSweepInterval = std::chrono::milliseconds(10);
        Nanos last_sweep{0};
        auto sweep = [&](Nanos now) {  // under the table lock
            state.table().expire(now, sweep_pacer.budget(now), counters);
            last_sweep = now;
        };
        TargetSlots targets;

        // Hold for sync, sized once: entries with a copy of up to the copy
        // range each, and room for every held packet's verdict.
        const bool hold = hold_enabled();
        HoldQueue held(hold ? options.hold_max : 0, hold ? queue.options().copy_range : 0,
                       std::chrono::milliseconds(options.hold_ms));
        std::vector<PacketVerdict> released(hold ? options.hold_max : 0);
        std::size_t released_count = 0;
        // Trace lines and warnings of this round, written after the table
        // lock is released (in send_released, once per round).
        DeferredLog pending_log(header);
        ParsedPacket held_parsed;
        // The sync generation every held packet has been decided at (or after).
        std::uint64_t retried_generation = 0;
        const std::uint32_t idle_timeout_ms = queue.receive_timeout_ms();
        // While packets are held, wake every millisecond: nothing signals the
        // socket when the sync applies records or a deadline passes.
        constexpr std::uint32_t kHoldWakeMs = 1;

        auto release = [&](const HeldPacket& h, const Verdict& v, const char* note) {
            PacketVerdict& pv = released[released_count++];
            pv.id = h.id;
            if (v.action == Action::Drop) {
                pv.action = PacketVerdict::Action::Drop;
                pv.mark.reset();
            } else {
                pv.action = PacketVerdict::Action::Accept;
                if (v.action == Action::AcceptMarked) {
                    pv.mark = apply_mark(h.mark, v.fwmark, options.mark_mask);
                    count_target(targets, v.fwmark);
                } else {
                    pv.mark.reset();
                }
            }
            if (header.trace.enabled.load(std::memory_order_relaxed)) {
                parse_packet(h.bytes(), parse_options, held_parsed);
                if (trace_matches(header.trace, held_parsed))
                    trace_packet(pending_log, queue_number, h.id, h.bytes().size(), h.wire_length, held_parsed, v, note);
            }
        };
        // Under the table lock: decides every held packet again. A scratch
        // Counters keeps a still-unknown packet from counting its reason twice.
        auto retry_held = [&](Nanos now, std::span<const std::uint32_t> maglev) {
            held.retry([&](const HeldPacket& h) {
                parse_packet(h.bytes(), parse_options, held_parsed);
                Counters scratch;
                const Verdict v = decider.decide(held_parsed, Direction::In, maglev, now, scratch);
                if (worth_holding(v)) {
                    merge_redecision(counters, scratch, false);
                    return HoldOutcome::Keep;
                }
                merge_redecision(counters, scratch, true);
                if (v.action != Action::Drop) counters.count(Event::HoldResolved);
                release(h, v, " (hold-resolved)");
                return HoldOutcome::Resolved;
            });
        };
        // Drops what waited its full hold: counted once, by the reason it was
        // first dropped for, plus hold-expired.
        auto expire_held = [&](Nanos now) {
            held.pop_expired(now, [&](const HeldPacket& h) {
                counters.count(h.reason);
                counters.count(Event::HoldExpired);
                release(h, Verdict{Action::Drop, h.reason, 0}, " (hold-expired)");
            });
        };
        // Released packets' verdicts go out one message each (never a batch
        // verdict: other packets may still be held), before the batch's.
        auto send_released = [&] {
            pending_log.flush();
            if (released_count == 0) return;
            queue.send_verdicts(std::span(released.data(), released_count), false);
            released_count = 0;
        };

        wait_for_sync(header);
        while (!stop.load(std::memory_order_relaxed)) {
            if (hold) queue.set_receive_timeout_ms(held.empty() ? idle_timeout_ms : kHoldWakeMs);
            const NfQueue::ReceiveStatus received = queue.receive();
            // NfQueue counts the datagrams it had to drop; this thread publishes them.
            counters.events[static_cast<std::size_t>(Event::QueueDatagramTruncated)] = queue.stats().truncated_datagrams;
            const Nanos now = monotonic_now();
            if (received == NfQueue::ReceiveStatus::Error) {
                log_line(header, kLogError, "queue %u: %s", queue_number, queue.last_error().c_str());
                status = 1;
                break;
            }
            if (received == NfQueue::ReceiveStatus::Overrun) {
                ++enobufs;
                log_line(header, kLogWarning, "queue %u: ENOBUFS, the kernel dropped packets", queue_number);
            }
            const std::uint64_t current = header.config_generation.load(std::memory_order_acquire);
            if (current != generation) {
                generation = current;
                // Read after the generation (acquire): at least the targets it was published with.
                const TargetSnapshot snapshot = read_targets(header);
                targets.refresh(snapshot);
                for (std::uint32_t i = 0; i < kMaxTargets; ++i)
                    if (snapshot[i].state == TargetState::Active && (snapshot[i].fwmark & ~options.mark_mask))
                        log_line(header, kLogWarning, "fwmark %u has bits outside --mark-mask 0x%x",
                                 snapshot[i].fwmark, options.mark_mask);
            }
            // Read before the lock: whatever the sync applied up to this
            // generation is in the table the decisions below see.
            // (Plus first fragments recorded: both counters only grow, so their sum changes with either.)
            const std::uint64_t sync_generation =
                (sync != nullptr ? sync->applied_generation.load(std::memory_order_acquire) : 0) + fragments.generation();
            const bool retry_now = !held.empty() && sync_generation != retried_generation;

            if (received != NfQueue::ReceiveStatus::Packets) {
                const bool sweep_now = now - last_sweep >= kSweepInterval;
                if (sweep_now || retry_now) {
                    const TableLock lock(state);
                    if (retry_now) {
                        retry_held(now, state.active_maglev());
                        retried_generation = sync_generation;
                    }
                    if (sweep_now) sweep(now);
                }
                if (hold) {
                    expire_held(now);
                    send_released();
                }
                publish(slot, counters, packets, batches, enobufs);
                continue;
            }

            const auto in = queue.packets();
            const auto out = queue.verdicts();
            const std::size_t n = in.size();
            if (n > parsed.size()) {  // a datagram held more than a batch: grow once
                parsed.resize(n);
                pointers.resize(n);
                for (std::size_t i = 0; i < n; ++i) pointers[i] = &parsed[i];
                directions.resize(n, Direction::In);
                decided.resize(n);
            }
            for (std::size_t i = 0; i < n; ++i) parse_packet(in[i].payload, parse_options, parsed[i]);
            {
                const TableLock lock(state);
                if (lock.recovered())
                    pending_log.add(kLogWarning, "table lock recovered from a dead holder: indexes rebuilt");
                // Held packets first: they are older than this batch.
                if (retry_now) {
                    retry_held(now, state.active_maglev());
                    retried_generation = sync_generation;
                }
                decider.decide_batch(std::span(pointers.data(), n), std::span(directions.data(), n),
                                     state.active_maglev(), now, counters, std::span(decided.data(), n));
                if (now - last_sweep >= kSweepInterval) sweep(now);
            }
            if (hold) expire_held(now);
            // Verdicts for this batch, compacted: a held packet gets none now.
            std::size_t answered = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const Verdict& v = decided[i];
                const char* note = "";
                if (hold && worth_holding(v)) {
                    if (held.empty()) retried_generation = sync_generation;
                    if (held.try_hold(in[i].id, in[i].mark, in[i].payload, in[i].wire_length, v.reason, now)) {
                        // Not a verdict yet: take back the reason the decider counted.
                        --counters.reasons[static_cast<std::size_t>(v.reason)];
                        counters.count(Event::Held);
                        if (trace_matches(header.trace, parsed[i]))
                            trace_packet(pending_log, queue_number, in[i].id, in[i].payload.size(), in[i].wire_length,
                                         parsed[i], v, " (held)");
                        continue;
                    }
                    counters.count(Event::HoldOverflow);  // dropped now, its reason already counted
                    note = " (hold-overflow)";
                }
                PacketVerdict& pv = out[answered++];
                pv.id = in[i].id;
                switch (v.action) {
                    case Action::AcceptMarked:
                        pv.action = PacketVerdict::Action::Accept;
                        pv.mark = apply_mark(in[i].mark, v.fwmark, options.mark_mask);
                        count_target(targets, v.fwmark);
                        break;
                    case Action::AcceptUnmarked:
                        pv.action = PacketVerdict::Action::Accept;
                        pv.mark.reset();
                        break;
                    case Action::Drop:
                        pv.action = PacketVerdict::Action::Drop;
                        pv.mark.reset();
                        break;
                }
                if (trace_matches(header.trace, parsed[i]))
                    trace_packet(pending_log, queue_number, in[i].id, in[i].payload.size(), in[i].wire_length, parsed[i],
                                 v, note);
            }
            packets += in.size();
            ++batches;
            send_released();
            // A batch verdict answers every queued id up to its last: only
            // when no packet is held.
            queue.send_verdicts(out.first(answered), held.empty());
            publish(slot, counters, packets, batches, enobufs);
        }
        // Stop (or a fatal receive error): held packets get an explicit drop
        // verdict while the socket is still open, counted by their reason.
        // (Closing the socket would also drop them, in the kernel's queue
        // flush, but then nothing would count them.)
        held.drain([&](const HeldPacket& h) {
            counters.count(h.reason);
            release(h, Verdict{Action::Drop, h.reason, 0}, " (hold-stopped)");
        });
        send_released();
        publish(slot, counters, packets, batches, enobufs);
        slot.in_use.store(0, std::memory_order_release);
    }
};

}  // namespace

std::vector<CounterSlotChoice> assign_counter_slots(std::span<const CounterSlotHistory> slots,
                                                    std::span<const std::uint16_t> queues) {
    if (queues.size() > slots.size()) return {};
    std::vector<CounterSlotChoice> out(queues.size());
    std::vector<bool> taken(slots.size(), false);
    std::vector<bool> placed(queues.size(), false);
    // First the queues that carry on in the slot that last served them.
    for (std::size_t q = 0; q < queues.size(); ++q)
        for (std::size_t s = 0; s < slots.size(); ++s)
            if (!taken[s] && slots[s].used && slots[s].queue == queues[q]) {
                out[q] = {static_cast<std::uint32_t>(s), true};
                taken[s] = placed[q] = true;
                break;
            }
    // Then new queues: a never-used slot keeps every other queue's history;
    // failing that, the slot of a queue not served now.
    for (const bool want_used : {false, true})
        for (std::size_t q = 0; q < queues.size(); ++q) {
            if (placed[q]) continue;
            for (std::size_t s = 0; s < slots.size(); ++s)
                if (!taken[s] && slots[s].used == want_used) {
                    out[q] = {static_cast<std::uint32_t>(s), false};
                    taken[s] = placed[q] = true;
                    break;
                }
        }
    return out;
}

namespace {

bool slot_used(const ThreadCounters& slot) {
    if (slot.in_use.load() != 0 || slot.packets.load() != 0 || slot.batches.load() != 0 || slot.enobufs.load() != 0)
        return true;
    for (const auto& c : slot.reasons)
        if (c.load() != 0) return true;
    for (const auto& c : slot.events)
        if (c.load() != 0) return true;
    for (const auto& c : slot.per_target_packets)
        if (c.load() != 0) return true;
    return false;
}

void zero_counters(ThreadCounters& slot) {
    for (auto& c : slot.reasons) c.store(0, std::memory_order_relaxed);
    for (auto& c : slot.events) c.store(0, std::memory_order_relaxed);
    for (auto& c : slot.per_target_packets) c.store(0, std::memory_order_relaxed);
    slot.packets.store(0, std::memory_order_relaxed);
    slot.batches.store(0, std::memory_order_relaxed);
    slot.enobufs.store(0, std::memory_order_relaxed);
}

}  // namespace

int run_data_path(SharedState& state, const DataPathOptions& options, const std::atomic<bool>& stop,
                  DataPathSync* sync) {
    SharedHeader& header = state.header();
    if (options.queues.empty() || options.queues.size() > kMaxDataPathThreads) {
        log_line(header, kLogError, "between 1 and %u queues, please", kMaxDataPathThreads);
        return 1;
    }
    // Shared by the queue threads (a datagram's fragments may reach different
    // queues), used under the table lock.
    FragmentTable fragments;
    SweepPacer sweep_pacer(state.table().capacity());
    AdmissionControl admission(options.admission);
    const bool admission_on = !options.admission.allow.empty() || options.admission.rate_per_s != 0;
    std::vector<Worker> workers;
    workers.reserve(options.queues.size());
    std::vector<CounterSlotHistory> history;
    for (const ThreadCounters& slot : header.threads)
        history.push_back({slot.queue.load(std::memory_order_relaxed), slot_used(slot)});
    const std::vector<CounterSlotChoice> slots = assign_counter_slots(history, options.queues);
    // A queue that cannot be bound ends the run: the slots of the queues bound
    // before it are released, or `sctplb stats` would show them owned by a
    // daemon that is gone.
    const auto release_bound_slots = [&] {
        for (Worker& w : workers) w.slot.in_use.store(0, std::memory_order_release);
    };
    for (std::size_t i = 0; i < options.queues.size(); ++i) {
        const std::uint16_t q = options.queues[i];
        NfQueueOptions nfq;
        nfq.queue = q;
        nfq.copy_range = options.copy_range;
        nfq.max_len = options.queue_length;
        nfq.fail_open = options.fail_open;
        nfq.batch = options.batch;
        std::string error;
        auto queue = NfQueue::open(nfq, error);
        if (!queue) {
            log_line(header, kLogError, "cannot bind NFQUEUE %u: %s", q, error.c_str());
            release_bound_slots();
            return 1;
        }
        ThreadCounters& slot = header.threads[slots[i].slot];
        if (!slots[i].carry) zero_counters(slot);  // counts of another queue, or none
        slot.queue.store(q, std::memory_order_relaxed);
        slot.in_use.store(1, std::memory_order_release);
        workers.push_back(Worker{state, options, stop, sync, fragments, sweep_pacer, admission_on ? &admission : nullptr,
                                 std::move(*queue), slot, q});
        log_line(header, kLogNotice, "queue %u bound (copy %u bytes, length %u%s)", q, options.copy_range,
                 options.queue_length, options.fail_open ? ", fail-open" : "");
    }
    if (options.hold_ms > 0)
        log_line(header, kLogNotice, "%s held up to %u ms (at most %u per queue)",
                 sync != nullptr ? "early fragments and unknown associations (awaiting the sync)" : "early fragments",
                 options.hold_ms, options.hold_max);
    header.daemon_pid.store(getpid(), std::memory_order_relaxed);
    header.daemon_started_ns.store(monotonic_now().count(), std::memory_order_relaxed);
    std::uint32_t associations = 0;
    {
        const TableLock lock(state);
        associations = state.table().size();
    }
    log_line(header, kLogNotice, "running: %zu queue(s), %u associations in the table, hash mode %.*s",
             workers.size(), associations, static_cast<int>(hash_mode_name(header.hash_mode).size()),
             hash_mode_name(header.hash_mode).data());
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < workers.size(); ++i) threads.emplace_back([&w = workers[i]] { w.run(); });
    workers[0].run();
    for (auto& t : threads) t.join();
    int status = 0;
    for (const auto& w : workers) status |= w.status;
    header.daemon_pid.store(0, std::memory_order_relaxed);
    log_line(header, kLogNotice, "stopped");
    return status;
}

}  // namespace sctplb
