#include "io/data_path.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <thread>

#include "io/clock.hpp"
#include "core/decider.hpp"
#include "core/fragment_table.hpp"
#include "core/hold_queue.hpp"
#include "core/maglev.hpp"
#include "core/packet.hpp"

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
        for (std::uint32_t i = 0; i < kMaxTargetSlots; ++i)
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

// A queue thread's counts: the decisions' counters plus the batch tallies.
// They carry on the counts of an earlier run of the slot (daemon restart).
struct WorkerCounts {
    Counters counters;
    std::uint64_t packets = 0;
    std::uint64_t batches = 0;
    std::uint64_t enobufs = 0;

    explicit WorkerCounts(const ThreadCounters& slot)
        : packets(slot.packets.load()), batches(slot.batches.load()), enobufs(slot.enobufs.load()) {
        for (std::size_t i = 0; i < kReasonCount; ++i) counters.reasons[i] = slot.reasons[i].load();
        for (std::size_t i = 0; i < kEventCount; ++i) counters.events[i] = slot.events[i].load();
    }
    void publish(ThreadCounters& slot) const {
        for (std::size_t i = 0; i < kReasonCount; ++i)
            slot.reasons[i].store(counters.reasons[i], std::memory_order_relaxed);
        for (std::size_t i = 0; i < kEventCount; ++i) slot.events[i].store(counters.events[i], std::memory_order_relaxed);
        slot.packets.store(packets, std::memory_order_relaxed);
        slot.batches.store(batches, std::memory_order_relaxed);
        slot.enobufs.store(enobufs, std::memory_order_relaxed);
    }
};

// Trace lines and warnings of a round: formatted as they happen (some under
// the table lock), written by flush() once the lock is released.
class TraceRecorder {
public:
    TraceRecorder(const SharedHeader& header, std::uint16_t queue, ParseOptions parse_options)
        : header_(header), queue_(queue), parse_options_(parse_options), log_(header) {}

    [[nodiscard]] DeferredLog& log() { return log_; }
    // A packet of the batch, parsed already. `note`: what the hold did with it.
    void record(std::uint32_t id, std::size_t copied, std::uint32_t wire_length, const ParsedPacket& p,
                const Verdict& v, const char* note) {
        if (trace_matches(header_.trace, p)) trace_packet(log_, queue_, id, copied, wire_length, p, v, note);
    }
    // A held packet leaving the hold: parsed again only while tracing is on.
    void record_held(const HeldPacket& h, const Verdict& v, const char* note) {
        if (!header_.trace.enabled.load(std::memory_order_relaxed)) return;
        parse_packet(h.bytes(), parse_options_, parsed_);
        record(h.id, h.bytes().size(), h.wire_length, parsed_, v, note);
    }
    void flush() { log_.flush(); }

private:
    const SharedHeader& header_;
    std::uint16_t queue_;
    ParseOptions parse_options_;
    DeferredLog log_;
    ParsedPacket parsed_;
};

// Turns a decision into the kernel's verdict: accept with our fwmark bits
// (counted per target), accept unmarked, or drop. Follows the configuration
// for the targets' fwmarks.
class VerdictWriter {
public:
    VerdictWriter(std::uint32_t mark_mask, ThreadCounters& slot) : mark_mask_(mark_mask), slot_(slot) {}

