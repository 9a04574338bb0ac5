// The shared-memory segment: creation, refusal of foreign layouts, mode,
// Maglev publication, and lock recovery after a holder dies.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/clock.hpp"
#include "io/shared_state.hpp"
#include "io/target_control.hpp"

namespace sctplb {
namespace {

constexpr std::uint32_t kSmallM = 97;

SharedState::CreateOptions small_options() {
    SharedState::CreateOptions options;
    options.maglev_m = kSmallM;
    options.max_targets = 8;
    options.table_limits.capacity = 1024;
    return options;
}

IpAddress v4(std::uint32_t last_octet) { return IpAddress::v4(0xc0000200u | last_octet); }  // 192.0.2.x

class SharedStateTest : public ::testing::Test {
protected:
    void SetUp() override {
        static int counter = 0;
        name_ = "sctplb-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    }
    void TearDown() override {
        std::string ignored;
        SharedState::remove(name_, ignored);
    }

    SharedState create(const SharedState::CreateOptions& options = small_options()) {
        std::string error;
        auto state = SharedState::create(name_, options, error);
        EXPECT_TRUE(state.has_value()) << error;
        return std::move(*state);
    }

    // Rewrites bytes of the segment behind SharedState's back.
    void patch(std::size_t offset, const void* bytes, std::size_t size) {
        const int fd = shm_open(("/" + name_).c_str(), O_RDWR, 0);
        ASSERT_GE(fd, 0);
        void* map = mmap(nullptr, offset + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_NE(map, MAP_FAILED);
        std::memcpy(static_cast<std::byte*>(map) + offset, bytes, size);
        munmap(map, offset + size);
        close(fd);
    }

    std::string name_;
};

TEST_F(SharedStateTest, CreateOpenRemove) {
    {
        SharedState created = create();
        const SharedHeader& h = created.header();
        EXPECT_EQ(h.magic, kSharedMagic);
        EXPECT_EQ(h.layout_version, kSharedLayoutVersion);
        EXPECT_EQ(h.header_size, sizeof(SharedHeader));
        EXPECT_EQ(h.maglev_m, kSmallM);
        EXPECT_EQ(h.max_targets, 8u);
        EXPECT_EQ(h.table_offset % 64, 0u);
        EXPECT_EQ(created.table().capacity(), 1024u);
        EXPECT_EQ(std::string(h.config_digest).size(), 16u);
        for (std::uint32_t which = 0; which < 2; ++which)
            for (const std::uint32_t slot : created.maglev_buffer(which)) ASSERT_EQ(slot, kNoTarget);
    }
    std::string error;
    auto opened = SharedState::open(name_, error);
    ASSERT_TRUE(opened.has_value()) << error;
    EXPECT_EQ(opened->header().maglev_m, kSmallM);
    EXPECT_EQ(opened->table().capacity(), 1024u);

    EXPECT_FALSE(SharedState::create(name_, small_options(), error).has_value());
    EXPECT_EQ(error, "shared memory '" + name_ + "' exists; sctplb delete --shm=" + name_ + " first");

    EXPECT_TRUE(SharedState::remove(name_, error)) << error;
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
    EXPECT_FALSE(SharedState::remove(name_, error));
}

TEST_F(SharedStateTest, CreateRejectsBadGeometry) {
    struct Case {
        const char* what;
        std::uint32_t m;
        std::uint32_t n;
        const char* message;
    };
    const Case cases[] = {
        {"M not prime", 100, 8, "not a prime"},
        {"M above the maximum", 1'000'033, 8, "not a prime"},
        {"N zero", 97, 0, "not in 1..256"},
        {"N above kMaxTargetSlots", 1009, kMaxTargetSlots + 1, "not in 1..256"},
        {"M smaller than N", 7, 8, "smaller than N"},
    };
    for (const Case& c : cases) {
        SharedState::CreateOptions options = small_options();
        options.maglev_m = c.m;
        options.max_targets = c.n;
        std::string error;
        EXPECT_FALSE(SharedState::create(name_, options, error).has_value()) << c.what;
        EXPECT_NE(error.find(c.message), std::string::npos) << c.what << ": " << error;
        EXPECT_FALSE(SharedState::open(name_, error).has_value()) << c.what << ": nothing may be left behind";
    }
    std::string error;
    EXPECT_FALSE(SharedState::create("a/b", small_options(), error).has_value());
    EXPECT_FALSE(SharedState::create("", small_options(), error).has_value());
}

TEST_F(SharedStateTest, SegmentIsOwnerOnlyWhateverTheUmask) {
    const mode_t old_umask = umask(0);
    SharedState state = create();
    umask(old_umask);
    struct stat info {};
    ASSERT_EQ(stat(("/dev/shm/" + name_).c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(SharedStateTest, OneDataPathPerSegment) {
    SharedState state = create();
    std::string error;
    // A child of this program stands in for a running `sctplb lb`.
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string child_error;
        const char byte = state.claim_data_path(child_error) ? 'y' : 'n';
        (void)!write(ready[1], &byte, 1);
        pause();
        _exit(0);
    }
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
    ASSERT_EQ(byte, 'y');
    EXPECT_FALSE(state.claim_data_path(error));
    EXPECT_NE(error.find("already runs on this shared memory"), std::string::npos) << error;
    EXPECT_TRUE(data_path_alive(child));
    // Killed with -9 and not yet reaped (a zombie): dead, its claim taken over.
    kill(child, SIGKILL);
    siginfo_t info{};
    ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
    EXPECT_FALSE(data_path_alive(child));
    EXPECT_TRUE(state.claim_data_path(error)) << error;
    EXPECT_EQ(state.header().daemon_pid.load(), getpid());
    waitpid(child, nullptr, 0);
    // Released only by its holder.
    state.header().daemon_pid.store(child);
    state.release_data_path();
    EXPECT_EQ(state.header().daemon_pid.load(), child);
    state.header().daemon_pid.store(getpid());
    state.release_data_path();
    EXPECT_EQ(state.header().daemon_pid.load(), 0);
    close(ready[0]);
    close(ready[1]);
}

TEST_F(SharedStateTest, SegmentOpenToOthersIsRefused) {
    { SharedState state = create(); }
    ASSERT_EQ(chmod(("/dev/shm/" + name_).c_str(), 0640), 0);
    std::string error;
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_NE(error.find("open to group or others (mode 0640"), std::string::npos) << error;
}

TEST_F(SharedStateTest, OtherLayoutVersionIsRefusedWithTheExportHint) {
    { SharedState state = create(); }
    const std::uint32_t bumped = kSharedLayoutVersion + 1;
    patch(offsetof(SharedHeader, layout_version), &bumped, sizeof bumped);
    std::string error;
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_EQ(error, "shared memory '" + name_ + "' has layout version " + std::to_string(bumped) +
                         ", this sctplb expects " + std::to_string(kSharedLayoutVersion) +
                         ": export the associations with the old sctplb (sctplb assoc --export FILE), then "
                         "delete, init, activate the targets again and import (sctplb assoc --import FILE)");
}

TEST_F(SharedStateTest, ForeignOrDamagedSegmentsAreRefused) {
    struct Case {
        const char* what;
        std::size_t offset;
        std::uint64_t value;
        std::size_t size;
        const char* message;
    };
    const Case cases[] = {
        {"bad magic", offsetof(SharedHeader, magic), 0x1234, 8, "not an sctplb segment"},
        {"other header size", offsetof(SharedHeader, header_size), sizeof(SharedHeader) + 64, 4, "-byte header"},
        {"segment size mismatch", offsetof(SharedHeader, segment_size), 1u << 30, 8, "damaged or truncated"},
        {"table beyond the segment", offsetof(SharedHeader, table_size), 1u << 30, 8, "damaged or truncated"},
    };
    for (const Case& c : cases) {
        std::string error;
        SharedState::remove(name_, error);
        { SharedState state = create(); }
        patch(c.offset, &c.value, c.size);
        EXPECT_FALSE(SharedState::open(name_, error).has_value()) << c.what;
        EXPECT_NE(error.find(c.message), std::string::npos) << c.what << ": " << error;
        EXPECT_EQ(error.find('\n'), std::string::npos) << "one line";
    }
}

TEST_F(SharedStateTest, DamagedAssociationTableHeaderIsRefusedWithAFreshStartHint) {
    std::size_t table_offset = 0;
    {
        SharedState state = create();
        table_offset = state.header().table_offset;
    }
    const std::uint32_t zero = 0;
    patch(table_offset + offsetof(AssociationTable::Header, capacity), &zero, sizeof zero);
    std::string error;
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_EQ(error, "shared memory '" + name_ +
                         "': damaged association table: capacity is 0 or above the limit of 2^26: delete and init it");

    SharedState::remove(name_, error);
    { SharedState state = create(); }
    const std::uint32_t other_layout = AssociationTable::kLayoutVersion + 1;
    patch(table_offset + offsetof(AssociationTable::Header, layout_version), &other_layout, sizeof other_layout);
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_NE(error.find("layout version differs from this build: export the associations"), std::string::npos)
        << error;
}

TEST_F(SharedStateTest, TruncatedSegmentIsRefused) {
    { SharedState state = create(); }
    const int fd = shm_open(("/" + name_).c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 4096), 0);
    close(fd);
    std::string error;
    EXPECT_FALSE(SharedState::open(name_, error).has_value());
    EXPECT_NE(error.find("damaged or truncated"), std::string::npos) << error;
}

// Sets the targets as `activate`/`deactivate` would, in the given slot order.
void set_targets(SharedState& state, const std::vector<std::pair<std::uint32_t, TargetState>>& targets) {
    const ConfigLock lock(state);
    TargetSnapshot slots{};
    for (std::size_t i = 0; i < targets.size(); ++i) slots[i] = TargetSlot{targets[i].first, targets[i].second};
    write_targets(state.header(), slots);
    std::string error;
    ASSERT_TRUE(state.publish_targets(error)) << error;
}

TEST_F(SharedStateTest, PublishFlipsTheBufferAndBumpsTheGeneration) {
    SharedState state = create();
    SharedHeader& h = state.header();
    const std::uint32_t before_active = h.maglev_active.load();
    const std::uint64_t before_generation = h.config_generation.load();
    const std::string empty_digest = h.config_digest;

    set_targets(state, {{10, TargetState::Active}, {20, TargetState::Active}, {30, TargetState::Draining}});
    EXPECT_NE(h.maglev_active.load(), before_active);
    EXPECT_EQ(h.config_generation.load(), before_generation + 1);
    EXPECT_NE(std::string(h.config_digest), empty_digest);

    std::map<std::uint32_t, int> share;
    for (const std::uint32_t fwmark : state.active_maglev()) ++share[fwmark];
    ASSERT_EQ(share.size(), 2u) << "draining targets get no slots";
    EXPECT_LE(std::abs(share[10] - share[20]), 1) << "Maglev shares differ by at most one";
    EXPECT_EQ(share[10] + share[20], static_cast<int>(kSmallM));

    // The buffer the data path no longer reads still holds the previous table.
    for (const std::uint32_t slot : state.maglev_buffer(before_active)) ASSERT_EQ(slot, kNoTarget);

    set_targets(state, {});
    EXPECT_EQ(h.maglev_active.load(), before_active);
    EXPECT_EQ(h.config_generation.load(), before_generation + 2);
    EXPECT_EQ(std::string(h.config_digest), empty_digest);
    for (const std::uint32_t slot : state.active_maglev()) ASSERT_EQ(slot, kNoTarget);
}

// The health checker's part: its entries read back by fwmark, its pid claimed
// once per segment; change_target_state (what health and `down` run) refuses
// to override a state its caller did not expect and forgets a down target's
// associations.
TEST_F(SharedStateTest, HealthEntriesAndTargetChanges) {
    SharedState state = create();
    SharedHeader& h = state.header();
    EXPECT_TRUE(read_health(h).entries.empty());
    h.health.entries[0].fwmark.store(20);
    h.health.entries[0].state.store(HealthState::Down);
    h.health.entries[0].last_result.store(ProbeResult::Timeout);
    h.health.entries[0].went_down.store(1);
    h.health.entry_count.store(1, std::memory_order_release);
    std::string error;
    ASSERT_TRUE(state.claim_health(error)) << error;
    const HealthReport report = read_health(h);
    EXPECT_EQ(report.pid, getpid());
    ASSERT_EQ(report.entries.size(), 1u);
    EXPECT_EQ(report.entries[0].fwmark, 20u);
    EXPECT_EQ(report.entries[0].state, HealthState::Down);
    EXPECT_EQ(report.entries[0].last_result, ProbeResult::Timeout);
    EXPECT_EQ(report.entries[0].went_down, 1u);
    state.release_health();
    EXPECT_EQ(read_health(h).pid, 0);

    set_targets(state, {{10, TargetState::Active}, {20, TargetState::Active}});
    const std::array<std::uint32_t, 1> twenty{20};
    const auto only_active = [](TargetState t) { return t == TargetState::Active; };
    auto change = change_target_state(state, twenty, TargetState::Down, 1024, only_active, error);
    ASSERT_TRUE(change) << error;
    EXPECT_EQ(std::string(h.config_digest), change->digest);
    for (const std::uint32_t fwmark : state.active_maglev()) ASSERT_EQ(fwmark, 10u);
    // Down already: the health checker's "only if active" refuses, with no error.
    EXPECT_FALSE(change_target_state(state, twenty, TargetState::Draining, 1024, only_active, error));
    EXPECT_TRUE(error.empty()) << error;
    const std::array<std::uint32_t, 1> unknown{99};
    EXPECT_FALSE(change_target_state(state, unknown, TargetState::Down, 1024, {}, error));
    EXPECT_NE(error.find("not a target"), std::string::npos) << error;
}

TEST_F(SharedStateTest, ActivationOrderDoesNotMatter) {
    SharedState state = create();
    set_targets(state, {{1, TargetState::Active}, {2, TargetState::Active}, {3, TargetState::Active}});
    const std::string digest_123 = state.header().config_digest;
    const auto active = state.active_maglev();
    const std::vector<std::uint32_t> table_123(active.begin(), active.end());

    set_targets(state, {{3, TargetState::Active}, {1, TargetState::Active}, {2, TargetState::Active}});
    EXPECT_EQ(std::string(state.header().config_digest), digest_123);
    const auto again = state.active_maglev();
    EXPECT_EQ(std::vector<std::uint32_t>(again.begin(), again.end()), table_123);

    set_targets(state, {{1, TargetState::Active}, {2, TargetState::Active}});
    EXPECT_NE(std::string(state.header().config_digest), digest_123);
}

TEST_F(SharedStateTest, TwoMappingsShareOneTable) {
    SharedState writer = create();
    std::string error;
    auto reader = SharedState::open(name_, error);
    ASSERT_TRUE(reader.has_value()) << error;
    const Nanos now = monotonic_now();
    const IpAddress address = v4(1);
    {
        const TableLock lock(writer);
        ASSERT_NE(writer.table().insert_established(address, 5000, 36412, 0xabcdef01, 7, now), kNoAssociation);
    }
    const TableLock lock(*reader);
    const AssociationId id = reader->table().find_by_ts(address, 5000, 36412, 0xabcdef01, now).id;
    ASSERT_NE(id, kNoAssociation);
    EXPECT_EQ(reader->table().at(id).fwmark, 7u);
}

TEST_F(SharedStateTest, MovedStateKeepsTheMapping) {
    SharedState first = create();
    SharedState second = std::move(first);
    EXPECT_EQ(second.header().maglev_m, kSmallM);
    std::string error;
    auto third = SharedState::open(name_, error);  // a second mapping, replaced by the move
    ASSERT_TRUE(third.has_value()) << error;
    *third = std::move(second);
    EXPECT_EQ(third->header().maglev_m, kSmallM);
    EXPECT_EQ(third->table().capacity(), 1024u);
}

// A process that dies holding the table lock (kill -9 of the daemon at any
// instant) must not block the next holder, and the table must still work.
TEST_F(SharedStateTest, TableLockRecoversFromADeadHolder) {
    SharedState state = create();
    const Nanos now = monotonic_now();
    {
        const TableLock lock(state);
        EXPECT_FALSE(lock.recovered());
        ASSERT_NE(state.table().insert_established(v4(1), 5000, 36412, 0x11111111, 1, now), kNoAssociation);
    }
    alarm(30);  // a broken recovery would hang, not fail
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string error;
        auto mine = SharedState::open(name_, error);
        if (!mine) _exit(2);
        auto* lock = new TableLock(*mine);  // never released: the process dies holding it
        const Nanos later = monotonic_now();
        const bool inserted = mine->table().insert_established(v4(2), 5001, 36412, 0x22222222, 2, later) != kNoAssociation;
        (void)lock;
        _exit(inserted ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);

    {
        const TableLock lock(state);
        EXPECT_TRUE(lock.recovered());
        EXPECT_EQ(state.table().size(), 2u);
        EXPECT_NE(state.table().find_by_ts(v4(1), 5000, 36412, 0x11111111, now).id, kNoAssociation);
        EXPECT_NE(state.table().find_by_ts(v4(2), 5001, 36412, 0x22222222, now).id, kNoAssociation);
    }
    {
        const TableLock lock(state);
        EXPECT_FALSE(lock.recovered()) << "made consistent: recovery happens once";
    }
    alarm(0);
}

TEST_F(SharedStateTest, ConfigLockRecoversFromADeadHolder) {
    SharedState state = create();
    alarm(30);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string error;
        auto mine = SharedState::open(name_, error);
        if (!mine) _exit(2);
        new ConfigLock(*mine);  // leaked on purpose: dies holding it
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    set_targets(state, {{5, TargetState::Active}});
    for (const std::uint32_t slot : state.active_maglev()) ASSERT_EQ(slot, 5u);
    alarm(0);
}

// Readers without the config lock (the data path, the fast-path thread,
// `stats`) against a writer that rewrites every slot: each read must be one
// of the written arrays, never a mix (a mix could make the fast path remove
// the kernel elements of a target that is still active).
TEST_F(SharedStateTest, TargetReadersSeeOnlyWholeWrites) {
    SharedState state = create();
    SharedHeader& h = state.header();
    // Version k: every slot k * 1000 + slot, all Active (k odd) or all Draining (k even), weight k.
    const auto version = [](std::uint32_t k) {
        TargetSnapshot targets{};
        for (std::uint32_t i = 0; i < kMaxTargetSlots; ++i)
            targets[i] = TargetSlot{k * 1000 + i, k % 2 ? TargetState::Active : TargetState::Draining, k};
        return targets;
    };
    {
        const ConfigLock lock(state);
        write_targets(h, version(1));
    }
    std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> versions_written{1};
    std::thread writer([&] {
        for (std::uint32_t k = 2; !stop.load(std::memory_order_relaxed); k = k % 8 + 1) {
            const ConfigLock lock(state);
            write_targets(h, version(k));
            versions_written.fetch_add(1, std::memory_order_relaxed);
        }
    });
    std::uint64_t reads = 0, mixed = 0;
    std::set<std::uint32_t> seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    // Until every version was seen and the writer wrote plenty: the same
    // question on an idle and on a loaded machine, only the time differs.
    while ((seen.size() < 8 || reads < 20000 || versions_written.load() < 20000) &&
           std::chrono::steady_clock::now() < deadline) {
        const TargetSnapshot got = read_targets(h);
        ++reads;
        const std::uint32_t k = got[0].fwmark / 1000;
        if (k < 1 || k > 8 || got != version(k)) {
            ++mixed;
            continue;
        }
        seen.insert(k);
    }
    stop = true;
    writer.join();
    EXPECT_EQ(mixed, 0u) << "of " << reads << " reads";
    EXPECT_EQ(seen.size(), 8u) << "every version was read whole at least once (" << reads << " reads)";
}

TEST_F(SharedStateTest, TraceReadersSeeOnlyWholeWrites) {
    SharedState state = create();
    SharedHeader& h = state.header();
    // Different address families and ports: a mix of the two is not either.
    const TraceSettings a{.enabled = true, .port = 36412, .address = *IpAddress::parse("192.0.2.7")};
    const TraceSettings b{.enabled = true, .port = 3868, .address = *IpAddress::parse("2001:db8::9")};
    const TraceSettings off{};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> writes{0};
    std::thread writer([&] {
        for (bool which = false; !stop.load(std::memory_order_relaxed); which = !which) {
            const ConfigLock lock(state);
            write_trace(h.trace, which ? b : a);
            writes.fetch_add(1, std::memory_order_relaxed);
        }
    });
    std::uint64_t reads = 0, mixed = 0, saw_a = 0, saw_b = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((saw_a == 0 || saw_b == 0 || reads < 20000 || writes.load() < 20000) &&
           std::chrono::steady_clock::now() < deadline) {
        const TraceSettings got = read_trace(h.trace);
        ++reads;
        if (got == a)
            ++saw_a;
        else if (got == b)
            ++saw_b;
        else if (got != off)  // off: before the first write, or no consistent read within its tries
            ++mixed;
    }
    stop = true;
    writer.join();
    EXPECT_EQ(mixed, 0u) << "of " << reads << " reads";
    EXPECT_GT(saw_a, 0u);
    EXPECT_GT(saw_b, 0u);
}

// A writer killed between "odd" and "even" must not leave readers spinning:
// the reader takes the abandoned lock, closes the sequences and reads.
TEST_F(SharedStateTest, ReadersSurviveAWriterThatDiedMidWrite) {
    SharedState state = create();
    TargetSnapshot before{};
    before[0] = TargetSlot{7, TargetState::Active};
    {
        const ConfigLock lock(state);
        write_targets(state.header(), before);
        write_trace(state.header().trace, TraceSettings{.enabled = true, .port = 9, .address = std::nullopt});
    }
    alarm(30);  // a reader spinning for ever would hang, not fail
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::string error;
        auto mine = SharedState::open(name_, error);
        if (!mine) _exit(2);
        new ConfigLock(*mine);  // leaked on purpose: dies holding it
        // As a writer does first: odd sequences. Then it dies.
        mine->header().targets.sequence.fetch_add(1);
        mine->header().trace.sequence.fetch_add(1);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(read_trace(state.header().trace), TraceSettings{}) << "no consistent read: tracing off, no wait";
    EXPECT_EQ(read_targets(state.header()), before);
    EXPECT_EQ(read_trace(state.header().trace), (TraceSettings{.enabled = true, .port = 9, .address = std::nullopt}))
        << "the target reader closed the trace sequence too";
    EXPECT_EQ(state.header().targets.sequence.load() % 2, 0u);
    set_targets(state, {{5, TargetState::Active}});  // the lock is usable again
    EXPECT_EQ(read_targets(state.header())[0], (TargetSlot{5, TargetState::Active}));
    alarm(0);
}


// One --shm rule for every command: what `init` accepts, `rules` can tag and
// every other command can open; each refuses with the same one line.
TEST(SharedMemoryName, OneRuleAndOneErrorForEveryCommand) {
    std::string error;
    for (const std::string& good : std::vector<std::string>{"sctplb", "a", "lb-1.blue_2", "x.", std::string(64, 'n')})
        EXPECT_TRUE(valid_shared_memory_name(good, error)) << good << ": " << error;
    for (const std::string& bad : std::vector<std::string>{"", ".hidden", ".", "..", "a/b", "a b", "a:b", "a'b", "caf\xc3\xa9",
                                  std::string(65, 'n')}) {
        SCOPED_TRACE(bad);
        error.clear();
        EXPECT_FALSE(valid_shared_memory_name(bad, error));
        std::string expected = "--shm '";
        expected += bad;
        expected += "': a shared memory name is 1..64 of A-Z a-z 0-9 _ - . and does not start with '.'";
        EXPECT_EQ(error, expected);
        std::string create_error;
        EXPECT_FALSE(SharedState::create(bad, small_options(), create_error).has_value());
        EXPECT_EQ(create_error, expected);
        std::string open_error;
        EXPECT_FALSE(SharedState::open(bad, open_error).has_value());
        EXPECT_EQ(open_error, expected);
    }
    // The commands as a user runs them: the same line from each (init used to take
    // ".hidden" and "a:b", which rules then refused).
    const std::vector<std::string> commands = {
        "init", "stats", "show", "delete", "lb", "rules --vip 10.0.0.1 --target 1=192.0.2.1"};
    for (const char* bad : {".hidden", "a:b"}) {
        for (const std::string& command : commands) {
            SCOPED_TRACE(command + " " + bad);
            std::string line = SCTPLB_BINARY;
            line += ' ';
            line += command;
            line += " --shm '";
            line += bad;
            line += "' 2>&1 >/dev/null";
            FILE* pipe = popen(line.c_str(), "r");
            ASSERT_NE(pipe, nullptr);
            std::string output;
            char buffer[512];
            while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
            const int status = pclose(pipe);
            EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
            std::string expected = "sctplb ";
            expected += command.substr(0, command.find(' '));
            expected += ": --shm '";
            expected += bad;
            expected += "': a shared memory name is 1..64 of A-Z a-z 0-9 _ - . and does not start with '.'\n";
            EXPECT_EQ(output, expected);
        }
    }
}

}  // namespace
}  // namespace sctplb
