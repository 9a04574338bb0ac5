// When the fast-path thread walks the association table again: soon after a
// pass that changed the kernel's map, less often while passes find nothing.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sctplb {

// A pass reads one cache line of every slot of the table (262144 by default):
// a few milliseconds of CPU that the kernel fast path pays for with nothing to
// show while the table is quiet. Measured (docs/performance.md section 9) it
// was ~6 % of a CPU with a pass every 50 ms, charged to every fast-path packet.
// So the pause after a quiet pass doubles, from `min_ms` up to `max_ms`, and
// the first pass that changes something brings it back to `min_ms`. What must
// not wait (a target going down: its elements go within `min_ms`) is checked
// between passes by the caller, which then calls `wake()`.
class FastPathPacer {
public:
    FastPathPacer(std::uint32_t min_ms, std::uint32_t max_ms)
        : min_ms_(std::max<std::uint32_t>(min_ms, 1)), max_ms_(std::max(max_ms, min_ms_)), pause_ms_(min_ms_) {}

    // After a whole pass: `changed` whether it added or removed elements.
    void pass_done(bool changed) {
        if (changed) {
            pause_ms_ = min_ms_;
            quiet_ = false;
            return;
        }
        // The first quiet pass keeps the short pause: a change often comes in
        // steps (INIT, then COOKIE ECHO a round trip later).
        if (quiet_) pause_ms_ = std::min<std::uint64_t>(std::uint64_t{pause_ms_} * 2, max_ms_);
        quiet_ = true;
    }
    // Something the next pass must see happened: the short pause again.
    void wake() {
        pause_ms_ = min_ms_;
        quiet_ = false;
    }
    // The pause before the next pass.
    [[nodiscard]] std::uint32_t pause_ms() const { return pause_ms_; }
    // How often the caller checks for wake-up reasons during a pause.
    [[nodiscard]] std::uint32_t check_ms() const { return min_ms_; }

private:
    std::uint32_t min_ms_;
    std::uint32_t max_ms_;
    std::uint32_t pause_ms_;
    bool quiet_ = false;
};

}  // namespace sctplb
