#include "data_path.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "decider.hpp"
#include "packet.hpp"

namespace sctplb {

Nanos monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return Nanos{std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec};
}

namespace {

std::mutex log_mutex;

// One line on stderr when `level` is enabled in the shared log level.
__attribute__((format(printf, 3, 4))) void log_line(const SharedHeader& header, std::int32_t level,
                                                    const char* format, ...) {
    if (level > header.log_level.load(std::memory_order_relaxed)) return;
    char text[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm local{};
    localtime_r(&ts.tv_sec, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    const std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "%s.%03ld sctplb[%d]: %s\n", stamp, ts.tv_nsec / 1'000'000, getpid(), text);
}

void format_address(const IpAddress& address, char (&out)[INET6_ADDRSTRLEN]) {
    const auto& b = address.bytes();
    if (!(address.is_v4() ? inet_ntop(AF_INET, b.data() + 12, out, sizeof out)
                          : inet_ntop(AF_INET6, b.data(), out, sizeof out)))
        out[0] = '\0';
}

bool trace_matches(const TraceFilter& trace, const ParsedPacket& p) {
    if (!trace.enabled.load(std::memory_order_acquire)) return false;
    const std::uint16_t port = trace.port.load(std::memory_order_relaxed);
    if (port != 0 && p.sport != port && p.dport != port) return false;
    if (trace.has_address.load(std::memory_order_relaxed) && !(p.src == trace.address || p.dst == trace.address))
        return false;
    return true;
}

void trace_packet(const SharedHeader& header, std::uint16_t queue, const QueuedPacket& q,
                  const ParsedPacket& p, const Verdict& v) {
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
    log_line(header, kLogError, "trace q%u id=%u %s:%u -> %s:%u vtag=0x%08x [%s] len=%u/%u -> %.*s mark=%u reason=%.*s",
             queue, q.id, src, p.sport, dst, p.dport, p.vtag, chunks,
             static_cast<unsigned>(q.payload.size()), q.wire_length,
             static_cast<int>(action_name(v.action).size()), action_name(v.action).data(), v.fwmark,
             static_cast<int>(reason_name(v.reason).size()), reason_name(v.reason).data());
}

// Which target slot an fwmark belongs to, for per-target packet counts.
// Rebuilt when the configuration generation changes (not per packet).
class TargetSlots {
public:
    void refresh(const SharedHeader& header) {
        entries_.clear();
        for (std::uint32_t i = 0; i < kMaxTargets; ++i)
            if (header.targets[i].state != TargetState::Unused) entries_.emplace_back(header.targets[i].fwmark, i);
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
    NfQueue queue;
    ThreadCounters& slot;
    std::uint16_t queue_number;
    int status = 0;

    void run() {
        SharedHeader& header = state.header();
        Decider decider(DeciderConfig{header.hash_mode}, header.hash, state.table());
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
        constexpr Nanos kSweepInterval = std::chrono::milliseconds(10);
        const std::size_t sweep_budget = std::max<std::size_t>(64, state.table().capacity() / 1000);
        Nanos last_sweep{0};
        TargetSlots targets;

        while (!stop.load(std::memory_order_relaxed)) {
            const NfQueue::ReceiveStatus received = queue.receive();
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
            if (received != NfQueue::ReceiveStatus::Packets) {
                const TableLock lock(state);
                state.table().expire(now, sweep_budget, counters);
                last_sweep = now;
                publish(slot, counters, packets, batches, enobufs);
                continue;
            }
            const std::uint64_t current = header.config_generation.load(std::memory_order_acquire);
            if (current != generation) {
                generation = current;
                targets.refresh(header);
                for (std::uint32_t i = 0; i < kMaxTargets; ++i)
                    if (header.targets[i].state == TargetState::Active && (header.targets[i].fwmark & ~options.mark_mask))
                        log_line(header, kLogWarning, "fwmark %u has bits outside --mark-mask 0x%x",
                                 header.targets[i].fwmark, options.mark_mask);
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
                    log_line(header, kLogWarning, "table lock recovered from a dead holder: indexes rebuilt");
                decider.decide_batch(std::span(pointers.data(), n), std::span(directions.data(), n),
                                     state.active_maglev(), now, counters, std::span(decided.data(), n));
                // The sweep walks records in order and costs a cache line each:
                // at most every 10 ms, a thousandth of the table (a full pass
                // every 10 s per thread, well inside every timeout).
                if (now - last_sweep >= kSweepInterval) {
                    state.table().expire(now, sweep_budget, counters);
                    last_sweep = now;
                }
            }
            for (std::size_t i = 0; i < n; ++i) {
                const Verdict& v = decided[i];
                PacketVerdict& pv = out[i];
                switch (v.action) {
                    case Action::AcceptMarked:
                        pv.action = PacketVerdict::Action::Accept;
                        pv.mark = apply_mark(in[i].mark, v.fwmark, options.mark_mask);
                        if (auto s = targets.slot_of(v.fwmark))
                            slot.per_target_packets[*s].store(slot.per_target_packets[*s].load(std::memory_order_relaxed) + 1,
                                                              std::memory_order_relaxed);
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
                if (trace_matches(header.trace, parsed[i])) trace_packet(header, queue_number, in[i], parsed[i], v);
            }
            packets += in.size();
            ++batches;
            queue.send_verdicts(out);
            publish(slot, counters, packets, batches, enobufs);
        }
        slot.in_use.store(0, std::memory_order_release);
    }
};

}  // namespace

int run_data_path(SharedState& state, const DataPathOptions& options, const std::atomic<bool>& stop) {
    SharedHeader& header = state.header();
    if (options.queues.empty() || options.queues.size() > kMaxDataPathThreads) {
        log_line(header, kLogError, "between 1 and %u queues, please", kMaxDataPathThreads);
        return 1;
    }
    std::vector<Worker> workers;
    workers.reserve(options.queues.size());
    std::uint32_t next_slot = 0;
    for (std::uint16_t q : options.queues) {
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
            return 1;
        }
        ThreadCounters& slot = header.threads[next_slot++];
        slot.queue.store(q, std::memory_order_relaxed);
        slot.in_use.store(1, std::memory_order_release);
        workers.push_back(Worker{state, options, stop, std::move(*queue), slot, q});
        log_line(header, kLogNotice, "queue %u bound (copy %u bytes, length %u%s)", q, options.copy_range,
                 options.queue_length, options.fail_open ? ", fail-open" : "");
    }
    header.daemon_pid.store(getpid(), std::memory_order_relaxed);
    header.daemon_started_ns.store(monotonic_now().count(), std::memory_order_relaxed);
    {
        const TableLock lock(state);
        log_line(header, kLogNotice, "running: %zu queue(s), %u associations in the table, hash mode %.*s",
                 workers.size(), state.table().size(), static_cast<int>(hash_mode_name(header.hash_mode).size()),
                 hash_mode_name(header.hash_mode).data());
    }
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