    // Once per round: on a new configuration generation, the targets' fwmarks
    // (and a warning for mark bits that --mark-mask would lose).
    void follow_config(SharedHeader& header) {
        const std::uint64_t current = header.config_generation.load(std::memory_order_acquire);
        if (current == generation_) return;
        generation_ = current;
        // Read after the generation (acquire): at least the targets it was published with.
        const TargetSnapshot snapshot = read_targets(header);
        targets_.refresh(snapshot);
        for (std::uint32_t i = 0; i < kMaxTargetSlots; ++i)
            if (snapshot[i].state == TargetState::Active && (snapshot[i].fwmark & ~mark_mask_))
                log_line(header, kLogWarning, "fwmark %u has bits outside --mark-mask 0x%x", snapshot[i].fwmark,
                         mark_mask_);
    }
    // `kernel_mark`: the mark the packet arrived with (bits outside the mask stay).
    void write(PacketVerdict& pv, std::uint32_t id, std::uint32_t kernel_mark, const Verdict& v) {
        pv.id = id;
        switch (v.action) {
            case Action::AcceptMarked:
                pv.action = PacketVerdict::Action::Accept;
                pv.mark = apply_mark(kernel_mark, v.fwmark, mark_mask_);
                count_target(v.fwmark);
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
    }

private:
    void count_target(std::uint32_t fwmark) {
        if (auto s = targets_.slot_of(fwmark))
            slot_.per_target_packets[*s].store(slot_.per_target_packets[*s].load(std::memory_order_relaxed) + 1,
                                               std::memory_order_relaxed);
    }

    std::uint32_t mark_mask_;
    ThreadCounters& slot_;
    TargetSlots targets_;
    std::uint64_t generation_ = ~std::uint64_t{0};
};

// When this thread sweeps the association table. The sweep walks records in
// order and costs a cache line each. How many is the shared pacer's call (a
// full pass of the table every SweepPacer::kFullPass whatever the traffic);
// this thread asks at most every 10 ms, and at least every receive timeout
// (200 ms) when idle.
class SweepTimer {
public:
    [[nodiscard]] bool due(Nanos now) const { return now - last_ >= kInterval; }
    // Under the table lock.
    void sweep(AssociationTable& table, SweepPacer& pacer, Nanos now, Counters& counters) {
        table.expire(now, pacer.budget(now), counters);
        last_ = now;
    }

private:
    static constexpr Nanos kInterval = std::chrono::milliseconds(10);
    Nanos last_{0};
};

// Packets that get no verdict yet (worth_holding): decided again when the
// sync applied records or a first fragment came, released with their verdict
// (one message each, never a batch verdict: other packets may still be held),
// or dropped when their hold is up. Sized once: hold_max entries with a copy
// of up to the copy range each, and room for every held packet's verdict.
class HeldPackets {
public:
    HeldPackets(const DataPathOptions& options, std::size_t copy_range, bool with_sync, ParseOptions parse_options,
                Counters& counters, VerdictWriter& verdicts, TraceRecorder& trace)
        : enabled_(options.hold_ms > 0),
          with_sync_(with_sync),
          parse_options_(parse_options),
          held_(enabled_ ? options.hold_max : 0, enabled_ ? copy_range : 0, std::chrono::milliseconds(options.hold_ms)),
          released_(enabled_ ? options.hold_max : 0),
          counters_(counters),
          verdicts_(verdicts),
          trace_(trace) {}

    // Holding: early fragments always; unknown associations only with a sync
    // thread (without one nothing would ever resolve them).
    [[nodiscard]] bool enabled() const { return enabled_; }
    [[nodiscard]] bool empty() const { return held_.empty(); }
    [[nodiscard]] std::optional<std::uint32_t> oldest_id() const { return held_.oldest_id(); }
    [[nodiscard]] bool worth_holding(const Verdict& v) const { return sctplb::worth_holding(v, with_sync_); }
    // While packets are held, wake every millisecond: nothing signals the
    // socket when the sync applies records or a deadline passes.
    [[nodiscard]] std::uint32_t receive_timeout_ms(std::uint32_t idle_timeout_ms) const {
        return held_.empty() ? idle_timeout_ms : 1;
    }
    // `sync_generation`: the sync's applied records plus first fragments
    // recorded (both only grow). A change may resolve held packets.
    [[nodiscard]] bool retry_due(std::uint64_t sync_generation) const {
        return !held_.empty() && sync_generation != retried_generation_;
    }

