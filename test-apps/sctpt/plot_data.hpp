// sctpt plot, the pure part: event files (sctpt --events, docs/experiments.md) to the series a
// timeline picture shows. No I/O: the command (plot.cpp) reads the files and draws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sctpt {

// A message that was echoed, placed at its send time (its echo's time minus the RTT).
struct MessageMark {
    double t = 0;
    std::size_t lane = 0;
    std::size_t server = 0;  // index into Timeline::servers
    std::size_t path = 0;    // index into Timeline::paths (the address the echo came from)
    double rtt_ms = 0;
};

// A message sent and never echoed, at its send time.
struct LostMark {
    double t = 0;
    std::size_t lane = 0;
};

// Something that happened to one association at one instant.
enum class InstantKind { path_down, path_up, failover, assoc_up, assoc_lost, assoc_restart, assoc_end };
inline constexpr std::size_t instant_kinds = 7;
const char* instant_kind_title(InstantKind kind);

struct Instant {
    double t = 0;
    std::size_t lane = 0;
    InstantKind kind = InstantKind::path_down;
    std::string detail;  // the peer address of a path change or failover; else empty
};

// An experiment step (--marker T=LABEL, or a "marker" event in a file).
struct Marker {
    double t = 0;
    std::string label;
};

struct Timeline {
    std::vector<std::string> lanes;    // one per association: "client N" (with the file's name
                                       // in front when there are several files)
    std::vector<std::string> servers;  // in order of first echo
    std::vector<std::string> paths;    // in order of first echo
    std::vector<MessageMark> messages;
    std::vector<LostMark> lost;
    std::vector<Instant> instants;
    std::vector<Marker> markers;
    double end = 0;  // the last instant of anything, in seconds
};

// Collects event files and markers; times are seconds since the earliest start record of all
// files (the files line up by their start records' wall_unix).
class TimelineBuilder {
public:
    // One file's text. `name` is used in errors ("NAME:LINE: why") and lane labels. False with
    // `error` set for an empty file, a line that is not a JSON object, a first line that is not
    // a start record, or a known event without its fields.
    bool add_file(const std::string& name, std::string_view text, std::string& error);
    // "T=LABEL", T seconds (on the picture's axis); false with `error` set if malformed.
    bool add_marker(std::string_view spec, std::string& error);
    Timeline build() const;

private:
    struct Event {
        double t = 0;  // seconds since this file's start
        std::string kind;
        std::size_t client = 0;
        unsigned long long seq = 0;
        double rtt_ms = 0;
        std::string server;
        std::string path;   // echo: where it came from; peer_addr/failover: the address
        std::string state;  // peer_addr: the new state; assoc: the change
        std::string label;  // marker
    };
    struct File {
        std::string name;
        double wall_start = 0;
        std::vector<Event> events;
    };
    std::vector<File> files_;
    std::vector<Marker> markers_;
};

}  // namespace sctpt
