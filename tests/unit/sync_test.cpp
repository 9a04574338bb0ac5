// Association sync: key file, wire format, replay window, merge rules, and two
// (or three) engines exchanging datagrams over an in-memory network that can
// lose, repeat and forge them — in virtual time.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/association_table.hpp"
#include "core/sync_engine.hpp"
#include "io/sync_key.hpp"
#include "core/sync_merge.hpp"
#include "core/sync_wire.hpp"
#include "support/address.hpp"
#include "support/table_fixture.hpp"

using namespace sctplb;
using namespace std::chrono_literals;

namespace {

using test::ip;  // tests/support/address.hpp

const IpAddress kClientA = ip("192.168.2.221");
const IpAddress kClientB = ip("192.168.6.221");
constexpr std::string_view kKeyText = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
constexpr std::string_view kOtherKeyText = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";

SyncKeyring keyring(std::string_view text) {
    std::string error;
    auto ring = SyncKeyring::parse(text, error);
    EXPECT_TRUE(ring) << error;
    return *ring;
}

// A table in heap memory.
struct Table : test::HeapTable {
    explicit Table(Timeouts timeouts = {}) : HeapTable(TableLimits{.capacity = 256}, timeouts) {}
};

// An established two-address association, created as the decider would.
AssociationId establish(AssociationTable& t, std::uint32_t tc, std::uint32_t ts, std::uint32_t fwmark, Nanos now,
                        std::uint16_t port = 36412) {
    Counters c;
    const IpAddress addresses[] = {kClientA, kClientB};
    const AssociationId id = t.insert_half_open(addresses, port, port, tc, fwmark, now, c);
    t.set_ts(id, ts);
    t.establish(id, now);
    return id;
}

// As the decider looks up: what is due (an expiry, a restart that never
// completed) is applied first.
AssociationId find(AssociationTable& t, const IpAddress& a, std::uint32_t ts, Nanos now, std::uint16_t port = 36412) {
    const AssociationTable::Found found = t.find_by_ts(a, port, port, ts, now);
    t.settle(found, now);
    return found.id;
}

// ---- key file -------------------------------------------------------------------

TEST(SyncKey, ParsesOneOrTwoKeysWithComments) {
    std::string error;
    auto one = SyncKeyring::parse(std::string("# tier key\n") + std::string(kKeyText), error);
    ASSERT_TRUE(one) << error;
    EXPECT_EQ(one->size(), 1u);
    auto two = SyncKeyring::parse(std::string(kOtherKeyText) + "  " + std::string(kKeyText) + "\n\n", error);
    ASSERT_TRUE(two) << error;
    EXPECT_EQ(two->size(), 2u);
    EXPECT_EQ(two->signing_key_id(), two->key_id(0));
    EXPECT_NE(two->key_id(0), two->key_id(1));
    EXPECT_EQ(two->key_id(1), one->signing_key_id());
}

TEST(SyncKey, RefusesBadKeys) {
    const struct {
        std::string text;
        std::string error;
    } cases[] = {
        {"", "no key"},
        {"# only a comment\n", "no key"},
        {"0011223344", "line 1: a key is 32 to 128 hex digits"},
        {"00112233445566778899aabbccddeeff0", "line 1: a key is"},
        {"zz112233445566778899aabbccddeeff", "line 1: not hex digits"},
        {std::string(kKeyText) + std::string(kOtherKeyText) + std::string(kKeyText), "line 3: at most 2 keys"},
    };
    for (const auto& c : cases) {
        std::string error;
        EXPECT_FALSE(SyncKeyring::parse(c.text, error)) << c.text;
        EXPECT_NE(error.find(c.error), std::string::npos) << "'" << error << "' lacks '" << c.error << "'";
    }
}

TEST(SyncKey, FileOpenToOthersIsRefused) {
    const std::string path = testing::TempDir() + "sync-key-" + std::to_string(::getpid());
    std::ofstream(path) << kKeyText;
    std::string error;
    ::chmod(path.c_str(), 0640);
    EXPECT_FALSE(SyncKeyring::load(path, error));
    EXPECT_NE(error.find("open to group or others (mode 0640): run chmod 600"), std::string::npos) << error;
    ::chmod(path.c_str(), 0600);
    EXPECT_TRUE(SyncKeyring::load(path, error)) << error;
    std::remove(path.c_str());
}

// ---- replay window -----------------------------------------------------------

TEST(SyncReplayWindow, AcceptsEachSequenceOncePerEpoch) {
    const struct {
        std::uint64_t epoch, sequence;
        WindowCheck expected;
    } steps[] = {
        {5, 1, WindowCheck::Fresh},      {5, 1, WindowCheck::Duplicate}, {5, 3, WindowCheck::Fresh},
        {5, 2, WindowCheck::Fresh},      {5, 2, WindowCheck::Duplicate}, {5, 3, WindowCheck::Duplicate},
        {5, 0, WindowCheck::TooOld},     {5, 1100, WindowCheck::Fresh},  {5, 3, WindowCheck::TooOld},
        {5, 1099, WindowCheck::Fresh},   {5, 77, WindowCheck::Fresh},    {5, 76, WindowCheck::TooOld},
        {4, 2000, WindowCheck::TooOld},  // an earlier run of the sender
        {6, 1, WindowCheck::Fresh},      // the sender restarted
        {6, 1, WindowCheck::Duplicate},  {5, 1101, WindowCheck::TooOld},
    };
    SyncReplayWindow window;
    for (const auto& s : steps)
        EXPECT_EQ(check_and_record(window, s.epoch, s.sequence), s.expected) << s.epoch << "/" << s.sequence;
}

// ---- wire ---------------------------------------------------------------------

std::vector<std::byte> records_message(const SyncKeyring& keys, std::span<const Association> records, Nanos now,
                                       std::uint64_t sequence = 1) {
    SyncMessageWriter w;
    SyncHeader h;
    h.type = SyncType::Records;
    h.key_id = keys.signing_key_id();
    h.instance = 42;
    h.epoch = 7;
    h.digest.fill('a');
    w.begin(h);
    w.put_u16(static_cast<std::uint16_t>(records.size()));
    for (const Association& a : records) EXPECT_TRUE(put_sync_record(w, a, now));
    const auto bytes = w.finish(sequence, keys);
    return {bytes.begin(), bytes.end()};
}

TEST(SyncWire, RecordsRoundTripWithRelativeTimes) {
    Table t;
    const AssociationId id = establish(*t, 0x1111, 0x2222, 3, Nanos{10s});
    t->add_server_address(id, ip("10.0.0.1"));
    const Association sent = t->at(id);
    const SyncKeyring keys = keyring(kKeyText);
    const auto datagram = records_message(keys, std::span(&sent, 1), Nanos{15s});

    SyncMessage m;
    ASSERT_EQ(open_sync_message(datagram, keys, m), SyncRejection::None);
    EXPECT_EQ(m.header.type, SyncType::Records);
    EXPECT_EQ(m.header.instance, 42u);
    EXPECT_EQ(m.header.epoch, 7u);
    EXPECT_EQ(m.header.sequence, 1u);
    EXPECT_EQ(std::string(m.header.digest.begin(), m.header.digest.end()), std::string(16, 'a'));
    std::vector<SyncRecord> got;
    // Received on a clock 1000 s ahead: the times are "so long ago", not absolute.
    ASSERT_TRUE(for_each_sync_record(m.body, Nanos{1015s}, [&](const SyncRecord& r) { got.push_back(r); }));
    ASSERT_EQ(got.size(), 1u);
    const Association& r = got[0].fields;
    EXPECT_TRUE(got[0].cookie_authority);
    EXPECT_EQ(r.state, AssociationState::Established);
    EXPECT_EQ(r.tc, 0x1111u);
    EXPECT_EQ(r.ts, 0x2222u);
    EXPECT_EQ(r.fwmark, 3u);
    EXPECT_EQ(r.sport, 36412);
    ASSERT_EQ(r.address_count, 2);
    EXPECT_EQ(r.addresses[0], kClientA);
    EXPECT_EQ(r.addresses[1], kClientB);
    ASSERT_EQ(r.server_address_count, 1);
    EXPECT_EQ(r.server_addresses[0], ip("10.0.0.1"));
    EXPECT_EQ(r.last_seen_ns, Nanos{1010s}.count());
    EXPECT_EQ(r.sync_version, sent.sync_version);
}

TEST(SyncWire, TamperedMessagesAreRefused) {
    Table t;
    const AssociationId id = establish(*t, 1, 2, 3, Nanos{1s});
    const Association a = t->at(id);
    const SyncKeyring keys = keyring(kKeyText);
    const SyncKeyring other = keyring(kOtherKeyText);
    const auto good = records_message(keys, std::span(&a, 1), Nanos{1s});
    SyncMessage m;
    ASSERT_EQ(open_sync_message(good, keys, m), SyncRejection::None);

    auto flipped = good;
    flipped[kSyncHeaderSize + 20] ^= std::byte{1};  // a record byte: the target
    EXPECT_EQ(open_sync_message(flipped, keys, m), SyncRejection::Forged);
    auto header_flipped = good;
    header_flipped[33] ^= std::byte{1};  // the sequence number is signed too
    EXPECT_EQ(open_sync_message(header_flipped, keys, m), SyncRejection::Forged);
    // Signed with another key under our key id.
    auto resigned = good;
    other.sign(std::span(resigned.data(), resigned.size() - kSyncMacSize),
               std::span<std::byte, kSyncMacSize>(resigned.data() + resigned.size() - kSyncMacSize, kSyncMacSize));
    EXPECT_EQ(open_sync_message(resigned, keys, m), SyncRejection::Forged);
    // Signed with another key under its own id: we do not know that key.
    EXPECT_EQ(open_sync_message(records_message(other, std::span(&a, 1), Nanos{1s}), keys, m),
              SyncRejection::Unauthenticated);
    const std::vector<std::byte> no_mac(good.begin(), good.end() - kSyncMacSize);
    EXPECT_EQ(open_sync_message(no_mac, keys, m), SyncRejection::Unauthenticated);
    auto bad_magic = good;
    bad_magic[0] = std::byte{'X'};
    EXPECT_EQ(open_sync_message(bad_magic, keys, m), SyncRejection::Unauthenticated);
    EXPECT_EQ(open_sync_message(std::span(good.data(), 10), keys, m), SyncRejection::Unauthenticated);
    // Two keys during a rotation: a message signed with either is accepted.
    const SyncKeyring rotating = keyring(std::string(kOtherKeyText) + std::string(kKeyText));
    EXPECT_EQ(open_sync_message(good, rotating, m), SyncRejection::None);
}

// ---- merge --------------------------------------------------------------------

SyncRecord record_of(const Association& a, bool cookie) { return SyncRecord{a, cookie}; }

TEST(SyncMerge, InsertsUnknownAndKeepsAnUnknownCloseAsClosed) {
    Table source, t;
    Association a = source->at(establish(*source, 0x10, 0x20, 2, Nanos{1s}));
    Counters c;
    EXPECT_EQ(merge_sync_record(*t, record_of(a, true), {Origin::peer(1), false}, Nanos{1s}, c), MergeOutcome::Inserted);
    const AssociationId id = find(*t, kClientB, 0x20, Nanos{1s});
    ASSERT_NE(id, kNoAssociation);
    EXPECT_EQ(t->at(id).fwmark, 2u);
    EXPECT_EQ(t->at(id).learned_from, Origin::peer(1));
    EXPECT_EQ(t->at(id).cookie_by, Origin::peer(1));
    EXPECT_EQ(t->at(id).sync_version, t->at(id).synced_version) << "learned records are not sent back";

    a.tc = 0x11;
    a.ts = 0x21;
    a.addresses[0] = ip("192.168.2.222");
    a.addresses[1] = ip("192.168.6.222");
    a.state = AssociationState::Closed;
    a.state_since_ns = Nanos{1s}.count();
    // Closed before its linger ran out here: remembered as closed, as on the
    // instance that saw the ABORT.
    EXPECT_EQ(merge_sync_record(*t, record_of(a, true), {Origin::peer(1), false}, Nanos{2s}, c), MergeOutcome::Inserted);
    EXPECT_EQ(t->size(), 2u);
    const AssociationId closed = find(*t, ip("192.168.6.222"), 0x21, Nanos{2s});
    ASSERT_NE(closed, kNoAssociation);
    EXPECT_EQ(t->at(closed).state, AssociationState::Closed);
    EXPECT_EQ(t->at(closed).state_since_ns, Nanos{1s}.count()) << "lingers from the close, not from its news";
    // Past its linger: nothing to remember.
    a.addresses[0] = ip("192.168.2.223");
    a.addresses[1] = ip("192.168.6.223");
    const Nanos after_linger = Nanos{1s} + t->timeouts().closed_linger + 1ms;
    EXPECT_EQ(merge_sync_record(*t, record_of(a, true), {Origin::peer(1), false}, after_linger, c), MergeOutcome::Ignored);
    EXPECT_EQ(find(*t, ip("192.168.2.223"), 0x21, after_linger), kNoAssociation);
}

// A closed entry (a close learned from a peer, or seen here) has left the
// peer index; a view of the same association from before the close must
// still find it and lose, whatever order the records arrive in.
TEST(SyncMerge, AViewFromBeforeACloseDoesNotReopenIt) {
    const struct {
        const char* name;
        bool closed_here;  // else the close was learned from a peer
    } cases[] = {{"learned close", false}, {"local close", true}};
    for (const auto& k : cases) {
        Table source, t;
        Counters c;
        const AssociationId sid = establish(*source, 0x10, 0x20, 2, Nanos{1s});
        const Association established = source->at(sid);
        source->set_state(sid, AssociationState::Closed, Nanos{2s});
        const Association closed = source->at(sid);
        ASSERT_GT(closed.sync_version, established.sync_version);
        if (k.closed_here) {
            const AssociationId id = establish(*t, 0x10, 0x20, 2, Nanos{1s});
            t->set_state(id, AssociationState::Closed, Nanos{2s});
        } else {
            EXPECT_EQ(merge_sync_record(*t, record_of(closed, true), {Origin::peer(0), false}, Nanos{3s}, c),
                      MergeOutcome::Inserted) << k.name;
        }
        // The Established record arrives late, on either path's address first.
        for (const IpAddress& first : {kClientA, kClientB}) {
            Association late = established;
            late.addresses[0] = first;
            late.addresses[1] = first == kClientA ? kClientB : kClientA;
            EXPECT_EQ(merge_sync_record(*t, record_of(late, true), {Origin::peer(0), false}, Nanos{3s}, c),
                      MergeOutcome::Refreshed) << k.name;
        }
        EXPECT_EQ(t->size(), 1u) << k.name << ": nothing beside the closed entry";
        const AssociationId id = find(*t, kClientB, 0x20, Nanos{3s});
        ASSERT_NE(id, kNoAssociation) << k.name;
        EXPECT_EQ(t->at(id).state, AssociationState::Closed) << k.name;
        // A half-open view (Ts not known yet) finds it by Tc: the same.
        Association half_open = established;
        half_open.state = AssociationState::HalfOpen;
        half_open.ts = 0;
        half_open.sync_version = 1;
        EXPECT_EQ(merge_sync_record(*t, record_of(half_open, false), {Origin::peer(0), false}, Nanos{3s}, c),
                  MergeOutcome::Refreshed) << k.name;
        EXPECT_EQ(t->size(), 1u) << k.name;
        EXPECT_EQ(t->at(id).state, AssociationState::Closed) << k.name;
    }
}

// What a remembered close must not do: kill or shadow a live association of
// the same client address and ports — a new one (new tags, RFC 9260 §5.1),
// or the same one after a restart (new tags, §5.2.4 case A).
TEST(SyncMerge, ARememberedCloseNeverTouchesALiveAssociationOfThePeer) {
    Counters c;
    Table source;
    const AssociationId sid = establish(*source, 0x10, 0x20, 2, Nanos{1s});
    source->set_state(sid, AssociationState::Closed, Nanos{2s});
    const Association old_closed = source->at(sid);

    // A new association of the peer is live here: the old close changes nothing.
    {
        Table t;
        const AssociationId live = establish(*t, 0x30, 0x40, 3, Nanos{2s});
        EXPECT_EQ(merge_sync_record(*t, record_of(old_closed, true), {Origin::peer(0), false}, Nanos{3s}, c),
                  MergeOutcome::Ignored);
        EXPECT_EQ(t->size(), 1u);
        EXPECT_EQ(find(*t, kClientA, 0x40, Nanos{3s}), live);
        EXPECT_EQ(t->at(live).state, AssociationState::Established);
    }
    // The close came first: the new association's record is inserted beside
    // it, live, and each keeps its own keys.
    {
        Table t;
        EXPECT_EQ(merge_sync_record(*t, record_of(old_closed, true), {Origin::peer(0), false}, Nanos{3s}, c),
                  MergeOutcome::Inserted);
        Table other;
        const Association fresh = other->at(establish(*other, 0x30, 0x40, 3, Nanos{2500ms}));
        EXPECT_EQ(merge_sync_record(*t, record_of(fresh, true), {Origin::peer(0), false}, Nanos{3s}, c),
                  MergeOutcome::Inserted);
        const AssociationId live = find(*t, kClientB, 0x40, Nanos{3s});
        ASSERT_NE(live, kNoAssociation);
        EXPECT_EQ(t->at(live).state, AssociationState::Established);
        EXPECT_EQ(t->at(live).fwmark, 3u);
        const AssociationId closed = find(*t, kClientB, 0x20, Nanos{3s});
        ASSERT_NE(closed, kNoAssociation);
        EXPECT_NE(closed, live);
        EXPECT_EQ(t->at(closed).state, AssociationState::Closed);
    }
    // Restarted here (re-keyed, the old tags lingering): a close of the
    // pre-restart view, however high its version, is older news.
    {
        Table t;
        const AssociationId id = establish(*t, 0x10, 0x20, 2, Nanos{1s});
        t->mark_restart_pending(id, 0x30, Nanos{2s});
        t->complete_restart(id, 0x40, Nanos{2s});
        Association stale_close = old_closed;
        stale_close.sync_version = 99;
        EXPECT_EQ(merge_sync_record(*t, record_of(stale_close, true), {Origin::peer(0), false}, Nanos{3s}, c),
                  MergeOutcome::Refreshed);
        EXPECT_EQ(t->size(), 1u);
        EXPECT_EQ(find(*t, kClientA, 0x40, Nanos{3s}), id);
        EXPECT_EQ(t->at(id).state, AssociationState::Established);
    }
}

TEST(SyncMerge, NewerViewWinsAndAddressesOnlyGrow) {
    Counters c;
    Table u;
    const AssociationId uid = establish(*u, 0x10, 0x20, 2, Nanos{1s});
    Association view = u->at(uid);
    view.addresses[2] = ip("192.168.9.221");
    view.address_count = 3;
    view.last_seen_ns = Nanos{5s}.count();
    EXPECT_EQ(merge_sync_record(*u, record_of(view, false), {Origin::peer(0), false}, Nanos{6s}, c), MergeOutcome::Refreshed);
    EXPECT_EQ(u->at(uid).address_count, 3);
    EXPECT_EQ(u->at(uid).last_seen_ns, Nanos{5s}.count());
    EXPECT_NE(find(*u, ip("192.168.9.221"), 0x20, Nanos{6s}), kNoAssociation);
    // A newer closing view: taken, addresses kept.
    view.state = AssociationState::Closed;
    view.address_count = 1;
    view.sync_version += 5;
    EXPECT_EQ(merge_sync_record(*u, record_of(view, false), {Origin::peer(0), false}, Nanos{6s}, c), MergeOutcome::Updated);
    EXPECT_EQ(u->at(uid).state, AssociationState::Closed);
    EXPECT_EQ(u->at(uid).address_count, 3);
}

TEST(SyncMerge, RestartSupersedesOldTagsWhateverTheVersions) {
    Table t;
    const AssociationId id = establish(*t, 0x10, 0x20, 2, Nanos{1s});
    Association restarted = t->at(id);
    restarted.old_tc = 0x10;
    restarted.old_ts = 0x20;
    restarted.old_tags_linger = true;
    restarted.old_tags_until_ns = Nanos{30s}.count();
    restarted.tc = 0x30;
    restarted.ts = 0x40;
    restarted.sync_version = 1;  // lower than ours: the re-key still wins
    Counters c;
    EXPECT_EQ(merge_sync_record(*t, record_of(restarted, true), {Origin::peer(0), false}, Nanos{2s}, c), MergeOutcome::Updated);
    EXPECT_EQ(find(*t, kClientA, 0x40, Nanos{2s}), id);
    EXPECT_EQ(find(*t, kClientB, 0x40, Nanos{2s}), id);
    EXPECT_EQ(find(*t, kClientB, 0x20, Nanos{2s}), id) << "old keys linger";
    EXPECT_EQ(t->at(id).fwmark, 2u);
    // The pre-restart view arriving late changes nothing.
    Association stale = restarted;
    stale.tc = 0x10;
    stale.ts = 0x20;
    stale.old_tags_linger = false;
    stale.sync_version = 99;
    EXPECT_EQ(merge_sync_record(*t, record_of(stale, true), {Origin::peer(0), false}, Nanos{3s}, c), MergeOutcome::Refreshed);
    EXPECT_EQ(t->at(id).ts, 0x40u);
}

TEST(SyncMerge, ConflictGoesToWhoForwardedTheCookieEcho) {
    const struct {
        bool local_cookie, remote_cookie, peer_wins_ties;
        std::uint32_t expected;
    } cases[] = {
        {true, false, true, 1},   // ours forwarded it
        {false, true, false, 2},  // theirs did
        {true, true, true, 2},    // both: the lower instance id (the peer's here)
        {true, true, false, 1},
        {false, false, true, 2},
    };
    for (const auto& k : cases) {
        Table t;
        Counters c;
        const IpAddress addresses[] = {kClientA, kClientB};
        const AssociationId id = t->insert_half_open(addresses, 36412, 36412, 0x10, 1, Nanos{1s}, c);
        t->set_ts(id, 0x20);
        if (k.local_cookie) t->establish(id, Nanos{1s});
        else t->set_state(id, AssociationState::Established, Nanos{1s});
        Association remote = t->at(id);
        remote.fwmark = 2;
        remote.cookie_by = Origin::none();
        merge_sync_record(*t, record_of(remote, k.remote_cookie), {Origin::peer(0), k.peer_wins_ties}, Nanos{2s}, c);
        EXPECT_EQ(t->at(id).fwmark, k.expected) << k.local_cookie << k.remote_cookie << k.peer_wins_ties;
        EXPECT_EQ(c.of(Event::SyncConflict), 1u);
    }
}

TEST(SyncMerge, AnotherAssociationOfThePeerReplacesOnlyAnOlderOne) {
    Table t;
    const AssociationId id = establish(*t, 0x10, 0x20, 2, Nanos{5s});
    Association other = t->at(id);
    other.tc = 0x50;
    other.ts = 0x60;
    other.fwmark = 3;
    other.created_ns = Nanos{1s}.count();  // older than ours: stale news
    Counters c;
    EXPECT_EQ(merge_sync_record(*t, record_of(other, true), {Origin::peer(0), false}, Nanos{6s}, c), MergeOutcome::Ignored);
    EXPECT_EQ(t->at(id).ts, 0x20u);
    other.created_ns = Nanos{6s}.count();  // younger: the peer saw a new association replace ours
    EXPECT_EQ(merge_sync_record(*t, record_of(other, true), {Origin::peer(0), false}, Nanos{6s}, c), MergeOutcome::Updated);
    EXPECT_EQ(find(*t, kClientA, 0x60, Nanos{6s}), id);
    EXPECT_EQ(find(*t, kClientA, 0x20, Nanos{6s}), kNoAssociation);
    EXPECT_EQ(t->at(id).fwmark, 3u);
}

// ---- engines over an in-memory network ------------------------------------------

// N instances, each with its table and engine; deliver() moves datagrams.
struct Tier {
    explicit Tier(std::size_t n, Timeouts timeouts = {}) : keys(keyring(kKeyText)) {
        for (std::size_t i = 0; i < n; ++i) nodes.push_back(std::make_unique<Node>(timeouts));
        for (std::size_t i = 0; i < n; ++i) start(i);
    }
    struct Node {
        explicit Node(Timeouts timeouts) : table(timeouts) {}
        Table table;
        std::array<SyncReplayWindow, kMaxSyncPeers> windows{};
        std::unique_ptr<SyncEngine> engine;
        std::uint64_t epoch = 0;
        Counters counters;
        bool down = false;
    };
    // (Re)starts node i: a new engine, a larger epoch; the table stays.
    void start(std::size_t i) {
        Node& node = *nodes[i];
        SyncEngineOptions o;
        o.instance = 100 + i;
        o.epoch = ++node.epoch + 1000 * (restarts++);
        o.peer_count = nodes.size() - 1;
        if (node.engine) node.table->set_journal(nullptr);
        node.engine = std::make_unique<SyncEngine>(o, *node.table, keys, std::span(node.windows.data(), o.peer_count), now);
        node.engine->set_config_digest(digest);
        node.table->set_journal(&node.engine->journal());
    }
    // Peer index k of node i is node j.
    std::size_t node_of(std::size_t i, std::size_t k) const { return k < i ? k : k + 1; }
    std::size_t peer_index(std::size_t i, std::size_t j) const { return j < i ? j : j - 1; }

