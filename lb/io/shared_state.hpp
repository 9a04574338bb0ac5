// The shared-memory segment of one sctplb instance (`--shm NAME`):
// configuration, the Maglev tables, control knobs, counters and the
// association table, so that the data path (`sctplb lb`) and the CLI
// (`sctplb activate`, `show`, `assoc`, ...) are separate processes, and a
// restarted daemon continues every association.
//
// Layout: SharedHeader at offset 0, then (offsets in the header) the two
// Maglev buffers and the association table block. Everything is trivially
// copyable or a lock-free atomic, with no pointers. A segment of another
// layout version is refused with a clear error (see `assoc --export/--import`).
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "core/decider.hpp"
#include "core/health_probe.hpp"
#include "core/keyed_hash.hpp"
#include "core/maglev.hpp"
#include "core/sync_engine.hpp"
#include "core/verdict.hpp"

namespace sctplb {

inline constexpr std::uint64_t kSharedMagic = 0x5343'5450'4c42'5348ull;  // "SCTPLBSH"
// 4: seqlocks on the targets and the trace filter; 5: target weights; 6: health (SharedHealth);
// 7: server-initiated reasons (association table v4); 8: peer-init-ack-unknown
inline constexpr std::uint32_t kSharedLayoutVersion = 8;
inline constexpr std::uint32_t kMaxTargetSlots = 256;   // target slots in the segment: N upper bound
inline constexpr std::uint32_t kMaxDataPathThreads = 16;

// The one rule for a --shm NAME, applied by every command: it names the
// segment (/dev/shm/NAME), tags the iptables rules (comment "sctplb:NAME") and
// names the fast-path nft table, so it is 1..64 of A-Z a-z 0-9 _ - . (nothing
// a shell or an iptables-save line must quote) and does not start with '.'
// (no hidden file, no "." or ".."). False: `error` is one line naming NAME.
inline constexpr std::size_t kMaxSharedMemoryName = 64;
bool valid_shared_memory_name(std::string_view name, std::string& error);

enum class TargetState : std::uint8_t {
    Unused = 0,
    Active,    // in the Maglev table: gets new associations
    Draining,  // `deactivate`: no new associations; live ones stay pinned until they end
    Down,      // `down`: no new associations; its associations were forgotten
};

// One target as readers see it: a copy (see SharedTargets, read_targets).
struct TargetSlot {
    std::uint32_t fwmark = 0;
    TargetState state = TargetState::Unused;
    std::uint32_t weight = 1;  // Maglev weight, 1..kMaglevMaxWeight (`activate --weight`)
    friend bool operator==(const TargetSlot&, const TargetSlot&) = default;
};
using TargetSnapshot = std::array<TargetSlot, kMaxTargetSlots>;

// Counters of one data-path thread. Single writer (that thread), relaxed
// stores; readers sum the slots.
struct alignas(64) ThreadCounters {
    std::atomic<std::uint64_t> reasons[kReasonCount];
    std::atomic<std::uint64_t> events[kEventCount];
    std::atomic<std::uint64_t> packets;
    std::atomic<std::uint64_t> batches;
    std::atomic<std::uint64_t> enobufs;
    std::atomic<std::uint64_t> per_target_packets[kMaxTargetSlots];  // by target slot
    std::atomic<std::uint32_t> queue;       // NFQUEUE number served
    std::atomic<std::uint32_t> in_use;      // 1 while a thread owns the slot
};

// Seqlocks: how a writer (holding config_mutex, so one at a time) publishes
// several fields that processes read without any lock.
//   writer: sequence odd (relaxed store, then a release fence), the fields
//           (relaxed atomic stores), sequence even (release store).
//   reader: sequence (acquire); odd: a write is under way, try again; the
//           fields (relaxed atomic loads); an acquire fence; sequence again
//           (relaxed): changed means a write overlapped, try again.
// Every field is a lock-free atomic, so an overlapping read is merely stale
// or mixed, never undefined, and the sequence check throws a mix away. A
// writer that dies between odd and even leaves the sequence odd: the next
// holder of config_mutex gets EOWNERDEAD and makes it even (ConfigLock).

// The target array in shared memory: written by activate / deactivate / down
// (holding config_mutex), read without it by the data path, the fast-path
// thread and `stats`, through the seqlock above.
struct SharedTargets {
    struct Slot {
        std::atomic<std::uint32_t> fwmark;
        std::atomic<TargetState> state;
        std::atomic<std::uint32_t> weight;
    };
    std::atomic<std::uint64_t> sequence;
    Slot slots[kMaxTargetSlots];
};

struct SharedHeader;

// Replaces every slot; caller holds config_mutex (ConfigLock).
void write_targets(SharedHeader& header, const TargetSnapshot& targets);
// A consistent copy of every slot. Spins while a write is under way; when
// that takes long it tries (never waits for) config_mutex: holding it, it
// copies with no writer about, and repairs what a dead writer left. So it may
// be called with the table lock held, and never blocks on a dead writer.
[[nodiscard]] TargetSnapshot read_targets(SharedHeader& header);

// The per-packet trace (`sctplb trace`), as the data path reads it.
struct TraceSettings {
    bool enabled = false;
    std::uint16_t port = 0;               // 0 = any (matches sport or dport)
    std::optional<IpAddress> address;     // none = any
    friend bool operator==(const TraceSettings&, const TraceSettings&) = default;
};

struct TraceFilter {
    std::atomic<std::uint64_t> sequence;  // seqlock (above)
    std::atomic<std::uint32_t> enabled;   // 0 off, 1 on; also read alone, as the cheap per-packet check
    std::atomic<std::uint16_t> port;
    std::atomic<std::uint8_t> has_address;
    std::atomic<std::uint64_t> address[2];  // the 16 bytes of the IpAddress
};

// Caller holds config_mutex (ConfigLock).
void write_trace(TraceFilter& trace, const TraceSettings& settings);
// A consistent copy; when no consistent copy came within a bounded number of
// tries (a writer died mid-write and nobody took the lock since), tracing off:
// the data path never waits for the trace.
[[nodiscard]] TraceSettings read_trace(const TraceFilter& trace);

// One sync peer as the sync thread last saw it (`sctplb stats`). Single
// writer (the sync thread); text fields are written before sync.enabled.
struct SyncPeerShared {
    char address[64];                            // ADDR:PORT as configured
    std::atomic<std::uint32_t> state;            // PeerState
    std::atomic<std::uint64_t> instance;
    std::atomic<std::uint64_t> epoch;
    std::atomic<std::uint64_t> digest_chars[2];  // 16 ASCII hex digits, packed
    std::atomic<std::uint32_t> digest;           // 0 not heard, 1 same as ours, 2 different
    std::atomic<std::int64_t> last_heard_ns;     // monotonic, -1 never
    std::atomic<std::uint64_t> unacked;
    std::atomic<std::int64_t> lag_ns;            // oldest unacknowledged message's age
    std::atomic<std::int64_t> rtt_ns;
    std::atomic<std::uint32_t> table_received;   // answered the startup table request
};

// Association sync (`sctplb lb --sync-*`).
struct SyncShared {
    std::atomic<std::uint32_t> enabled;  // release-stored after the fields below are set
    char listen[64];
    std::atomic<std::uint64_t> instance;
    std::atomic<std::uint64_t> epoch;
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> peer_count;
    std::atomic<std::uint64_t> counters[kSyncCounterCount];
    std::atomic<std::uint64_t> rejected[kSyncRejectionCount];
    ThreadCounters decisions;  // events of the sync thread's table changes (e.g. sync-conflict)
    SyncPeerShared peers[kMaxSyncPeers];
    // Kept across daemon restarts (sync thread only): the last epoch used, so
    // the next start's epoch is larger even if the clock went back; and each
    // peer's replay window, so a restarted receiver still refuses replays.
    std::uint64_t last_epoch;
    char window_owner[kMaxSyncPeers][64];  // the peer address each window belongs to
    SyncReplayWindow windows[kMaxSyncPeers];
};

// The kernel fast path (`sctplb lb --fastpath`), as its thread last saw it.
// Single writer (the fast-path thread); `table` is written before `enabled`.
struct FastPathShared {
    std::atomic<std::uint32_t> enabled;  // 1 while a daemon runs the fast path
    char table[72];                      // the nft table (inet family)
    std::atomic<std::uint64_t> associations;  // forwarded by the kernel now
    std::atomic<std::uint64_t> elements;      // map elements installed
    std::atomic<std::uint64_t> timeout_ms;    // the map's element timeout
    std::atomic<std::uint64_t> map_size;
    std::atomic<std::int64_t> last_pass_ns;   // monotonic: the last full pass over the table
    ThreadCounters decisions;                 // fastpath-* events
};

// Health checks (`sctplb health`): one entry per probed fwmark, apart from
// the target slots (which activate/deactivate/down own). Single writer: the
// one health process recorded in `pid`; readers (show, metrics) use
// read_health(), whose fields may be a probe apart, never torn.
struct HealthEntry {
    std::atomic<std::uint32_t> fwmark;          // 0: entry unused
    std::atomic<HealthState> state;
    std::atomic<ProbeResult> last_result;
    std::atomic<std::uint8_t> held;             // 1: health took the target out and will bring it back
    std::atomic<std::int64_t> last_probe_unix_ns;  // CLOCK_REALTIME of the last result, 0 none
    std::atomic<std::int64_t> last_rtt_ns;      // INIT → INIT ACK of the last success
    std::atomic<std::uint64_t> probes_ok;
    std::atomic<std::uint64_t> probes_failed;
    std::atomic<std::uint64_t> went_up;         // transitions to up / down
    std::atomic<std::uint64_t> went_down;
};

struct SharedHealth {
    std::atomic<std::int32_t> pid;              // the running `sctplb health`, 0 none
    std::atomic<std::uint32_t> entry_count;     // entries[0..count) written (release) after their fwmark
    HealthEntry entries[kMaxTargetSlots];
};

// One entry as readers see it.
struct HealthView {
    std::uint32_t fwmark = 0;
    HealthState state = HealthState::Unknown;
    ProbeResult last_result = ProbeResult::None;
    bool held = false;
    std::int64_t last_probe_unix_ns = 0;
    std::int64_t last_rtt_ns = 0;
    std::uint64_t probes_ok = 0;
    std::uint64_t probes_failed = 0;
    std::uint64_t went_up = 0;
    std::uint64_t went_down = 0;
};

struct SharedHeader {
    // Identity and layout (written once by `init`).
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t header_size;
    std::uint64_t segment_size;
    std::uint64_t maglev_offset;        // two buffers of M uint32 fwmarks each
    std::uint64_t table_offset;         // AssociationTable block
    std::uint64_t table_size;

