// The health probe of a target (`sctplb health`), without system calls: the
// INIT it sends, the judgement of a reply, the ABORT that follows an INIT ACK,
// and keepalived-style rise/fall counting on an injected clock.
//
// A probe is one SCTP handshake cut short (RFC 9260 §5.1): INIT with a fresh
// random Initiate Tag → the server answers INIT ACK whose verification tag is
// that tag (§8.5) = healthy; we then send ABORT with the server's Initiate Tag
// (T bit clear, §8.5.1), so nothing the server made survives (a cookie-based
// server keeps no state before COOKIE ECHO anyway). An ABORT carrying our tag,
// or no reply before the timeout, is a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/nanos.hpp"

namespace sctplb {

// The fields of one probe. Tags and TSN come from the caller's random source.
struct ProbeInit {
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;
    std::uint32_t initiate_tag = 0;  // nonzero (§3.3.2: a zero Initiate Tag is a protocol error)
    std::uint32_t initial_tsn = 0;
};

// The SCTP packet (common header + INIT chunk, no address parameters, so the
// source address is the association's only address, §5.1.2), with its CRC32c.
[[nodiscard]] std::vector<std::byte> build_probe_init(const ProbeInit& probe);
// ABORT (T bit clear) with `peer_tag` (the INIT ACK's Initiate Tag) as the
// verification tag; ports as in the probe.
[[nodiscard]] std::vector<std::byte> build_probe_abort(const ProbeInit& probe, std::uint32_t peer_tag);

enum class ProbeReplyKind : std::uint8_t {
    Unrelated,  // not an answer to this probe (other ports or tag, bad checksum, truncated): ignore
    InitAck,    // healthy: `peer_tag` is the server's Initiate Tag
    Abort,      // the server refused (no listener on the port, out of resources, ...)
};

struct ProbeReply {
    ProbeReplyKind kind = ProbeReplyKind::Unrelated;
    std::uint32_t peer_tag = 0;
};

// `sctp` is an SCTP packet (no IP header) that arrived for us. A reply to the
// probe has the probe's ports swapped and the verification tag equal to our
// Initiate Tag: an INIT ACK (§5.1 B), or an ABORT sent because the INIT could
// not be processed, whose tag is our Initiate Tag with the T bit clear (§8.4,
// §8.5.1). The checksum (§6.8) must be right: a mangled reply is ignored, and
// the probe then times out.
[[nodiscard]] ProbeReply judge_probe_reply(std::span<const std::byte> sctp, const ProbeInit& probe);

// The outcome of one probe as it is recorded.
enum class ProbeResult : std::uint8_t {
    None = 0,   // no probe yet
    Ok,         // INIT ACK with our tag
    Abort,      // ABORT
    Timeout,    // nothing within the timeout
    SendError,  // the packet could not be sent (no route, ...)
};
[[nodiscard]] std::string_view probe_result_name(ProbeResult result);

enum class HealthState : std::uint8_t {
    Unknown = 0,  // fewer than rise successes or fall failures since the start
    Up,
    Down,
};
[[nodiscard]] std::string_view health_state_name(HealthState state);

struct HealthThresholds {
    std::uint32_t rise = 2;  // consecutive successes that make a target Up
    std::uint32_t fall = 3;  // consecutive failures that make it Down
};

// Rise/fall counting for one target (as keepalived's). `record` returns the
// new state when this result changed it (Unknown → Up counts; the caller
// decides what a transition does to the target).
class HealthCounter {
public:
    explicit HealthCounter(HealthThresholds thresholds) : thresholds_(thresholds) {}
    std::optional<HealthState> record(ProbeResult result, Nanos now);

    [[nodiscard]] HealthState state() const { return state_; }
    [[nodiscard]] ProbeResult last_result() const { return last_result_; }
    [[nodiscard]] Nanos last_probe() const { return last_probe_; }
    [[nodiscard]] std::uint32_t successes() const { return successes_; }  // consecutive
    [[nodiscard]] std::uint32_t failures() const { return failures_; }    // consecutive

private:
    HealthThresholds thresholds_;
    HealthState state_ = HealthState::Unknown;
    ProbeResult last_result_ = ProbeResult::None;
    Nanos last_probe_{-1};
    std::uint32_t successes_ = 0;
    std::uint32_t failures_ = 0;
};

}  // namespace sctplb