    // One round: every engine collects and ticks; datagrams go through `filter`.
    void round(std::function<bool(std::size_t from, std::size_t to, std::span<const std::byte>)> filter = {}) {
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            Node& node = *nodes[i];
            if (node.down) continue;
            node.engine->collect(now);
            node.engine->tick(now);
            auto out = std::move(node.engine->outgoing());
            node.engine->outgoing().clear();
            for (const auto& o : out) {
                const std::size_t j = node_of(i, o.peer);
                sent.push_back({i, j, o.bytes});
                if (nodes[j]->down || (filter && !filter(i, j, o.bytes))) continue;
                nodes[j]->engine->on_datagram(peer_index(j, i), o.bytes, now, nodes[j]->counters);
            }
        }
    }
    void run_for(Nanos span, Nanos step = 5ms, decltype(std::function<bool(std::size_t, std::size_t, std::span<const std::byte>)>()) filter = {}) {
        for (Nanos end = now + span; now < end; now += step) round(filter);
    }
    AssociationTable& table(std::size_t i) { return *nodes[i]->table; }
    SyncEngine& engine(std::size_t i) { return *nodes[i]->engine; }

    SyncKeyring keys;
    ConfigDigestText digest{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::vector<std::unique_ptr<Node>> nodes;
    struct Sent {
        std::size_t from, to;
        std::vector<std::byte> bytes;
    };
    std::vector<Sent> sent;
    Nanos now{100s};
    std::uint64_t restarts = 0;
};

TEST(SyncEngine, StartsReadyOnceEveryPeerSentItsTable) {
    Tier tier(3);
    EXPECT_FALSE(tier.engine(0).ready());
    tier.run_for(50ms);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(tier.engine(i).ready()) << i;
        EXPECT_TRUE(tier.engine(i).silent_at_startup().empty());
    }
}

