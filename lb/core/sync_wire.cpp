#include "core/sync_wire.hpp"

#include <algorithm>
#include <cstring>

namespace sctplb {

namespace {

constexpr std::array<std::byte, 4> kMagic{std::byte{'S'}, std::byte{'L'}, std::byte{'B'}, std::byte{'S'}};
constexpr std::size_t kRecordFixedSize = 52;
constexpr std::uint8_t kRecordFlagCookie = 1;
constexpr std::uint8_t kRecordFlagOldTags = 2;
constexpr std::uint8_t kRecordFlagServerInitiated = 4;  // opened by its server (an older peer ignores it)

bool valid_type(std::uint8_t type) { return type >= 1 && type <= 5; }

std::uint32_t millis_between(std::int64_t later_ns, std::int64_t earlier_ns) {
    const std::int64_t ms = (later_ns - earlier_ns) / 1'000'000;
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(ms, 0, 0xffffffffll));
}

}  // namespace

std::string_view sync_rejection_name(SyncRejection rejection) {
    switch (rejection) {
        case SyncRejection::None: return "none";
        case SyncRejection::NotAPeer: return "not-a-peer";
        case SyncRejection::Unauthenticated: return "unauthenticated";
        case SyncRejection::Forged: return "forged";
        case SyncRejection::Replayed: return "replayed";
        case SyncRejection::Malformed: return "malformed";
    }
    return "?";
}

std::optional<std::uint64_t> read_be64(ByteView view, std::size_t offset) {
    const auto high = view.be32(offset);
    const auto low = view.be32(offset + 4);
    if (!high || !low) return std::nullopt;
    return (std::uint64_t{*high} << 32) | *low;
}

SyncRejection open_sync_message(std::span<const std::byte> datagram, const SyncAuthenticator& auth,
                                SyncMessage& message) {
    const ByteView view(datagram);
    if (view.size() < kSyncHeaderSize + kSyncMacSize ||
        !std::equal(kMagic.begin(), kMagic.end(), datagram.begin()))
        return SyncRejection::Unauthenticated;
    const std::uint8_t version = *view.u8(4);
    const std::uint8_t type = *view.u8(5);
    const std::uint32_t body_length = *view.be32(12);
    // The MAC must be exactly where the body length says: a message cut
    // before it (or padded after it) carries no authentication.
    if (version != kSyncVersion || !valid_type(type) ||
        body_length != view.size() - kSyncHeaderSize - kSyncMacSize)
        return SyncRejection::Unauthenticated;
    const std::size_t signed_length = kSyncHeaderSize + body_length;
    const auto check = auth.check(*view.be32(8), datagram.first(signed_length),
                                  std::span<const std::byte, kSyncMacSize>(datagram.subspan(signed_length, kSyncMacSize)));
    if (check == SyncAuthenticator::Check::UnknownKey) return SyncRejection::Unauthenticated;
    if (check == SyncAuthenticator::Check::Mismatch) return SyncRejection::Forged;

    SyncHeader& h = message.header;
    h.type = static_cast<SyncType>(type);
    h.flags = *view.be16(6);
    h.key_id = *view.be32(8);
    h.body_length = body_length;
    h.instance = *read_be64(view, 16);
    h.epoch = *read_be64(view, 24);
    h.sequence = *read_be64(view, 32);
    for (std::size_t i = 0; i < kDigestChars; ++i) h.digest[i] = static_cast<char>(*view.u8(40 + i));
    message.body = *view.sub(kSyncHeaderSize, body_length);
    return SyncRejection::None;
}

void SyncMessageWriter::begin(const SyncHeader& header) {
    length_ = 0;
    for (const std::byte b : kMagic) bytes_[length_++] = b;
    put_u8(kSyncVersion);
    put_u8(static_cast<std::uint8_t>(header.type));
    put_u16(header.flags);
    put_u32(header.key_id);
    put_u32(0);  // body length, set by finish()
    put_u64(header.instance);
    put_u64(header.epoch);
    put_u64(0);  // sequence, set by finish()
    for (const char c : header.digest) put_u8(static_cast<std::uint8_t>(c));
}

void SyncMessageWriter::put_u8(std::uint8_t v) { bytes_[length_++] = std::byte{v}; }
void SyncMessageWriter::put_u16(std::uint16_t v) {
    put_u8(static_cast<std::uint8_t>(v >> 8));
    put_u8(static_cast<std::uint8_t>(v));
}
void SyncMessageWriter::put_u32(std::uint32_t v) {
    put_u16(static_cast<std::uint16_t>(v >> 16));
    put_u16(static_cast<std::uint16_t>(v));
}
void SyncMessageWriter::put_u64(std::uint64_t v) {
    put_u32(static_cast<std::uint32_t>(v >> 32));
    put_u32(static_cast<std::uint32_t>(v));
}
void SyncMessageWriter::put_address(const IpAddress& a) {
    for (const std::uint8_t b : a.bytes()) put_u8(b);
}