    // Under the table lock: decides every held packet again. A scratch
    // Counters keeps a still-unknown packet from counting its reason twice.
    void retry(Decider& decider, std::span<const std::uint32_t> maglev, Nanos now, std::uint64_t sync_generation) {
        held_.retry([&](const HeldPacket& h) {
            parse_packet(h.bytes(), parse_options_, parsed_);
            Counters scratch;
            const Verdict v = decider.decide(parsed_, Direction::In, maglev, now, scratch);
            if (worth_holding(v)) {
                merge_redecision(counters_, scratch, false);
                return HoldOutcome::Keep;
            }
            merge_redecision(counters_, scratch, true);
            if (v.action != Action::Drop) counters_.count(Event::HoldResolved);
            release(h, v, " (hold-resolved)");
            return HoldOutcome::Resolved;
        });
        retried_generation_ = sync_generation;
    }

    // A packet of the batch whose verdict is worth waiting for. True when held
    // (its reason, counted by the decider, taken back: not a verdict yet);
    // false when the hold is full (hold-overflow: dropped now).
    bool try_hold(const QueuedPacket& packet, const Verdict& v, Nanos now, std::uint64_t sync_generation) {
        if (held_.empty()) retried_generation_ = sync_generation;
        if (!held_.try_hold(packet.id, packet.mark, packet.payload, packet.wire_length, v.reason, now)) {
            counters_.count(Event::HoldOverflow);  // its reason already counted
            return false;
        }
        --counters_.reasons[static_cast<std::size_t>(v.reason)];
        counters_.count(Event::Held);
        return true;
    }

    // Drops what waited its full hold: counted once, by the reason it was
    // first dropped for, plus hold-expired.
    void expire(Nanos now) {
        held_.pop_expired(now, [&](const HeldPacket& h) {
            counters_.count(h.reason);
            counters_.count(Event::HoldExpired);
            release(h, Verdict{Action::Drop, h.reason, 0}, " (hold-expired)");
        });
    }
    // Stop (or a fatal receive error): held packets get an explicit drop
    // verdict while the socket is still open, counted by their reason.
    // (Closing the socket would also drop them, in the kernel's queue flush,
    // but then nothing would count them.)
    void drop_all() {
        held_.drain([&](const HeldPacket& h) {
            counters_.count(h.reason);
            release(h, Verdict{Action::Drop, h.reason, 0}, " (hold-stopped)");
        });
    }
    // Writes the round's trace lines, then the released packets' verdicts
    // (before the batch's).
    void send_released(NfQueue& queue) {
        trace_.flush();
        if (released_count_ == 0) return;
        queue.send_verdicts(std::span(released_.data(), released_count_), BatchVerdictPolicy{.allowed = false, .oldest_pending_id = std::nullopt});
        released_count_ = 0;
    }

private:
    void release(const HeldPacket& h, const Verdict& v, const char* note) {
        verdicts_.write(released_[released_count_++], h.id, h.mark, v);
        trace_.record_held(h, v, note);
    }

    bool enabled_;
    bool with_sync_;
    ParseOptions parse_options_;
    HoldQueue held_;
    std::vector<PacketVerdict> released_;
    std::size_t released_count_ = 0;
    ParsedPacket parsed_;
    // The sync generation every held packet has been decided at (or after).
    std::uint64_t retried_generation_ = 0;
    Counters& counters_;
    VerdictWriter& verdicts_;
    TraceRecorder& trace_;
};

// A batch's per-packet arrays, sized for a batch; a datagram that held more
// grows them once.
struct BatchArrays {
    std::vector<ParsedPacket> parsed;
    std::vector<const ParsedPacket*> pointers;
    // Everything queued to us is addressed to a VIP; an INIT ACK is still
    // recognised as server -> client by its chunk type.
    std::vector<Direction> directions;
    std::vector<Verdict> decided;

    explicit BatchArrays(std::size_t n) { fit(n); }
    void fit(std::size_t n) {
        if (n <= parsed.size()) return;
        parsed.resize(n);
        pointers.resize(n);
        for (std::size_t i = 0; i < n; ++i) pointers[i] = &parsed[i];
        directions.resize(n, Direction::In);
        decided.resize(n);
    }
};

// The resources a queue thread is given; run() builds its pieces and loops.
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