TEST(SyncEngine, StartupWaitEndsWithoutAnAnswer) {
    Tier tier(2);
    tier.nodes[1]->down = true;
    tier.run_for(1900ms);
    EXPECT_FALSE(tier.engine(0).ready());
    tier.run_for(200ms);
    EXPECT_TRUE(tier.engine(0).ready());
    EXPECT_EQ(tier.engine(0).silent_at_startup(), std::vector<std::size_t>{0});
}

TEST(SyncEngine, EveryLifecycleEventReachesThePeerWithinMilliseconds) {
    Tier tier(2);
    tier.run_for(50ms);
    AssociationTable& a = tier.table(0);
    AssociationTable& b = tier.table(1);
    Counters c;
    const IpAddress addresses[] = {kClientA, kClientB};
    // Created half-open.
    const AssociationId id = a.insert_half_open(addresses, 36412, 36412, 0x10, 2, tier.now, c);
    tier.run_for(5ms);
    AssociationId peer = b.find_by_tc(kClientB, 36412, 36412, 0x10, tier.now).id;
    ASSERT_NE(peer, kNoAssociation);
    EXPECT_EQ(b.at(peer).state, AssociationState::HalfOpen);
    EXPECT_EQ(b.at(peer).learned_from, Origin::peer(0));
    // Established with Ts.
    a.set_ts(id, 0x20);
    a.establish(id, tier.now);
    tier.run_for(5ms);
    EXPECT_EQ(find(b, kClientB, 0x20, tier.now), peer);
    EXPECT_EQ(b.at(peer).state, AssociationState::Established);
    EXPECT_EQ(b.at(peer).fwmark, 2u);
    // An address added (ASCONF).
    a.add_address(id, ip("192.168.9.221"));
    tier.run_for(5ms);
    EXPECT_EQ(find(b, ip("192.168.9.221"), 0x20, tier.now), peer);
    // Re-keyed by a restart.
    a.mark_restart_pending(id, 0x30, tier.now);
    a.complete_restart(id, 0x40, tier.now);
    tier.run_for(5ms);
    EXPECT_EQ(find(b, kClientB, 0x40, tier.now), peer);
    EXPECT_EQ(b.at(peer).fwmark, 2u);
    // Closed by ABORT.
    a.set_state(id, AssociationState::Closed, tier.now);
    tier.run_for(5ms);
    EXPECT_EQ(b.at(peer).state, AssociationState::Closed);
    // Nothing travelled back: B's learned records are not echoed.
    EXPECT_EQ(tier.engine(1).stats().of(SyncCounter::RecordsSent), 0u);
    EXPECT_EQ(tier.engine(0).stats().of(SyncCounter::RecordsSent), 5u);
}

