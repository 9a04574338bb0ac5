// Association sync between the sctplb instances of one tier: the protocol
// logic, without sockets or clocks of its own (docs/design.md "The LB tier").
//
// The I/O layer (lb/io/sync_service) feeds it datagrams from configured peers
// and the time, calls it under the table lock, and sends what it queued:
//   on_datagram()  a datagram from peer k: authenticated, checked against
//                  replay, applied (records merged, acks noted, dumps started)
//   collect()      local changes (the journal) and last-seen reports, batched
//   tick()         acks, retransmissions, keepalives, table requests and
//                  transfers, peer liveness
// Reliability: Records and TableEnd messages are acknowledged by sequence
// number and resent until acknowledged; a peer that stays silent or never
// acknowledges is marked down, its backlog dropped, and it gets the whole
// table when it is heard again. A starting instance asks every peer for its
// whole table and reports ready() when all have sent it (or the wait is over).
// Replay: sequence numbers carry the sender's epoch (strictly increasing per
// start); each peer has a window of the last 1024 sequence numbers.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "core/sync_merge.hpp"
#include "core/sync_wire.hpp"
#include "core/verdict.hpp"

namespace sctplb {

inline constexpr std::size_t kMaxSyncPeers = 8;

// Replay protection state for one peer; trivially copyable so that it can live
// in shared memory and survive a restart of the receiving daemon.
struct SyncReplayWindow {
    static constexpr std::uint64_t kSize = 1024;
    std::uint64_t epoch = 0;
    std::uint64_t highest = 0;
    std::array<std::uint64_t, kSize / 64> seen{};  // bit i: sequence (highest - i) received
};
enum class WindowCheck : std::uint8_t { Fresh, Duplicate, TooOld };
// Records (epoch, sequence) when fresh. A newer epoch starts the window anew.
WindowCheck check_and_record(SyncReplayWindow& window, std::uint64_t epoch, std::uint64_t sequence);

#define SCTPLB_SYNC_COUNTERS(X)                                                              \
    X(MessagesSent, "messages_sent")                                                         \
    X(MessagesReceived, "messages_received")   /* authentic and fresh */                     \
    X(RecordsSent, "records_sent")                                                           \
    X(RecordsApplied, "records_applied")       /* inserted, updated or refreshed */          \
    X(RecordsInserted, "records_inserted")                                                   \
    X(RecordsUpdated, "records_updated")                                                     \
    X(RecordsIgnored, "records_ignored")                                                     \
    X(RecordsTableFull, "records_table_full")                                                \
    X(Retransmits, "retransmits")                                                            \
    X(AcksSent, "acks_sent")                                                                 \
    X(AcksReceived, "acks_received")                                                         \
    X(TableRequestsSent, "table_requests_sent")                                              \
    X(TableDumpsServed, "table_dumps_served")                                                \
    X(TableRecordsReceived, "table_records_received")                                        \
    X(DigestMismatches, "digest_mismatches")   /* messages from a peer with another config */ \
    X(PeerRestarts, "peer_restarts")           /* a peer came back with a new epoch */        \
    X(PeersLost, "peers_lost")                 /* a peer went silent or never acknowledged */ \
    X(BacklogDropped, "backlog_dropped")       /* messages dropped for a lost peer */

enum class SyncCounter : std::uint8_t {
#define SCTPLB_SYNC_COUNTER_ENUM(id, name) id,
    SCTPLB_SYNC_COUNTERS(SCTPLB_SYNC_COUNTER_ENUM)
#undef SCTPLB_SYNC_COUNTER_ENUM
};
inline constexpr std::size_t kSyncCounterCount = 0
#define SCTPLB_SYNC_COUNTER_COUNT(id, name) +1
    SCTPLB_SYNC_COUNTERS(SCTPLB_SYNC_COUNTER_COUNT)
#undef SCTPLB_SYNC_COUNTER_COUNT
    ;
std::string_view sync_counter_name(SyncCounter counter);

struct SyncStats {
    std::array<std::uint64_t, kSyncCounterCount> counters{};
    std::array<std::uint64_t, kSyncRejectionCount> rejected{};
    void count(SyncCounter c, std::uint64_t n = 1) { counters[static_cast<std::size_t>(c)] += n; }
    void count(SyncRejection r) { ++rejected[static_cast<std::size_t>(r)]; }
    [[nodiscard]] std::uint64_t of(SyncCounter c) const { return counters[static_cast<std::size_t>(c)]; }
    [[nodiscard]] std::uint64_t of(SyncRejection r) const { return rejected[static_cast<std::size_t>(r)]; }
};

// AuthFailing: no authentic message for peer_down_after, but datagrams from
// the peer's address arrive and fail authentication (forged MAC or unknown
// key id): most likely its --sync-key differs from ours, not a dead peer.
enum class PeerState : std::uint8_t { Unknown = 0, Up, Down, AuthFailing };
std::string_view peer_state_name(PeerState state);

struct SyncPeerStatus {
    PeerState state = PeerState::Unknown;
    std::uint64_t instance = 0;
    std::uint64_t epoch = 0;
    ConfigDigestText digest{};
    bool digest_known = false;
    bool digest_match = false;
    Nanos last_heard{-1};
    std::size_t unacked = 0;
    Nanos lag{0};   // age of the oldest unacknowledged message (0: none)
    Nanos rtt{0};   // last acknowledged message: sent -> acknowledged
    bool table_received = false;  // answered our startup table request
    std::uint64_t auth_failures = 0;  // datagrams from its address that failed authentication
    Nanos last_auth_failure{-1};
};

struct SyncEngineOptions {
    std::uint64_t instance = 0;  // random per start
    std::uint64_t epoch = 0;     // strictly increasing per start (see sync_service)
    std::size_t peer_count = 0;
    Nanos retransmit_after = std::chrono::milliseconds(50);
    std::uint32_t max_retransmits = 20;   // ~1 s of silence at 50 ms
    Nanos keepalive_interval = std::chrono::milliseconds(500);
    Nanos peer_down_after = std::chrono::seconds(3);
    Nanos table_request_interval = std::chrono::milliseconds(250);
    Nanos startup_wait = std::chrono::seconds(2);
    // A live association's last-seen is reported when it moved this much
    // since the last report (0: the table's idle timeout / 8).
    Nanos seen_report_interval{0};
    std::size_t max_unacked = 512;        // per peer: flow control for table transfers
    std::size_t dump_slots_per_tick = 4096;
    std::size_t scan_slots_per_tick = 4096;
};

class SyncEngine {
public:
    struct Outgoing {
        std::size_t peer;
        std::vector<std::byte> bytes;
    };