    void run();
};

// One queue thread's loop: receive, decide under the table lock, answer.
class QueueLoop {
public:
    explicit QueueLoop(Worker& w)
        : w_(w),
          header_(w.state.header()),
          parse_options_{w.options.encapsulation_port},
          decider_(DeciderConfig{.mode = header_.hash_mode,
                                 .unknown_may_resolve = w.options.hold_ms > 0 && w.sync != nullptr},
                   header_.hash, w.state.table()),
          counts_(w.slot),
          trace_(header_, w.queue_number, parse_options_),
          verdicts_(w.options.mark_mask, w.slot),
          held_(w.options, w.queue.options().copy_range, w.sync != nullptr, parse_options_, counts_.counters,
                verdicts_, trace_),
          batch_(w.options.batch),
          idle_timeout_ms_(w.queue.receive_timeout_ms()) {
        if (w.options.server_queue == w.queue_number) servers_.emplace(w.options.servers);
        decider_.set_fragment_table(&w.fragments);
        decider_.set_admission(w.admission);
    }

    // Until stop, or a receive error (returns 1).
    int run() {
        w_.wait_for_sync(header_);
        int status = 0;
        while (!w_.stop.load(std::memory_order_relaxed))
            if (!round()) {
                status = 1;
                break;
            }
        held_.drop_all();
        held_.send_released(w_.queue);
        counts_.publish(w_.slot);
        return status;
    }

private:
    // One receive and what follows. False on a receive error (logged).
    bool round() {
        NfQueue& queue = w_.queue;
        if (held_.enabled()) queue.set_receive_timeout_ms(held_.receive_timeout_ms(idle_timeout_ms_));
        const NfQueue::ReceiveStatus received = queue.receive();
        // NfQueue counts the datagrams it had to drop; this thread publishes them.
        counts_.counters.events[static_cast<std::size_t>(Event::QueueDatagramTruncated)] =
            queue.stats().truncated_datagrams;
        const Nanos now = monotonic_now();
        if (received == NfQueue::ReceiveStatus::Error) {
            log_line(header_, kLogError, "queue %u: %s", w_.queue_number, queue.last_error().c_str());
            return false;
        }
        if (received == NfQueue::ReceiveStatus::Overrun) {
            ++counts_.enobufs;
            log_line(header_, kLogWarning, "queue %u: ENOBUFS, the kernel dropped packets", w_.queue_number);
        }
        verdicts_.follow_config(header_);
        if (received == NfQueue::ReceiveStatus::Packets)
            answer_batch(now, sync_generation());
        else
            maintain(now, sync_generation());
        counts_.publish(w_.slot);
        return true;
    }

    // Read before the table lock: whatever the sync applied up to this
    // generation is in the table the decisions see. (Plus first fragments
    // recorded: both counters only grow, so their sum changes with either.)
    [[nodiscard]] std::uint64_t sync_generation() const {
        return (w_.sync != nullptr ? w_.sync->applied_generation.load(std::memory_order_acquire) : 0) +
               w_.fragments.generation();
    }

    // No packets this round: held packets and the sweep, if due.
    void maintain(Nanos now, std::uint64_t sync_generation) {
        const bool retry_now = held_.retry_due(sync_generation);
        const bool sweep_now = sweep_.due(now);
        if (sweep_now || retry_now) {
            const TableLock lock(w_.state);
            if (retry_now) held_.retry(decider_, w_.state.active_maglev(), now, sync_generation);
            if (sweep_now) sweep_.sweep(w_.state.table(), w_.sweep_pacer, now, counts_.counters);
        }
        if (held_.enabled()) {
            held_.expire(now);
            held_.send_released(w_.queue);
        }
    }