TEST(SyncEngine, ALostDatagramIsRetransmitted) {
    Tier tier(2);
    tier.run_for(50ms);
    const AssociationId id = establish(tier.table(0), 0x10, 0x20, 3, tier.now);
    (void)id;
    bool dropped = false;
    tier.run_for(5ms, 5ms, [&](std::size_t from, std::size_t, std::span<const std::byte> d) {
        SyncMessage m;
        if (from == 0 && !dropped && open_sync_message(d, tier.keys, m) == SyncRejection::None &&
            m.header.type == SyncType::Records) {
            dropped = true;
            return false;
        }
        return true;
    });
    ASSERT_TRUE(dropped);
    EXPECT_EQ(find(tier.table(1), kClientA, 0x20, tier.now), kNoAssociation);
    tier.run_for(100ms);
    EXPECT_NE(find(tier.table(1), kClientA, 0x20, tier.now), kNoAssociation);
    EXPECT_GE(tier.engine(0).stats().of(SyncCounter::Retransmits), 1u);
    EXPECT_EQ(tier.engine(0).peer_status(0).unacked, 0u);
}

TEST(SyncEngine, ReplayedAndForgedDatagramsChangeNothing) {
    Tier tier(2);
    tier.run_for(50ms);
    const AssociationId id = establish(tier.table(0), 0x10, 0x20, 3, tier.now);
    tier.run_for(10ms);
    // The record message that told B about it.
    std::vector<std::byte> recorded;
    for (const auto& s : tier.sent) {
        SyncMessage m;
        if (s.from == 0 && open_sync_message(s.bytes, tier.keys, m) == SyncRejection::None &&
            m.header.type == SyncType::Records)
            recorded = s.bytes;
    }
    ASSERT_FALSE(recorded.empty());
    // A closes the association; a replay of the old "established" must not revive it.
    tier.table(0).set_state(id, AssociationState::Closed, tier.now);
    tier.run_for(10ms);
    AssociationTable& b = tier.table(1);
    const AssociationId peer = find(b, kClientA, 0x20, tier.now);
    ASSERT_NE(peer, kNoAssociation);
    ASSERT_EQ(b.at(peer).state, AssociationState::Closed);
    const Association before = b.at(peer);
    SyncEngine& eb = tier.engine(1);
    Counters c;
    eb.on_datagram(0, recorded, tier.now, c);
    EXPECT_EQ(eb.stats().of(SyncRejection::Replayed), 1u);
    auto forged = recorded;
    forged[kSyncHeaderSize + 30] ^= std::byte{0x7};  // the target
    eb.on_datagram(0, forged, tier.now, c);
    EXPECT_EQ(eb.stats().of(SyncRejection::Forged), 1u);
    eb.on_datagram(0, std::span(recorded.data(), recorded.size() - kSyncMacSize), tier.now, c);
    EXPECT_EQ(eb.stats().of(SyncRejection::Unauthenticated), 1u);
    eb.on_datagram(5, recorded, tier.now, c);  // from an address that is no peer
    EXPECT_EQ(eb.stats().of(SyncRejection::NotAPeer), 1u);
    EXPECT_EQ(b.at(peer).state, before.state);
    EXPECT_EQ(b.at(peer).fwmark, before.fwmark);
    EXPECT_EQ(b.at(peer).sync_version, before.sync_version);
}