    // `windows` (peer_count entries) may live in shared memory.
    SyncEngine(const SyncEngineOptions& options, AssociationTable& table, const SyncAuthenticator& auth,
               std::span<SyncReplayWindow> windows, Nanos now);

    void set_config_digest(const ConfigDigestText& digest) { digest_ = digest; }
    // The targets that are down here (`sctplb down`). Their associations are
    // forgotten locally and that is not sent: each instance runs its own
    // `down` (docs/design.md). Records of them from peers are ignored, and the
    // walk removes any that a peer taught before this was set.
    void set_down_targets(std::span<const std::uint32_t> fwmarks) {
        down_fwmarks_.assign(fwmarks.begin(), fwmarks.end());
    }

    // All three are called with the table lock held.
    void on_datagram(std::size_t peer, std::span<const std::byte> datagram, Nanos now, Counters& counters);
    void collect(Nanos now);
    void tick(Nanos now);

    // Datagrams to send, in order; the caller sends and clears them.
    [[nodiscard]] std::vector<Outgoing>& outgoing() { return outgoing_; }
    // True once every peer sent its whole table, or the startup wait is over.
    [[nodiscard]] bool ready() const { return ready_; }
    [[nodiscard]] const SyncStats& stats() const { return stats_; }
    [[nodiscard]] const SyncPeerStatus& peer_status(std::size_t peer) const { return peers_[peer].status; }
    [[nodiscard]] std::size_t peer_count() const { return peers_.size(); }
    [[nodiscard]] std::uint64_t applied_generation() const { return applied_generation_; }
    // Peers that had not answered when the startup wait ran out.
    [[nodiscard]] std::vector<std::size_t> silent_at_startup() const { return silent_at_startup_; }
    [[nodiscard]] ChangeJournal& journal() { return journal_; }
    // Work that wants a tick every round (~1 ms), as opposed to the coarse
    // timers (keepalives, liveness, the last-seen walk): not ready yet, a
    // table transfer going out, acks due, messages awaiting acks, a walk
    // after a journal overflow. Touches only the engine's own state, which the
    // sync thread alone uses: callable without the table lock.
    [[nodiscard]] bool busy() const;

private:
    struct Pending {
        std::uint64_t sequence;
        std::vector<std::byte> bytes;
        Nanos first_sent;
        Nanos last_sent;
        std::uint32_t retransmits;
    };
    struct Peer {
        SyncPeerStatus status;
        std::uint64_t next_sequence = 1;
        std::deque<Pending> unacked;
        std::vector<std::uint64_t> acks_due;  // their sequences, for their epoch
        std::uint64_t acks_epoch = 0;
        Nanos last_sent{-1};
        bool needs_dump = false;  // lost our backlog: gets the whole table when heard
        bool dumping = false;
        std::uint64_t dump_nonce = 0;
        std::uint32_t dump_cursor = 0;
        std::uint32_t dump_records = 0;
        Nanos last_table_request{-1};
    };

    void send(std::size_t peer, SyncMessageWriter& writer, bool reliable, Nanos now);
    [[nodiscard]] SyncHeader header(SyncType type, std::uint16_t flags = 0) const;
    void queue_record(const Association& a, Nanos now);
    void flush_records(Nanos now);
    void handle(std::size_t peer, const SyncMessage& message, Nanos now, Counters& counters);
    void apply_records(std::size_t peer, const SyncMessage& message, Nanos now, Counters& counters);
    void handle_ack(std::size_t peer, ByteView body, Nanos now);
    void start_dump(std::size_t peer, std::uint64_t nonce);
    void continue_dump(std::size_t peer, Nanos now);
    void lose_peer(std::size_t peer);
    void flush_acks(std::size_t peer, Nanos now);
    [[nodiscard]] bool broadcast_to(std::size_t peer) const;

    SyncEngineOptions options_;
    AssociationTable& table_;
    const SyncAuthenticator& auth_;
    std::span<SyncReplayWindow> windows_;
    std::vector<Peer> peers_;
    ConfigDigestText digest_{};
    std::vector<std::uint32_t> down_fwmarks_;
    std::vector<Outgoing> outgoing_;
    SyncMessageWriter broadcast_;      // records for every peer
    std::uint16_t broadcast_count_ = 0;
    SyncMessageWriter scratch_;        // one-peer messages
    SyncStats stats_;
    std::vector<std::uint64_t> journal_storage_;
    ChangeJournal journal_;
    std::uint32_t scan_cursor_ = 0;
    std::uint32_t overflow_scan_left_ = 0;  // slots still to walk after a journal overflow
    Nanos started_;
    std::uint64_t request_nonce_;
    bool ready_ = false;
    std::vector<std::size_t> silent_at_startup_;
    std::uint64_t applied_generation_ = 0;
};

}  // namespace sctplb