    // Configuration (written once by `init`).
    std::uint32_t maglev_m;             // prime
    std::uint32_t max_targets;          // N
    HashMode hash_mode;
    KeyedHash hash;                     // secret derived from the seed file (segment is 0600)

    // Targets (changed by activate / deactivate / down under config_mutex).
    pthread_mutex_t config_mutex;       // robust, process-shared: serialises CLI writers
    SharedTargets targets;              // read_targets() / write_targets()
    std::atomic<std::uint32_t> maglev_active;      // 0 or 1: the buffer the data path reads
    std::atomic<std::uint64_t> config_generation;  // bumped after every flip
    char config_digest[17];

    // Association table lock: robust, process-shared. A holder killed mid-update
    // leaves EOWNERDEAD: the next holder rebuilds the indexes from the records.
    pthread_mutex_t table_mutex;

    // Control.
    std::atomic<std::int32_t> log_level;
    TraceFilter trace;

    // The running data path.
    std::atomic<std::int32_t> daemon_pid;  // 0 when none
    std::atomic<std::int64_t> daemon_started_ns;
    ThreadCounters threads[kMaxDataPathThreads];
    SyncShared sync;
    FastPathShared fast_path;
    SharedHealth health;  // layout 5
};

// The health entries in use, and the pid of a running `sctplb health` (0 when
// none runs: the entries are then what the last one left).
struct HealthReport {
    std::int32_t pid = 0;
    std::vector<HealthView> entries;
};
[[nodiscard]] HealthReport read_health(const SharedHeader& header);

// A mapped segment.
class SharedState {
public:
    struct CreateOptions {
        std::uint32_t maglev_m = kMaglevDefaultM;
        std::uint32_t max_targets = 32;
        HashMode hash_mode = HashMode::Vtag;
        TableLimits table_limits{.capacity = 262144};
        Timeouts timeouts{};
        KeyedHash hash{};
        // The most bytes the segment may take; 0: half the physical memory
        // (memory_limit()). Refused before anything is made, naming both sizes.
        std::uint64_t memory_limit = 0;
    };