TEST(SyncEngine, LastSeenTravelsSoBusyElsewhereIsNotIdleHere) {
    Timeouts timeouts;
    timeouts.idle = 10s;
    Tier tier(2, timeouts);
    tier.run_for(50ms);
    const AssociationId id = establish(tier.table(0), 0x10, 0x20, 3, tier.now);
    tier.run_for(10ms);
    // Only A sees traffic (path A), for 30 s: B must keep the association.
    for (int second = 0; second < 30; ++second) {
        tier.table(0).touch(id, tier.now);
        tier.run_for(1s, 50ms);
    }
    EXPECT_NE(find(tier.table(1), kClientB, 0x20, tier.now), kNoAssociation);
    // Idle everywhere: it expires on both, and nobody calls that "closed".
    tier.run_for(12s, 50ms);
    EXPECT_EQ(find(tier.table(0), kClientA, 0x20, tier.now), kNoAssociation);
    EXPECT_EQ(find(tier.table(1), kClientB, 0x20, tier.now), kNoAssociation);
}

// A client's restart INIT whose COOKIE ECHO never came (RFC 9260 §5.2.2): not
// journaled when it reverts. Each instance reverts by its own clock at the same
// deadline (state_since travels as an age); a view still restart-pending past
// it must not bring the finished restart back on an instance that reverted.
TEST(SyncEngine, AnUnfinishedRestartRevertsEverywhereAndStaysReverted) {
    Timeouts timeouts;
    timeouts.half_open = 5s;
    timeouts.idle = 16s;  // last-seen reports every 2 s
    Tier tier(2, timeouts);
    tier.run_for(50ms);
    AssociationTable& a = tier.table(0);
    AssociationTable& b = tier.table(1);
    const AssociationId id = establish(a, 0x10, 0x20, 3, tier.now);
    tier.run_for(10ms);
    a.mark_restart_pending(id, 0x30, tier.now);
    tier.run_for(10ms);
    const AssociationId peer = find(b, kClientB, 0x20, tier.now);
    ASSERT_NE(peer, kNoAssociation);
    ASSERT_EQ(b.at(peer).state, AssociationState::RestartPending);
    ASSERT_EQ(b.at(peer).pending_tc, 0x30u);

    tier.run_for(6s, 100ms);
    // A's next lookup finds the restart over.
    ASSERT_EQ(find(a, kClientA, 0x20, tier.now), id);
    ASSERT_EQ(a.at(id).state, AssociationState::Established);
    // B's kernel forwards path B (fast path): its last-seen moves without a
    // lookup, so B reports its record before its own sweep reached it.
    const std::uint64_t sent_before = tier.engine(1).stats().of(SyncCounter::RecordsSent);
    b.note_seen(peer, tier.now.count());
    tier.run_for(10ms);
    ASSERT_GT(tier.engine(1).stats().of(SyncCounter::RecordsSent), sent_before);
    EXPECT_EQ(a.at(id).state, AssociationState::Established);
    EXPECT_EQ(a.at(id).pending_tc, 0u);
    EXPECT_GE(a.at(id).last_seen_ns, (tier.now - 11ms).count()) << "B's last-seen is still merged";
    // B's own timer reverts it too: both agree, same tags, same server.
    ASSERT_EQ(find(b, kClientB, 0x20, tier.now), peer);
    EXPECT_EQ(b.at(peer).state, AssociationState::Established);
    EXPECT_EQ(b.at(peer).pending_tc, 0u);
    EXPECT_EQ(b.at(peer).tc, a.at(id).tc);
    EXPECT_EQ(b.at(peer).fwmark, a.at(id).fwmark);
}