    void answer_batch(Nanos now, std::uint64_t sync_generation) {
        NfQueue& queue = w_.queue;
        const bool retry_now = held_.retry_due(sync_generation);
        const auto in = queue.packets();
        const auto out = queue.verdicts();
        const std::size_t n = in.size();
        batch_.fit(n);
        for (std::size_t i = 0; i < n; ++i) parse_packet(in[i].payload, parse_options_, batch_.parsed[i]);
        if (servers_) return answer_server_batch(now);
        {
            const TableLock lock(w_.state);
            if (lock.recovered())
                trace_.log().add(kLogWarning, "table lock recovered from a dead holder: indexes rebuilt");
            // Held packets first: they are older than this batch.
            if (retry_now) held_.retry(decider_, w_.state.active_maglev(), now, sync_generation);
            decider_.decide_batch(std::span(batch_.pointers.data(), n), std::span(batch_.directions.data(), n),
                                  w_.state.active_maglev(), now, counts_.counters, std::span(batch_.decided.data(), n));
            if (sweep_.due(now)) sweep_.sweep(w_.state.table(), w_.sweep_pacer, now, counts_.counters);
        }
        if (held_.enabled()) held_.expire(now);
        // Verdicts for this batch, compacted: a held packet gets none now.
        std::size_t answered = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const Verdict& v = batch_.decided[i];
            const char* note = "";
            if (held_.enabled() && held_.worth_holding(v)) {
                if (held_.try_hold(in[i], v, now, sync_generation)) {
                    trace_.record(in[i].id, in[i].payload.size(), in[i].wire_length, batch_.parsed[i], v, " (held)");
                    continue;
                }
                note = " (hold-overflow)";
            }
            verdicts_.write(out[answered++], in[i].id, in[i].mark, v);
            trace_.record(in[i].id, in[i].payload.size(), in[i].wire_length, batch_.parsed[i], v, note);
        }
        counts_.packets += in.size();
        ++counts_.batches;
        held_.send_released(queue);
        // A batch verdict answers every queued id up to the one it names: runs
        // only up to the oldest held packet (this batch's ids are all newer
        // than the held ones of earlier batches, so with any held then none).
        queue.send_verdicts(out.first(answered), BatchVerdictPolicy{.allowed = true, .oldest_pending_id = held_.oldest_id()});
    }

    // The server queue: outbound INITs from a VIP. Only a packet whose source
    // MAC and interface are a configured server's next hop's may record an
    // association; anything else is dropped and counted (server-init-spoofed).
    void answer_server_batch(Nanos now) {
        NfQueue& queue = w_.queue;
        const auto in = queue.packets();
        const auto out = queue.verdicts();
        const std::size_t n = in.size();
        {
            const TableLock lock(w_.state);
            for (std::size_t i = 0; i < n; ++i) {
                const auto sender = servers_->identify(in[i].in_ifindex, in[i].src_mac, now);
                batch_.decided[i] = decider_.decide_from_server(batch_.parsed[i], sender.value_or(kNoTarget), now,
                                                                counts_.counters);
            }
            if (sweep_.due(now)) sweep_.sweep(w_.state.table(), w_.sweep_pacer, now, counts_.counters);
        }
        for (std::size_t i = 0; i < n; ++i) {
            verdicts_.write(out[i], in[i].id, in[i].mark, batch_.decided[i]);
            trace_.record(in[i].id, in[i].payload.size(), in[i].wire_length, batch_.parsed[i], batch_.decided[i], "");
        }
        counts_.packets += n;
        ++counts_.batches;
        queue.send_verdicts(out.first(n));
    }

    Worker& w_;
    std::optional<ServerIdentity> servers_;
    SharedHeader& header_;
    const ParseOptions parse_options_;
    Decider decider_;
    WorkerCounts counts_;
    TraceRecorder trace_;
    VerdictWriter verdicts_;
    HeldPackets held_;
    SweepTimer sweep_;
    BatchArrays batch_;
    const std::uint32_t idle_timeout_ms_;
};

void Worker::run() {
    status = QueueLoop(*this).run();
    slot.in_use.store(0, std::memory_order_release);
}

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