    // The bytes a segment of `options` takes (header, both Maglev buffers,
    // the table), in whole pages. No system call.
    [[nodiscard]] static std::size_t segment_size(const CreateOptions& options);
    // Half the physical memory (sysconf _SC_PHYS_PAGES * _SC_PAGESIZE): a
    // segment larger than that would crowd out everything else on the host.
    [[nodiscard]] static std::uint64_t memory_limit();

    // `name` is the --shm NAME (default "sctplb"); the POSIX name is "/NAME".
    static std::optional<SharedState> create(const std::string& name, const CreateOptions& options,
                                             std::string& error);
    static std::optional<SharedState> open(const std::string& name, std::string& error);
    static bool remove(const std::string& name, std::string& error);

    SharedState(SharedState&&) noexcept;
    SharedState& operator=(SharedState&&) noexcept;
    SharedState(const SharedState&) = delete;
    SharedState& operator=(const SharedState&) = delete;
    ~SharedState();

    [[nodiscard]] SharedHeader& header() const { return *header_; }
    [[nodiscard]] std::span<std::uint32_t> maglev_buffer(std::uint32_t which) const;
    [[nodiscard]] std::span<const std::uint32_t> active_maglev() const;
    [[nodiscard]] AssociationTable& table() { return *table_; }

    // Rebuilds the Maglev table from the Active targets and their weights into the buffer the data
    // path is not reading, then flips `maglev_active` (release) and bumps
    // `config_generation`; updates `config_digest`. Caller holds config_mutex
    // and must NOT hold table_mutex: after the flip this takes the table lock
    // once as a grace period (the data path reads the active buffer only under
    // that lock), so the next publish never overwrites a buffer still in use.
    bool publish_targets(std::string& error);