// `sctplb down` runs on every LB of a tier and is not sent: a peer that has
// not run its own yet must not teach the forgotten associations back.
TEST(SyncEngine, ADownTargetsAssociationsAreNotLearnedBackFromAPeer) {
    Tier tier(2);
    tier.run_for(50ms);
    AssociationTable& a = tier.table(0);
    AssociationTable& b = tier.table(1);
    const AssociationId dead = establish(b, 0x10, 0x20, 3, tier.now, 1000);
    const AssociationId alive = establish(b, 0x11, 0x21, 4, tier.now, 1001);
    tier.run_for(10ms);
    const AssociationId learned_dead = find(a, kClientA, 0x20, tier.now, 1000);
    ASSERT_NE(learned_dead, kNoAssociation);
    ASSERT_NE(find(a, kClientA, 0x21, tier.now, 1001), kNoAssociation);

    // `down 3` on A: the target's associations go (as set_target_state does).
    a.remove(learned_dead);
    const std::uint32_t down[] = {3};
    tier.engine(0).set_down_targets(down);
    // B, not down yet, changes it (an ASCONF address) and reports it.
    b.add_address(dead, ip("192.168.9.221"));
    b.add_address(alive, ip("192.168.9.221"));
    tier.run_for(10ms);
    EXPECT_EQ(find(a, kClientA, 0x20, tier.now, 1000), kNoAssociation);
    EXPECT_EQ(find(a, ip("192.168.9.221"), 0x20, tier.now, 1000), kNoAssociation);
    EXPECT_NE(find(a, ip("192.168.9.221"), 0x21, tier.now, 1001), kNoAssociation) << "other targets still sync";
    // A's forgetting was not sent: B keeps its association until its own `down`.
    EXPECT_EQ(find(b, kClientA, 0x20, tier.now, 1000), dead);
    EXPECT_EQ(b.at(dead).state, AssociationState::Established);

    // Taught between the publish of `down` and the engine learning it: the
    // walk removes it once the engine knows.
    tier.engine(0).set_down_targets({});
    b.add_address(dead, ip("192.168.10.221"));
    tier.run_for(10ms);
    ASSERT_NE(find(a, kClientA, 0x20, tier.now, 1000), kNoAssociation);
    tier.engine(0).set_down_targets(down);
    tier.run_for(10ms);
    EXPECT_EQ(find(a, kClientA, 0x20, tier.now, 1000), kNoAssociation);
    EXPECT_NE(find(a, kClientA, 0x21, tier.now, 1001), kNoAssociation);
}

