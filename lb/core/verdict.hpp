// The outcome of deciding one packet: what to do with it and why.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sctplb {

enum class Action : std::uint8_t {
    AcceptMarked,    // forward with fwmark (policy routing sends it to the target)
    AcceptUnmarked,  // let it pass untouched (server -> client, not ours)
    Drop,
};
std::string_view action_name(Action action);  // "accept" / "accept" / "drop"

// Every verdict carries exactly one reason; every reason has a counter.
// The names (reason_name) are part of the CLI/JSON interface: keep them stable.
#define SCTPLB_REASONS(X)                                                                    \
    /* forwarded with a mark */                                                              \
    X(InitHash, "init-hash")                   /* new association: Maglev on the mode's key */ \
    X(InitRetransmit, "init-retransmit")       /* same Tc as a half-open entry */              \
    X(InitRestart, "init-restart")             /* INIT on an established association, §5.2.2 */ \
    X(CookieEcho, "cookie-echo")               /* COOKIE ECHO found by (address, ports, Ts) */  \
    X(CookieEchoMatched, "cookie-echo-matched") /* found by address set + ports (half-open) */  \
    X(CookieEchoRestart, "cookie-echo-restart") /* completes a restart: re-keyed */            \
    X(Established, "established")              /* by (source, ports, Ts) */                    \
    X(TBit, "t-bit")                           /* ABORT/SHUTDOWN COMPLETE with T by Tc */     \
    X(Asconf, "asconf")                        /* ASCONF: addresses may have been added */     \
    X(PortsHash, "ports-hash")                 /* ports mode: unknown, hashed on ports, pinned */ \
    X(FragmentFollows, "fragment-follows")     /* a non-first fragment: as its first fragment went */ \
    X(IcmpError, "icmp-error")                 /* ICMP error quoting an association's packet: its server */ \
    X(InitAckToServer, "init-ack-to-server")   /* peer's INIT ACK for a server-initiated association */ \
    /* passed without a mark */                                                              \
    X(InitAckLearned, "init-ack-learned")      /* server -> client INIT ACK: Ts learned */     \
    X(InitAckUnknown, "init-ack-unknown")      /* server -> client INIT ACK for no entry */    \
    X(ServerToClient, "server-to-client")      /* never balance the return direction */      \
    X(NotForVip, "not-for-vip")                /* neither to nor from a VIP */                 \
    X(NotSctp, "not-sctp")                     /* not SCTP (nor SCTP over the encap port) */   \
    X(ServerInit, "server-init")               /* a server's INIT from a VIP: recorded, routed on */ \
    X(ServerInitRetransmit, "server-init-retransmit") /* same server tag as a half-open entry */ \
    X(ServerInitRestart, "server-init-restart") /* a server's new INIT on its live association */ \
    /* dropped */                                                                            \
    X(UnknownAssociation, "unknown-association") /* vtag mode: never guess (RFC 9260 §8.4) */ \
    X(CookieEchoUnknown, "cookie-echo-unknown")                                              \
    X(PeerInitAckUnknown, "peer-init-ack-unknown") /* peer -> VIP INIT ACK, no server INIT known (yet) */ \
    X(InitBadVtag, "init-bad-vtag")            /* INIT with a non-zero vtag, §8.5.1 */        \
    X(NoTarget, "no-target")                   /* no active target */                          \
    X(InitNotAllowed, "init-not-allowed")      /* INIT from a source outside --init-allow */   \
    X(InitRateLimited, "init-rate-limited")    /* INIT over its source's --init-rate */        \
    X(TableFull, "table-full")                 /* no room for a new association */            \
    X(IpFragment, "ip-fragment")               /* non-first fragment, its first not seen (in time) */ \
    X(IcmpUnknown, "icmp-unknown")             /* ICMP error quoting no known association */   \
    X(FragmentOfDropped, "fragment-of-dropped") /* a non-first fragment whose first was dropped */ \
    X(Truncated, "truncated")                  /* cut before what the decision needs */        \
    X(NotIp, "not-ip")                                                                       \
    X(BadIpHeader, "bad-ip-header")                                                          \
    X(BadExtensionHeader, "bad-extension-header")                                            \
    X(BadUdpHeader, "bad-udp-header")                                                        \
    X(BadSctpHeader, "bad-sctp-header")                                                      \
    X(BadChunk, "bad-chunk")                                                                 \
    X(TooManyChunks, "too-many-chunks")                                                      \
    X(BadInit, "bad-init")                                                                   \
    X(BadParameter, "bad-parameter")                                                         \
    X(InitBundled, "init-bundled")                                                           \
    X(ServerInitSpoofed, "server-init-spoofed") /* VIP-source INIT not from a configured server */ \
    X(ServerInitConflict, "server-init-conflict") /* peer and ports pinned to another server */ \
    X(ServerNotInit, "server-not-init")        /* from the server side but no INIT */