    // One data path (`sctplb lb`) per segment: records this process in
    // `daemon_pid` unless another live sctplb is recorded there (then false
    // with a one-line `error`). A record left by a dead daemon is taken over.
    bool claim_data_path(std::string& error);
    // Clears `daemon_pid` if (and only if) this process holds it.
    void release_data_path();
    // The same for the health checker (`sctplb health`): one per segment.
    bool claim_health(std::string& error);
    void release_health();

private:
    SharedState() = default;
    SharedHeader* header_ = nullptr;
    std::size_t size_ = 0;
    std::optional<AssociationTable> table_;
};

// Whether `pid` is a running sctplb (a pid recorded in `daemon_pid` may be
// stale: its daemon was killed, the number reused).
[[nodiscard]] bool data_path_alive(std::int32_t pid);

// Holds `table_mutex` (robust, process-shared). When the previous holder died
// holding it (EOWNERDEAD), the table is repaired with rebuild_indexes() and the
// mutex made consistent before the lock is granted: a daemon killed at any
// instant leaves a usable table.
class TableLock {
public:
    explicit TableLock(SharedState& state);
    ~TableLock();
    TableLock(const TableLock&) = delete;
    TableLock& operator=(const TableLock&) = delete;
    [[nodiscard]] bool recovered() const { return recovered_; }  // EOWNERDEAD was handled

private:
    SharedState& state_;
    bool recovered_ = false;
};

// Same for config_mutex. A dead holder may have left a seqlock odd (targets,
// trace): it is closed before the lock is granted.
class ConfigLock {
public:
    explicit ConfigLock(SharedState& state);
    ~ConfigLock();
    ConfigLock(const ConfigLock&) = delete;
    ConfigLock& operator=(const ConfigLock&) = delete;

private:
    SharedState& state_;
};

}  // namespace sctplb
