// The association-sync wire format between sctplb instances of one tier
// (docs/design.md "The LB tier"). One UDP datagram is one message:
//
//   off size
//    0   4  magic "SLBS"
//    4   1  version (1)
//    5   1  type (SyncType)
//    6   2  flags (SyncFlags)
//    8   4  key id: the first 4 bytes of SHA-256 of the key
//   12   4  body length L
//   16   8  sender instance id (random per start; breaks conflict ties)
//   24   8  epoch (strictly increasing per sender across its restarts)
//   32   8  sequence number (per sender -> receiver stream, from 1)
//   40  16  the sender's config digest (16 ASCII hex digits)
//   56   L  body
//   56+L 32 HMAC-SHA256(key, bytes [0, 56 + L))
//
// Integers are big-endian. Parsing is bounds-checked (ByteView); nothing here
// does I/O or cryptography: signing and checking go through SyncAuthenticator.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/association_table.hpp"
#include "core/byte_view.hpp"

namespace sctplb {

inline constexpr std::size_t kSyncHeaderSize = 56;
inline constexpr std::size_t kSyncMacSize = 32;
// Fits one Ethernet frame with IPv6 and UDP headers: never fragmented.
inline constexpr std::size_t kSyncMaxDatagram = 1400;
inline constexpr std::size_t kSyncMaxBody = kSyncMaxDatagram - kSyncHeaderSize - kSyncMacSize;
inline constexpr std::uint8_t kSyncVersion = 1;
inline constexpr std::size_t kDigestChars = 16;

enum class SyncType : std::uint8_t {
    Records = 1,       // association records (reliable: acknowledged, retransmitted)
    Ack = 2,           // sequence numbers received
    TableRequest = 3,  // "send me your whole table" (a (re)started instance)
    TableEnd = 4,      // the whole table was sent (reliable)
    Keepalive = 5,     // liveness and config digest while idle
};

enum SyncFlags : std::uint16_t {
    kSyncFlagDump = 1,  // Records that belong to a whole-table transfer
};

using ConfigDigestText = std::array<char, kDigestChars>;

struct SyncHeader {
    SyncType type = SyncType::Keepalive;
    std::uint16_t flags = 0;
    std::uint32_t key_id = 0;
    std::uint32_t body_length = 0;
    std::uint64_t instance = 0;
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    ConfigDigestText digest{};
};

// Signs and checks messages (HMAC-SHA256 in the daemon, lb/io/sync_key.hpp).
class SyncAuthenticator {
public:
    enum class Check : std::uint8_t { Ok, UnknownKey, Mismatch };
    virtual ~SyncAuthenticator() = default;
    [[nodiscard]] virtual std::uint32_t signing_key_id() const = 0;
    virtual void sign(std::span<const std::byte> data, std::span<std::byte, kSyncMacSize> mac) const = 0;
    [[nodiscard]] virtual Check check(std::uint32_t key_id, std::span<const std::byte> data,
                                      std::span<const std::byte, kSyncMacSize> mac) const = 0;
};

// Why a datagram was refused, before anything in it was believed.
enum class SyncRejection : std::uint8_t {
    None,
    NotAPeer,         // source is not a configured peer (decided by the I/O layer)
    Unauthenticated,  // too short, not ours, no MAC, unknown key id
    Forged,           // MAC mismatch
    Replayed,         // sequence seen in this epoch, or an older epoch
    Malformed,        // authentic, but the body does not parse
};
inline constexpr std::size_t kSyncRejectionCount = 6;
std::string_view sync_rejection_name(SyncRejection rejection);

// An authenticated message: header and body view (into the datagram).
struct SyncMessage {
    SyncHeader header;
    ByteView body;
};

// Checks framing and MAC. On success fills `message` and returns None.
SyncRejection open_sync_message(std::span<const std::byte> datagram, const SyncAuthenticator& auth,
                                SyncMessage& message);

// Builds one message into a caller-owned buffer of kSyncMaxDatagram bytes.
class SyncMessageWriter {
public:
    SyncMessageWriter() : bytes_(kSyncMaxDatagram) {}
    void begin(const SyncHeader& header);
    [[nodiscard]] std::size_t room() const { return kSyncHeaderSize + kSyncMaxBody - length_; }
    [[nodiscard]] std::size_t body_length() const { return length_ - kSyncHeaderSize; }
    void put_u8(std::uint8_t v);
    void put_u16(std::uint16_t v);
    void put_u32(std::uint32_t v);
    void put_u64(std::uint64_t v);
    void put_address(const IpAddress& a);
    // Overwrites 2 bytes at `body_offset` of the body (a count written last).
    void patch_u16(std::size_t body_offset, std::uint16_t v);
    // Sets sequence and body length, signs; the finished datagram.
    std::span<const std::byte> finish(std::uint64_t sequence, const SyncAuthenticator& auth);

private:
    std::vector<std::byte> bytes_;
    std::size_t length_ = 0;
};

// ---- bodies -------------------------------------------------------------------

// One association as peers exchange it. Times are relative to the sender's
// clock at sending ("how long ago"), so instances need no common clock.
struct SyncRecord {
    Association fields;          // times converted to the receiver's clock by decode
    bool cookie_authority = false;  // the sender forwarded the COOKIE ECHO
};
// Bytes one record takes on the wire.
[[nodiscard]] std::size_t sync_record_size(const Association& a);
// Appends `a` (times relative to now). False when it does not fit.
bool put_sync_record(SyncMessageWriter& writer, const Association& a, Nanos now);

// Records body: u16 count, then records. Calls fn(const SyncRecord&) for each;
// false when the body is malformed (records before the fault were delivered).
template <typename Fn>
bool for_each_sync_record(ByteView body, Nanos now, Fn&& fn);

bool decode_sync_record(ByteView body, std::size_t& offset, Nanos now, SyncRecord& record);

// Ack body: u64 the acknowledged epoch, u16 count, u64 sequences.
inline constexpr std::size_t kSyncMaxAcksPerMessage = (kSyncMaxBody - 10) / 8;
// TableRequest / TableEnd body: u64 nonce (TableEnd: + u32 records sent).
// Keepalive body: u32 table size, u8 ready.

template <typename Fn>
bool for_each_sync_record(ByteView body, Nanos now, Fn&& fn) {
    const auto count = body.be16(0);
    if (!count) return false;
    std::size_t offset = 2;
    for (std::uint32_t i = 0; i < *count; ++i) {
        SyncRecord record;
        if (!decode_sync_record(body, offset, now, record)) return false;
        fn(record);
    }
    return offset == body.size();
}

// Big-endian u64 from a view (ByteView has up to be32).
[[nodiscard]] std::optional<std::uint64_t> read_be64(ByteView view, std::size_t offset);

}  // namespace sctplb
