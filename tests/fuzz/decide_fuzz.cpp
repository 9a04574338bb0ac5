// Fuzz target for Decider::decide() against a live association table and Maglev,
// in virtual time: the input is a sequence of packets, each parsed and decided
// in turn, with the table's invariants checked as it fills, expires and is
// rebuilt. Built with libFuzzer under clang (decide_fuzz); replay_main.cpp
// drives the same entry point over the corpus with any compiler.
//
// Input layout:
//   byte 0   setup: bit 0 hash mode (0 vtag, 1 ports); bit 1 SCTP over UDP
//            port 9899; bit 2 fragment table; bit 3 twin table decided with
//            decide_batch(), verdicts compared; bits 4-6 active targets - 1
//            (fwmarks 11..18); bit 7 small table (capacity 8, half-open 2)
//   then records, until the input ends:
//     u8 control: bits 0-1 direction (0 by VIP address, 1 in, 2 out, 3 other);
//                 bits 2-4 clock step (kClockSteps); bits 5-7 operation:
//                 0-4 decide a packet, 5 decide then sweep expired entries,
//                 6 decide then check rebuild_indexes(), 7 toggle target
//                 (control & 7) (no packet follows)
//     u16 length (big-endian), then that many bytes: the IP datagram
//   tests/fuzz/make_seeds.cpp writes seeds in this layout from tests/data/*.pcap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/decider.hpp"
#include "core/fragment_table.hpp"
#include "fuzz_support.hpp"
#include "core/maglev.hpp"
#include "core/packet.hpp"

namespace {

using namespace sctplb;
using fuzz::Reader;

constexpr std::uint32_t kFirstFwmark = 11;
constexpr std::size_t kTargets = 8;
constexpr std::size_t kBatch = 8;

// The VIPs of the captures (tests/data/README.md).
using fuzz::kVips;

Direction direction_by_vip(const ParsedPacket& p) {
    for (const IpAddress& vip : kVips)
        if (p.dst == vip) return Direction::In;
    for (const IpAddress& vip : kVips)
        if (p.src == vip) return Direction::Out;
    return Direction::Other;
}

bool is_fresh_maglev_choice(Reason reason) { return reason == Reason::InitHash || reason == Reason::PortsHash; }

// One decider with its table (and the fragment table when enabled).
struct Lane {
    Lane(const DeciderConfig& config, const KeyedHash& hash, const TableLimits& limits, bool fragments)
        : table(limits, Timeouts{}), decider(config, hash, *table) {
        if (fragments) {
            fragment_table.emplace(64, std::chrono::seconds(2));
            decider.set_fragment_table(&*fragment_table);
        }
    }
    fuzz::HeapTable table;
    std::optional<FragmentTable> fragment_table;
    Decider decider;
    Counters counters;
};

class Run {
public:
    explicit Run(std::uint8_t setup)
        : config_{(setup & 1) ? HashMode::Ports : HashMode::Vtag},
          options_{.encapsulation_port = static_cast<std::uint16_t>((setup & 2) ? 9899 : 0)},
          limits_{(setup & 0x80) ? TableLimits{.capacity = 8, .half_open_capacity = 2}
                                 : TableLimits{.capacity = 64, .half_open_capacity = 16}},
          lane_(config_, hash_, limits_, (setup & 4) != 0),
          maglev_() {
        if (setup & 8) twin_.emplace(config_, hash_, limits_, (setup & 4) != 0);
        const std::size_t active = ((setup >> 4) & 7) + 1;
        for (std::size_t i = 0; i < active; ++i) active_[i] = true;
        ever_active_ = active_;
        repopulate();
    }

    void packet(std::span<const std::uint8_t> bytes, std::uint8_t control) {
        // A copy of exactly the packet's size: ASan sees a read one byte past it.
        const std::vector<std::byte> copy(reinterpret_cast<const std::byte*>(bytes.data()),
                                          reinterpret_cast<const std::byte*>(bytes.data()) + bytes.size());
        ParsedPacket parsed;
        parse_packet(copy, options_, parsed);
        static constexpr std::array<Direction, 4> kDirections{Direction::Other, Direction::In, Direction::Out,
                                                              Direction::Other};
        const std::size_t pick = control & 3;
        const Direction direction = pick == 0 ? direction_by_vip(parsed) : kDirections[pick];

        const Verdict v = lane_.decider.decide(parsed, direction, maglev_, now_, lane_.counters);
        check_verdict(v);
        if (twin_) {
            pending_.push_back(Pending{parsed, direction, v});
            if (pending_.size() == kBatch) flush();
        }
        fuzz::check_table(*lane_.table);
    }

    void advance(std::chrono::nanoseconds step) {
        if (step.count() == 0) return;
        flush();  // a batch shares one `now`
        now_ += step;
    }