enum class Reason : std::uint8_t {
#define SCTPLB_REASON_ENUM(id, name) id,
    SCTPLB_REASONS(SCTPLB_REASON_ENUM)
#undef SCTPLB_REASON_ENUM
};
inline constexpr std::size_t kReasonCount = 0
#define SCTPLB_REASON_COUNT(id, name) +1
    SCTPLB_REASONS(SCTPLB_REASON_COUNT)
#undef SCTPLB_REASON_COUNT
    ;
std::string_view reason_name(Reason reason);

// Events that are not verdicts but worth counting (they ride along a verdict).
#define SCTPLB_EVENTS(X)                                                                     \
    X(TruncatedPacket, "truncated-packet")       /* cut short, decided on what was there */   \
    X(HostNameIgnored, "host-name-ignored")      /* INIT Host Name parameter, deprecated */     \
    X(AddressesOverflowed, "addresses-overflowed") /* more addresses than an entry holds */     \
    X(AsconfDeleteIgnored, "asconf-delete-ignored") /* Delete-IP: never removes (no AUTH check) */ \
    X(AsconfAddressAdded, "asconf-address-added")                                            \
    X(HalfOpenEvicted, "half-open-evicted")      /* oldest half-open entry made room */         \
    X(Restarted, "restarted")                    /* a restart completed and was re-keyed */     \
    X(Closed, "closed")                          /* ABORT / SHUTDOWN COMPLETE seen */          \
    X(ExpiredIdle, "expired-idle")                                                           \
    X(ExpiredHalfOpen, "expired-half-open")                                                  \
    X(ExpiredClosed, "expired-closed")                                                       \
    X(ReplacedHalfOpen, "replaced-half-open")    /* new INIT (new Tc) from the same peer */    \
    X(TsLearned, "ts-learned")                                                               \
    X(PinFailed, "pin-failed")                   /* ports mode: table full, forwarded unpinned */ \
    X(InitTruncated, "init-truncated")           /* INIT cut by the copy range: addresses may be missing */ \
    X(Held, "held")                              /* unknown vtag: verdict deferred awaiting the sync */ \
    X(HoldResolved, "hold-resolved")             /* a held packet's association arrived: forwarded */ \
    X(HoldExpired, "hold-expired")               /* --hold-ms passed: dropped */ \
    X(HoldOverflow, "hold-overflow")             /* hold queue full: dropped at once */ \
    X(SyncConflict, "sync-conflict")             /* peers pinned one association to different targets */ \
    X(FragmentEvicted, "fragment-evicted")       /* fragment table neighbourhood full: oldest entry overwritten */ \
    X(FastPathAdded, "fastpath-added")           /* kernel map elements added (one per client address) */ \
    X(FastPathRemoved, "fastpath-removed")       /* elements removed: closed, re-keyed, target down */ \
    X(FastPathAddFailed, "fastpath-add-failed")  /* the kernel refused an element (map full, no target chain) */ \
    X(FastPathImported, "fastpath-imported")     /* at start: an association known only to the kernel map */ \
    X(FastPathIdle, "fastpath-idle")             /* the kernel's elements timed out: expired as idle */ \
    X(QueueDatagramTruncated, "queue-datagram-truncated") /* NFQUEUE message cut by the receive buffer: its packet dropped */

enum class Event : std::uint8_t {
#define SCTPLB_EVENT_ENUM(id, name) id,
    SCTPLB_EVENTS(SCTPLB_EVENT_ENUM)
#undef SCTPLB_EVENT_ENUM
};
inline constexpr std::size_t kEventCount = 0
#define SCTPLB_EVENT_COUNT(id, name) +1
    SCTPLB_EVENTS(SCTPLB_EVENT_COUNT)
#undef SCTPLB_EVENT_COUNT
    ;
std::string_view event_name(Event event);

struct Verdict {
    Action action = Action::Drop;
    Reason reason = Reason::NotIp;
    std::uint32_t fwmark = 0;  // meaningful for AcceptMarked only
};

// Plain counters, one set per data-path thread; summed for display.
struct Counters {
    std::array<std::uint64_t, kReasonCount> reasons{};
    std::array<std::uint64_t, kEventCount> events{};
    void count(Reason r) { ++reasons[static_cast<std::size_t>(r)]; }
    void count(Event e) { ++events[static_cast<std::size_t>(e)]; }
    void count(Reason r, std::uint64_t times) { reasons[static_cast<std::size_t>(r)] += times; }
    [[nodiscard]] std::uint64_t of(Reason r) const { return reasons[static_cast<std::size_t>(r)]; }
    [[nodiscard]] std::uint64_t of(Event e) const { return events[static_cast<std::size_t>(e)]; }
    Counters& operator+=(const Counters& other) {
        for (std::size_t i = 0; i < kReasonCount; ++i) reasons[i] += other.reasons[i];
        for (std::size_t i = 0; i < kEventCount; ++i) events[i] += other.events[i];
        return *this;
    }
};

}  // namespace sctplb