void SyncMessageWriter::patch_u16(std::size_t body_offset, std::uint16_t v) {
    const std::size_t saved = length_;
    length_ = kSyncHeaderSize + body_offset;
    put_u16(v);
    length_ = saved;
}

std::span<const std::byte> SyncMessageWriter::finish(std::uint64_t sequence, const SyncAuthenticator& auth) {
    const std::size_t signed_length = length_;
    const auto body = static_cast<std::uint32_t>(signed_length - kSyncHeaderSize);
    const std::size_t saved = length_;
    length_ = 12;
    put_u32(body);
    length_ = 32;
    put_u64(sequence);
    length_ = saved;
    auth.sign(std::span<const std::byte>(bytes_.data(), signed_length),
              std::span<std::byte, kSyncMacSize>(bytes_.data() + signed_length, kSyncMacSize));
    return std::span<const std::byte>(bytes_.data(), signed_length + kSyncMacSize);
}

std::size_t sync_record_size(const Association& a) {
    return kRecordFixedSize + 16 * (std::size_t{a.address_count} + a.server_address_count);
}

bool put_sync_record(SyncMessageWriter& w, const Association& a, Nanos now) {
    if (w.room() < sync_record_size(a)) return false;
    const std::int64_t now_ns = now.count();
    w.put_u8(static_cast<std::uint8_t>(a.state));
    w.put_u8(static_cast<std::uint8_t>((a.cookie_by.is_local() ? kRecordFlagCookie : 0) |
                                       (a.old_tags_linger ? kRecordFlagOldTags : 0) |
                                       (a.server_initiated ? kRecordFlagServerInitiated : 0)));
    w.put_u8(a.address_count);
    w.put_u8(a.server_address_count);
    w.put_u16(a.sport);
    w.put_u16(a.dport);
    w.put_u32(a.tc);
    w.put_u32(a.ts);
    w.put_u32(a.pending_tc);
    w.put_u32(a.old_tc);
    w.put_u32(a.old_ts);
    w.put_u32(a.fwmark);
    w.put_u32(a.sync_version);
    w.put_u32(millis_between(now_ns, a.last_seen_ns));
    w.put_u32(millis_between(now_ns, a.created_ns));
    w.put_u32(millis_between(now_ns, a.state_since_ns));
    w.put_u32(a.old_tags_linger ? millis_between(a.old_tags_until_ns, now_ns) : 0);
    for (std::size_t i = 0; i < a.address_count; ++i) w.put_address(a.addresses[i]);
    for (std::size_t i = 0; i < a.server_address_count; ++i) w.put_address(a.server_addresses[i]);
    return true;
}

bool decode_sync_record(ByteView body, std::size_t& offset, Nanos now, SyncRecord& record) {
    const auto fixed = body.sub(offset, kRecordFixedSize);
    if (!fixed) return false;
    const ByteView f = *fixed;
    const std::uint8_t state = *f.u8(0);
    const std::uint8_t flags = *f.u8(1);
    const std::uint8_t addresses = *f.u8(2);
    const std::uint8_t server_addresses = *f.u8(3);
    if (state == 0 || state > static_cast<std::uint8_t>(AssociationState::Closed) || addresses == 0 ||
        addresses > kMaxClientAddresses || server_addresses > kMaxServerAddresses)
        return false;
    const auto list = body.sub(offset + kRecordFixedSize, 16 * (std::size_t{addresses} + server_addresses));
    if (!list) return false;
    const std::int64_t now_ns = now.count();
    const auto ago = [&](std::size_t at) { return now_ns - std::int64_t{*f.be32(at)} * 1'000'000; };

    Association a{};
    a.state = static_cast<AssociationState>(state);
    a.old_tags_linger = (flags & kRecordFlagOldTags) != 0;
    a.server_initiated = (flags & kRecordFlagServerInitiated) != 0;
    a.sport = *f.be16(4);
    a.dport = *f.be16(6);
    a.tc = *f.be32(8);
    a.ts = *f.be32(12);
    a.pending_tc = *f.be32(16);
    a.old_tc = *f.be32(20);
    a.old_ts = *f.be32(24);
    a.fwmark = *f.be32(28);
    a.sync_version = *f.be32(32);
    a.last_seen_ns = ago(36);
    a.created_ns = ago(40);
    a.state_since_ns = ago(44);
    a.old_tags_until_ns = now_ns + std::int64_t{*f.be32(48)} * 1'000'000;
    const auto address_at = [&](std::size_t index) {
        std::array<std::uint8_t, 16> bytes{};
        for (std::size_t i = 0; i < 16; ++i) bytes[i] = *list->u8(16 * index + i);
        return IpAddress::v6(bytes);
    };
    a.address_count = addresses;
    for (std::size_t i = 0; i < addresses; ++i) a.addresses[i] = address_at(i);
    a.server_address_count = server_addresses;
    for (std::size_t i = 0; i < server_addresses; ++i) a.server_addresses[i] = address_at(addresses + i);
    record.fields = a;
    record.cookie_authority = (flags & kRecordFlagCookie) != 0;
    offset += kRecordFixedSize + list->size();
    return true;
}

}  // namespace sctplb
