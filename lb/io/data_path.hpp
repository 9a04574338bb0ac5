// The data path of `sctplb lb`: one thread per NFQUEUE, all sharing the
// association table in shared memory. Per batch: receive (recvmmsg), parse,
// decide under the table lock (prefetched), verdicts with marks in one sendmsg.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "nfqueue.hpp"
#include "shared_state.hpp"

namespace sctplb {

struct DataPathOptions {
    std::vector<std::uint16_t> queues{2};
    std::uint32_t queue_length = 4096;
    std::uint32_t copy_range = 512;    // bytes of each packet copied to us: INIT parameters fit
    std::uint32_t mark_mask = 0xffffffffu;  // only these fwmark bits are ours
    std::uint16_t encapsulation_port = 0;   // SCTP over UDP (RFC 6951); 0 = off
    bool fail_open = false;
    std::size_t batch = 64;
};

// Syslog-like levels (`--log`, `sctplb loglevel`).
enum LogLevel : std::int32_t {
    kLogError = 3,
    kLogWarning = 4,
    kLogNotice = 5,
    kLogInfo = 6,
    kLogDebug = 7,
};

// Runs until `stop` is set. Returns 0 on a clean stop, 1 when a queue could
// not be bound or failed (the error is logged).
int run_data_path(SharedState& state, const DataPathOptions& options, const std::atomic<bool>& stop);

// Monotonic clock reading: the `now` of every decision, and what `sctplb
// assoc` compares timestamps with.
Nanos monotonic_now();

}  // namespace sctplb
