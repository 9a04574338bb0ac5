// Fuzz target for the association-sync receiver: open_sync_message() (framing
// and HMAC with a fixed key), the Records body decoder and merge_sync_record()
// into a live table. (SyncEngine::on_datagram() is not fuzzed here: building an
// engine zeroes a 512 KiB change journal, ~3 ms per input under ASan, which
// would cut the executions tenfold; see docs/fuzzing.md.)
// The fuzzer cannot forge a MAC, so a control bit has the target sign the
// fuzzer's bytes itself (fixing key id and body length): both the
// authentication checks and the body decoder behind them are reached.
// Built with libFuzzer under clang (sync_fuzz); replay_main.cpp drives the
// same entry point over the corpus with any compiler (sync_fuzz_replay).
//
// Input layout:
//   byte 0   setup: bit 0 the peer wins ties; bit 1 small table (capacity 8,
//            half-open 2); bits 2-7 unused
//   then records, until the input ends:
//     u8 control: bit 0 sign (the bytes are header + body; key id, body
//                 length and MAC are filled in); bits 1-3 clock step;
//                 bits 4-5 peer slot; bit 6 then check rebuild_indexes();
//                 bit 7 then sweep expired entries
//     u16 length (big-endian), then that many bytes: the datagram
//   tests/fuzz/make_seeds.cpp writes seeds in this layout.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "io/sync_key.hpp"
#include "core/sync_merge.hpp"
#include "core/sync_wire.hpp"

namespace {

using namespace sctplb;
using fuzz::Reader;

const SyncKeyring& keyring() {
    static const SyncKeyring ring = [] {
        std::string error;
        auto parsed = SyncKeyring::parse(fuzz::kSyncKeyText, error);
        if (!parsed) fuzz::invariant_failed("the fuzz key does not parse");
        return *parsed;
    }();
    return ring;
}

void put_be32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) bytes[at + i] = std::byte(static_cast<std::uint8_t>(v >> (24 - 8 * i)));
}

// The header fields open_sync_message() checks before the MAC.
bool framing_valid(std::span<const std::byte> d) {
    return d.size() >= kSyncHeaderSize + kSyncMacSize && d[0] == std::byte{'S'} && d[1] == std::byte{'L'} &&
           d[2] == std::byte{'B'} && d[3] == std::byte{'S'} && d[4] == std::byte{kSyncVersion} &&
           d[5] >= std::byte{1} && d[5] <= std::byte{5};
}

// decode(encode(x)) == x: every decoded record encodes back to its own bytes,
// except for the bits the decoder ignores (unknown flags; the linger time of a
// record without lingering tags).
void check_round_trip(ByteView body, Nanos now) {
    std::size_t offset = 2;
    const auto count = body.be16(0);
    if (!count) return;
    for (std::uint32_t i = 0; i < *count; ++i) {
        const std::size_t start = offset;
        SyncRecord record;
        if (!decode_sync_record(body, offset, now, record)) return;
        SCTPLB_FUZZ_CHECK(offset > start && offset <= body.size());
        Association a = record.fields;
        a.cookie_by = record.cookie_authority ? Origin::local() : Origin::none();
        SyncMessageWriter writer;
        writer.begin(SyncHeader{});
        SCTPLB_FUZZ_CHECK(put_sync_record(writer, a, now));
        const auto encoded = writer.finish(1, keyring()).subspan(kSyncHeaderSize);
        SCTPLB_FUZZ_CHECK(encoded.size() == offset - start + kSyncMacSize);
        std::vector<std::byte> expected(body.bytes().begin() + static_cast<std::ptrdiff_t>(start),
                                        body.bytes().begin() + static_cast<std::ptrdiff_t>(offset));
        expected[1] &= std::byte{7};  // the known flags: cookie, old tags, server-initiated
        if ((expected[1] & std::byte{2}) == std::byte{0}) std::fill_n(expected.begin() + 48, 4, std::byte{0});
        SCTPLB_FUZZ_CHECK(std::equal(expected.begin(), expected.end(), encoded.begin()));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader in(std::span(data, size));
    if (in.empty()) return 0;
    const std::uint8_t setup = in.u8();
    const TableLimits limits = (setup & 2) ? TableLimits{.capacity = 8, .half_open_capacity = 2}
                                           : TableLimits{.capacity = 64, .half_open_capacity = 16};
    fuzz::HeapTable table(limits, Timeouts{});
    Counters counters;
    Nanos now = fuzz::kStartTime;

    while (!in.empty()) {
        const std::uint8_t control = in.u8();
        now += fuzz::kClockSteps[(control >> 1) & 7];
        const std::uint16_t length = in.be16();
        const auto bytes = in.take(length);
        const bool sign = (control & 1) != 0 && bytes.size() >= kSyncHeaderSize;
        // Exactly sized, so that ASan sees a read past the datagram.
        std::vector<std::byte> datagram(bytes.size() + (sign ? kSyncMacSize : 0));
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<std::uint8_t*>(datagram.data()));
        if (sign) {
            put_be32(datagram, 8, keyring().signing_key_id());
            put_be32(datagram, 12, static_cast<std::uint32_t>(bytes.size() - kSyncHeaderSize));
            keyring().sign(std::span(datagram).first(bytes.size()),
                           std::span<std::byte, kSyncMacSize>(datagram.data() + bytes.size(), kSyncMacSize));
        }

        SyncMessage message;
        const SyncRejection rejection = open_sync_message(datagram, keyring(), message);
        // What we signed with our own key and framed right is authentic.
        if (sign && framing_valid(datagram)) SCTPLB_FUZZ_CHECK(rejection == SyncRejection::None);
        if (rejection == SyncRejection::None) {
            SCTPLB_FUZZ_CHECK(message.body.size() + kSyncHeaderSize + kSyncMacSize == datagram.size());
            if (message.header.type == SyncType::Records) {
                check_round_trip(message.body, now);
                const MergeContext context{.peer = Origin::peer((control >> 4) & 3),
                                           .peer_wins_ties = (setup & 1) != 0};
                for_each_sync_record(message.body, now, [&](const SyncRecord& record) {
                    const MergeOutcome outcome = merge_sync_record(*table, record, context, now, counters);
                    SCTPLB_FUZZ_CHECK(outcome != MergeOutcome::Invalid);  // the decoder let only valid ones through
                    fuzz::check_table(*table);
                });
            }
        }
        if (control & 0x40) fuzz::check_rebuild_keeps_lookups(*table, now);
        if (control & 0x80) table->expire(now, 16, counters);
        fuzz::check_table(*table);
    }
    return 0;
}