// Fast-path idle removal on one LB (its kernel saw nothing) is local, like
// any idle expiry: never sent as a close, and the peer that still carries the
// association teaches it back with its next last-seen report.
TEST(SyncEngine, AnAssociationIdleOnOnePathIsForgottenThereOnly) {
    Timeouts timeouts;
    timeouts.idle = 16s;  // last-seen reports every 2 s
    Tier tier(2, timeouts);
    tier.run_for(50ms);
    AssociationTable& a = tier.table(0);
    AssociationTable& b = tier.table(1);
    const AssociationId peer = establish(b, 0x10, 0x20, 3, tier.now);
    tier.run_for(10ms);
    const AssociationId id = find(a, kClientA, 0x20, tier.now);
    ASSERT_NE(id, kNoAssociation);
    const std::uint64_t sent_by_a = tier.engine(0).stats().of(SyncCounter::RecordsSent);
    a.remove(id);  // what the fast-path thread does when every element timed out
    tier.run_for(10ms);
    EXPECT_EQ(tier.engine(0).stats().of(SyncCounter::RecordsSent), sent_by_a);
    EXPECT_EQ(b.at(peer).state, AssociationState::Established);
    // Path B is busy: B's report brings it back to A.
    tier.run_for(3s, 100ms);
    b.note_seen(peer, tier.now.count());
    tier.run_for(10ms);
    EXPECT_NE(find(a, kClientA, 0x20, tier.now), kNoAssociation);
}

TEST(SyncEngine, RestartedInstanceResyncsAndALostPeerGetsTheWholeTable) {
    Tier tier(2);
    tier.run_for(50ms);
    for (std::uint32_t k = 0; k < 40; ++k) establish(tier.table(0), 0x100 + k, 0x200 + k, 1 + k % 3, tier.now, 1000 + k);
    tier.run_for(20ms);
    EXPECT_EQ(tier.table(1).size(), 40u);

    // B restarts with an empty table (say a new shared memory): it asks, A sends all.
    tier.nodes[1]->table = Table();
    tier.start(1);
    EXPECT_FALSE(tier.engine(1).ready());
    tier.run_for(100ms);
    EXPECT_TRUE(tier.engine(1).ready());
    EXPECT_EQ(tier.table(1).size(), 40u);
    EXPECT_EQ(tier.engine(1).stats().of(SyncCounter::TableRecordsReceived), 40u);

    // A partition for 5 s while A creates more: A gives B up (silence, no acks).
    const auto partition = [](std::size_t, std::size_t, std::span<const std::byte>) { return false; };
    tier.run_for(1s, 20ms, partition);
    for (std::uint32_t k = 0; k < 10; ++k) establish(tier.table(0), 0x900 + k, 0xa00 + k, 2, tier.now, 2000 + k);
    tier.run_for(4s, 20ms, partition);
    EXPECT_EQ(tier.engine(0).peer_status(0).state, PeerState::Down);
    EXPECT_EQ(tier.table(1).size(), 40u);
    // Healed: B is heard again and gets the whole table; nothing is left out.
    tier.run_for(200ms, 20ms);
    EXPECT_EQ(tier.table(1).size(), 50u);
    EXPECT_EQ(tier.engine(0).peer_status(0).state, PeerState::Up);
}

