// The fast-path thread of `sctplb lb --fastpath` (docs/design.md "The kernel
// fast path"): keeps the kernel's map (lb/io/nft_fastpath, made by `sctplb
// rules --fastpath`) equal to the established associations of the table.
//
//   - Walks the table in slices (under the table lock, a slice at a time) and
//     adds one element per client address of every established association
//     whose Ts is known, locally or by sync; removes the elements of
//     associations that closed, were re-keyed by a restart, or whose target
//     went down (FastPathLedger, lb/core/fast_path). Passes come 50 ms apart
//     while they change the map and up to 800 ms apart while they do not
//     (FastPathPacer); a target's state change or a new live count wakes it.
//   - Every second reads the elements back: the time each has left tells when
//     the kernel last forwarded a packet of the association, which becomes
//     its last_seen (and travels to sync peers). When all elements of an
//     association timed out and nobody else saw it since, the association is
//     idle: it leaves the table (fastpath-idle) — the kernel's timeout is
//     authoritative, the sweep never expires an association in the fast path.
//   - At start, reconciles: elements the table does not know are live
//     associations whose state was lost: imported (fastpath-imported).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "io/shared_state.hpp"

namespace sctplb {

enum class FastPathMode : std::uint8_t {
    Off,   // never; at start empties the maps so the kernel forwards nothing on its own
    Auto,  // when `sctplb rules --fastpath` installed the table (the default)
    On,    // required: no table is an error
};

struct FastPathServiceOptions {
    FastPathMode mode = FastPathMode::Auto;
    std::string table;                // the nft table (fastpath_table_name of --shm)
    std::uint32_t pass_interval_ms = 50;  // pause between passes over the table while they change the map
    std::uint32_t quiet_pass_interval_ms = 800;  // the longest pause, reached while passes change nothing
    std::uint32_t slice = 8192;           // table slots per slice
    std::uint32_t activity_interval_ms = 1000;
};

class FastPathService {
public:
    // Opens the netlink socket and checks the table. Off: empties the maps if
    // the table exists, clears the table's in_fast_path flags, and returns
    // nullptr. Auto without the table: the same. On without it: nullptr with
    // `error`. Otherwise reconciles the map with the table and returns the
    // service, ready to run.
    static std::unique_ptr<FastPathService> start(SharedState& state, const FastPathServiceOptions& options,
                                                  std::string& error);
    ~FastPathService();

    // The thread's body: runs until `stop`.
    void run(const std::atomic<bool>& stop);

private:
    struct Impl;
    explicit FastPathService(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace sctplb
