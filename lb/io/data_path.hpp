// The data path of `sctplb lb`: one thread per NFQUEUE, all sharing the
// association table in shared memory. Per batch: receive (recvmmsg), parse,
// decide under the table lock (prefetched), verdicts with marks in one sendmsg.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <optional>
#include <vector>

#include "core/admission.hpp"
#include "io/log.hpp"
#include "io/nfqueue.hpp"
#include "io/server_identity.hpp"
#include "io/shared_state.hpp"

namespace sctplb {

struct DataPathOptions {
    std::vector<std::uint16_t> queues{2};
    std::uint32_t queue_length = 4096;
    std::uint32_t copy_range = 512;    // bytes of each packet copied to us: INIT parameters fit
    std::uint32_t mark_mask = 0xffffffffu;  // only these fwmark bits are ours
    std::uint16_t encapsulation_port = 0;   // SCTP over UDP (RFC 6951); 0 = off
    bool fail_open = false;
    std::size_t batch = 64;
    // Held packets get no verdict for up to hold_ms, then are dropped
    // (hold-expired): a non-first IP fragment awaiting its first fragment, and,
    // with a DataPathSync, a client -> server packet whose association is
    // unknown (unknown-association, cookie-echo-unknown; vtag mode only)
    // awaiting a peer's sync record. 0 = off.
    std::uint32_t hold_ms = 5;
    AdmissionConfig admission{};    // who may open associations, how fast (default: anyone, unlimited)
    std::uint32_t hold_max = 1024;  // packets held per queue thread; beyond: dropped (hold-overflow)
    // Server-initiated associations (docs/design.md): this queue (also listed
    // in `queues`) carries the servers' outbound INITs from a VIP; the sender
    // is identified by source MAC and interface against `servers`' next hops.
    std::optional<std::uint16_t> server_queue;
    std::vector<ServerNextHop> servers;
};

// The data path's view of the sync thread. Given by `sctplb lb` when sync is
// configured, else nullptr.
struct DataPathSync {
    // Set by the sync thread when the startup resync is done (or timed out).
    // Until then the workers read nothing: packets wait in the kernel queue.
    std::atomic<bool> ready{false};
    // Bumped (release) by the sync thread AFTER it applied peer records to the
    // table and released the table lock: held packets are decided again.
    std::atomic<std::uint64_t> applied_generation{0};
};


// The per-thread counter slots (SharedHeader::threads) outlive the daemon, so
// a restart carries on its counts. They are matched by queue number, not by
// position: a restart with another queue order or set must not hand one
// queue's counts to another.
struct CounterSlotHistory {
    std::uint32_t queue = 0;  // the queue the slot last served
    bool used = false;        // it holds counts (or is owned right now)
};
struct CounterSlotChoice {
    std::uint32_t slot = 0;
    bool carry = false;  // the slot's counts are this queue's: keep them; else zero it first
};
// One slot per queue of `queues`, in order: the slot that last served that
// queue; for a queue new to this segment, a never-used slot, else the slot of
// a queue not served now (its counts are zeroed). Empty when there are more
// queues than slots.
std::vector<CounterSlotChoice> assign_counter_slots(std::span<const CounterSlotHistory> slots,
                                                    std::span<const std::uint16_t> queues);

// Runs until `stop` is set. Returns 0 on a clean stop, 1 when a queue could
// not be bound or failed (the error is logged). `sync` (may be null) must
// outlive the call.
int run_data_path(SharedState& state, const DataPathOptions& options, const std::atomic<bool>& stop,
                  DataPathSync* sync = nullptr);

}  // namespace sctplb