// The tier simulation's finding (docs/tier-scaling.md): B is down while A
// creates and closes an association; B comes back with an empty table and
// pulls A's, while A resends its unacknowledged change log, each message on
// its own 50 ms timer. Here the Closed record's resend comes first and the
// Established one's 30 ms later: B must not end up holding as established
// what A closed.
TEST(SyncEngine, AnAssociationClosedWhileAPeerWasDownDoesNotComeBackEstablished) {
    Tier tier(2);
    tier.run_for(50ms);
    tier.nodes[1]->down = true;
    const Nanos created = tier.now;
    const AssociationId id = establish(tier.table(0), 0x10, 0x20, 3, tier.now);
    tier.run_for(20ms);
    tier.table(0).set_state(id, AssociationState::Closed, tier.now);
    tier.run_for(40ms);  // the Established record's first resend (at +50 ms) is lost too
    ASSERT_EQ(tier.engine(0).peer_status(0).unacked, 2u);

    // B restarts with an empty table between the two records' resends.
    tier.nodes[1]->table = Table();
    tier.start(1);
    tier.nodes[1]->down = false;
    tier.run_for(200ms);
    ASSERT_TRUE(tier.engine(1).ready());
    EXPECT_EQ(tier.engine(0).peer_status(0).unacked, 0u) << "both records were resent and acknowledged";
    EXPECT_GE(tier.engine(0).stats().of(SyncCounter::Retransmits), 3u);
    ASSERT_EQ(tier.table(1).size(), 1u) << "one entry: no established one beside the closed one";
    const AssociationId learned = find(tier.table(1), kClientB, 0x20, tier.now);
    ASSERT_NE(learned, kNoAssociation);
    EXPECT_EQ(tier.table(1).at(learned).state, AssociationState::Closed);

    // The closed entry lingers as on A, from the same moment, and goes with it.
    const Nanos linger = tier.table(0).timeouts().closed_linger;
    tier.run_for(created + 20ms + linger - tier.now - 200ms, 50ms);  // ends at most 150 ms before
    EXPECT_NE(find(tier.table(1), kClientA, 0x20, tier.now), kNoAssociation);
    tier.run_for(400ms, 50ms);
    EXPECT_EQ(find(tier.table(0), kClientA, 0x20, tier.now), kNoAssociation);
    EXPECT_EQ(find(tier.table(1), kClientA, 0x20, tier.now), kNoAssociation);
}

TEST(SyncEngine, DigestMismatchIsCounted) {
    Tier tier(2);
    ConfigDigestText other = tier.digest;
    other[0] = 'f';
    tier.engine(1).set_config_digest(other);
    tier.run_for(20ms);
    EXPECT_FALSE(tier.engine(0).peer_status(0).digest_match);
    EXPECT_GT(tier.engine(0).stats().of(SyncCounter::DigestMismatches), 0u);
    EXPECT_TRUE(tier.engine(0).peer_status(0).digest_known);
}


// A peer whose datagrams arrive but fail authentication (another key, or a key id
// we do not have) is "authentication failing", not "down"; forged datagrams from
// the address of a peer that is up leave it up; both are counted per peer.
TEST(SyncEngine, APeerWithAnotherKeyIsAuthenticationFailingNotDown) {
    Tier tier(2);
    tier.run_for(50ms);
    SyncEngine& a = tier.engine(0);
    ASSERT_EQ(a.peer_status(0).state, PeerState::Up);
    EXPECT_EQ(a.peer_status(0).auth_failures, 0u);
    // B's key changes under it: A gets B's datagrams with a MAC it cannot verify
    // (odd rounds), or with a key id it does not have (even rounds).
    bool odd = false;
    const auto rekeyed = [&](std::size_t from, std::size_t, std::span<const std::byte> bytes) {
        if (from != 1) return true;
        std::vector<std::byte> copy(bytes.begin(), bytes.end());
        odd = !odd;
        copy[odd ? copy.size() - 1 : 8] ^= std::byte{0x5a};
        a.on_datagram(0, copy, tier.now, tier.nodes[0]->counters);
        return false;
    };
    tier.run_for(4s, 20ms, rekeyed);
    EXPECT_EQ(a.peer_status(0).state, PeerState::AuthFailing);
    EXPECT_EQ(peer_state_name(a.peer_status(0).state), "authentication failing");
    EXPECT_GT(a.peer_status(0).auth_failures, 0u);
    EXPECT_GT(a.stats().of(SyncRejection::Forged), 0u);
    EXPECT_GT(a.stats().of(SyncRejection::Unauthenticated), 0u);
    // B goes silent: once nothing fails for peer_down_after either, it is down.
    const auto silent = [](std::size_t from, std::size_t, std::span<const std::byte>) { return from != 1; };
    tier.run_for(1s, 20ms, silent);
    EXPECT_EQ(a.peer_status(0).state, PeerState::AuthFailing);
    tier.run_for(3s, 20ms, silent);
    EXPECT_EQ(a.peer_status(0).state, PeerState::Down);
    // The keys agree again: up.
    tier.run_for(1s, 20ms);
    EXPECT_EQ(a.peer_status(0).state, PeerState::Up);

    // Forged datagrams from the address of a peer that is up do not make it look failing.
    const std::uint64_t before = a.peer_status(0).auth_failures;
    const auto forged_too = [&](std::size_t from, std::size_t, std::span<const std::byte> bytes) {
        if (from != 1) return true;
        std::vector<std::byte> copy(bytes.begin(), bytes.end());
        copy.back() ^= std::byte{1};
        a.on_datagram(0, copy, tier.now, tier.nodes[0]->counters);
        return true;
    };
    tier.run_for(4s, 20ms, forged_too);
    EXPECT_EQ(a.peer_status(0).state, PeerState::Up);
    EXPECT_GT(a.peer_status(0).auth_failures, before);
}

// A peer never heard with a valid MAC: failing from its first datagram.
TEST(SyncEngine, APeerNeverAuthenticatedIsAuthenticationFailingAtOnce) {
    Tier tier(2);
    SyncEngine& a = tier.engine(0);
    EXPECT_EQ(a.peer_status(0).state, PeerState::Unknown);
    const auto rekeyed = [&](std::size_t from, std::size_t, std::span<const std::byte> bytes) {
        if (from != 1) return true;
        std::vector<std::byte> copy(bytes.begin(), bytes.end());
        copy[8] ^= std::byte{0x5a};  // a key id A does not have
        a.on_datagram(0, copy, tier.now, tier.nodes[0]->counters);
        return false;
    };
    tier.run_for(10ms, 5ms, rekeyed);
    EXPECT_EQ(a.peer_status(0).state, PeerState::AuthFailing);
    EXPECT_EQ(a.stats().of(SyncRejection::Forged), 0u);
    EXPECT_GT(a.stats().of(SyncRejection::Unauthenticated), 0u);
}

}  // namespace