    void sweep() {
        flush();
        lane_.table->expire(now_, 16, lane_.counters);
        if (twin_) twin_->table->expire(now_, 16, twin_->counters);
        fuzz::check_table(*lane_.table);
    }

    void check_rebuild() {
        flush();
        fuzz::check_rebuild_keeps_lookups(*lane_.table, now_);
        if (twin_) fuzz::check_rebuild_keeps_lookups(*twin_->table, now_);
    }

    void toggle_target(std::size_t index) {
        flush();
        active_[index] = !active_[index];
        ever_active_[index] = ever_active_[index] || active_[index];
        repopulate();
    }

    void finish() {
        flush();
        if (twin_) {
            SCTPLB_FUZZ_CHECK(lane_.counters.reasons == twin_->counters.reasons);
            SCTPLB_FUZZ_CHECK(lane_.counters.events == twin_->counters.events);
            SCTPLB_FUZZ_CHECK(lane_.table->size() == twin_->table->size());
        }
    }

private:
    struct Pending {
        ParsedPacket parsed;
        Direction direction;
        Verdict verdict;  // what decide() said on the lane
    };

    // Maglev tables are a pure function of the active set: built once per set
    // and kept (populating dominated the run time otherwise).
    void repopulate() {
        static std::array<std::vector<std::uint32_t>, 1u << kTargets> cache;
        std::size_t set = 0;
        for (std::size_t i = 0; i < kTargets; ++i)
            if (active_[i]) set |= std::size_t{1} << i;
        std::vector<std::uint32_t>& table = cache[set];
        if (table.empty()) {
            std::vector<std::uint32_t> fwmarks;
            for (std::size_t i = 0; i < kTargets; ++i)
                if (active_[i]) fwmarks.push_back(kFirstFwmark + static_cast<std::uint32_t>(i));
            table.resize(kMaglevDefaultM);
            SCTPLB_FUZZ_CHECK(maglev_populate(hash_, fwmarks, table));
        }
        maglev_ = table;
    }

    [[nodiscard]] bool is_target(std::uint32_t fwmark, const std::array<bool, kTargets>& set) const {
        return fwmark >= kFirstFwmark && fwmark < kFirstFwmark + kTargets && set[fwmark - kFirstFwmark];
    }

    void check_verdict(const Verdict& v) const {
        if (v.action == Action::AcceptMarked) {
            // A pinned association keeps the server it was given, even once that
            // target is gone; a new Maglev choice is always a live target.
            SCTPLB_FUZZ_CHECK(is_target(v.fwmark, ever_active_));
            if (is_fresh_maglev_choice(v.reason)) SCTPLB_FUZZ_CHECK(is_target(v.fwmark, active_));
        } else {
            SCTPLB_FUZZ_CHECK(v.fwmark == 0);
        }
        if (config_.mode == HashMode::Vtag) SCTPLB_FUZZ_CHECK(v.reason != Reason::PortsHash);
    }

    // The twin decides the pending packets as one batch: same verdicts.
    void flush() {
        if (!twin_ || pending_.empty()) return;
        std::vector<const ParsedPacket*> packets;
        std::vector<Direction> directions;
        for (const Pending& p : pending_) {
            packets.push_back(&p.parsed);
            directions.push_back(p.direction);
        }
        std::vector<Verdict> verdicts(pending_.size());
        twin_->decider.decide_batch(packets, directions, maglev_, now_, twin_->counters, verdicts);
        for (std::size_t i = 0; i < pending_.size(); ++i) {
            SCTPLB_FUZZ_CHECK(verdicts[i].action == pending_[i].verdict.action);
            SCTPLB_FUZZ_CHECK(verdicts[i].reason == pending_[i].verdict.reason);
            SCTPLB_FUZZ_CHECK(verdicts[i].fwmark == pending_[i].verdict.fwmark);
        }
        pending_.clear();
        fuzz::check_table(*twin_->table);
    }

    KeyedHash hash_;
    DeciderConfig config_;
    ParseOptions options_;
    TableLimits limits_;
    Lane lane_;
    std::optional<Lane> twin_;
    std::vector<Pending> pending_;
    std::span<const std::uint32_t> maglev_;
    std::array<bool, kTargets> active_{};
    std::array<bool, kTargets> ever_active_{};
    Nanos now_ = fuzz::kStartTime;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader in(std::span(data, size));
    if (in.empty()) return 0;
    Run run(in.u8());
    while (!in.empty()) {
        const std::uint8_t control = in.u8();
        const unsigned operation = control >> 5;
        if (operation == 7) {
            run.toggle_target(control & 7);
            continue;
        }
        run.advance(fuzz::kClockSteps[(control >> 2) & 7]);
        const std::uint16_t length = in.be16();
        run.packet(in.take(length), control);
        if (operation == 5) run.sweep();
        if (operation == 6) run.check_rebuild();
    }
    run.finish();
    return 0;
}
