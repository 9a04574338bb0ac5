#include "io/shared_state.hpp"
#include "io/file_descriptor.hpp"
#include "io/log.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <thread>
#include <utility>
#include <vector>

#include "core/config_digest.hpp"

namespace sctplb {

namespace {

constexpr std::size_t kPageSize = 4096;

constexpr std::size_t round_up(std::size_t value, std::size_t to) { return (value + to - 1) / to * to; }

// The fields every layout version keeps at the same offsets, so that any
// sctplb can tell "not ours" from "ours, but another version".
struct StableIdentity {
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t header_size;
};
static_assert(offsetof(SharedHeader, magic) == offsetof(StableIdentity, magic));
static_assert(offsetof(SharedHeader, layout_version) == offsetof(StableIdentity, layout_version));
static_assert(offsetof(SharedHeader, header_size) == offsetof(StableIdentity, header_size));

std::string posix_name(const std::string& name) { return "/" + name; }

std::string errno_text(int error_number) { return std::strerror(error_number); }

// Robust: a holder that dies leaves EOWNERDEAD instead of a lock held forever.
// Process-shared: the CLI and the daemon are different processes.
bool init_shared_mutex(pthread_mutex_t& mutex, std::string& error) {
    pthread_mutexattr_t attributes;
    int rc = pthread_mutexattr_init(&attributes);
    if (rc == 0) rc = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = pthread_mutex_init(&mutex, &attributes);
    pthread_mutexattr_destroy(&attributes);
    if (rc != 0) error = "cannot initialise a process-shared robust mutex: " + errno_text(rc);
    return rc == 0;
}

// Returns true when the previous holder died holding the mutex (EOWNERDEAD);
// the caller repairs what it guards, then we mark it consistent.
bool lock_robust(pthread_mutex_t& mutex, const char* what) {
    const int rc = pthread_mutex_lock(&mutex);
    if (rc == 0) return false;
    if (rc == EOWNERDEAD) return true;
    // ENOTRECOVERABLE: someone unlocked after EOWNERDEAD without repairing.
    // Nothing can use this segment safely any more.
    std::fprintf(stderr, "sctplb: the shared %s lock is unusable (%s): export, delete and init the segment\n",
                 what, std::strerror(rc));
    std::abort();
}

struct Mapping {
    void* address = MAP_FAILED;
    std::size_t size = 0;
};

Mapping map_segment(int fd, std::size_t size, std::string& error) {
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) {
        error = "mmap: " + errno_text(errno);
        return {};
    }
    // Fewer TLB misses on a big table; refused quietly where shmem THP is off.
    (void)::madvise(address, size, MADV_HUGEPAGE);
    return {address, size};
}

// The two halves of the seqlock protocol (shared_state.hpp). A sequence left
// odd by a dead writer is rounded up, so a new write is never taken for a
// finished one.
template <typename WriteFields>
void seqlock_write(std::atomic<std::uint64_t>& sequence, WriteFields&& write_fields) {
    const std::uint64_t even = (sequence.load(std::memory_order_relaxed) + 1) & ~std::uint64_t{1};
    sequence.store(even + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // the odd value is seen before any field
    write_fields();
    sequence.store(even + 2, std::memory_order_release);
}

// False when a write was under way or overlapped: what read_fields read is
// then to be thrown away.
template <typename ReadFields>
bool seqlock_try_read(const std::atomic<std::uint64_t>& sequence, ReadFields&& read_fields) {
    const std::uint64_t before = sequence.load(std::memory_order_acquire);
    if (before & 1) return false;
    read_fields();
    std::atomic_thread_fence(std::memory_order_acquire);  // the fields are read before the second look
    return sequence.load(std::memory_order_relaxed) == before;
}

// After a writer died between odd and even (caller holds the mutex).
void seqlock_repair(std::atomic<std::uint64_t>& sequence) {
    const std::uint64_t value = sequence.load(std::memory_order_relaxed);
    if (value & 1) sequence.store(value + 1, std::memory_order_release);
}

std::string layout_hint(const std::string& name, std::uint32_t found) {
    return "shared memory '" + name + "' has layout version " + std::to_string(found) +
           ", this sctplb expects " + std::to_string(kSharedLayoutVersion) +
           ": export the associations with the old sctplb (sctplb assoc --export FILE), then "
           "delete, init, activate the targets again and import (sctplb assoc --import FILE)";
}

}  // namespace

bool valid_shared_memory_name(std::string_view name, std::string& error) {
    const bool valid = !name.empty() && name.size() <= kMaxSharedMemoryName && name.front() != '.' &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                  c == '_' || c == '-' || c == '.';
                       });
    if (!valid) {
        // Piece by piece: gcc 12 -O3 reports a false -Wrestrict for "literal" + std::string.
        error = "--shm '";
        error += name;
        error += "': a shared memory name is 1..";
        error += std::to_string(kMaxSharedMemoryName);
        error += " of A-Z a-z 0-9 _ - . and does not start with '.'";
    }
    return valid;
}

static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free &&
                  std::atomic<std::uint16_t>::is_always_lock_free && std::atomic<std::uint8_t>::is_always_lock_free &&
                  std::atomic<TargetState>::is_always_lock_free,
              "shared memory is read by other processes: its atomics must be lock-free");

namespace {

// What a writer that died holding config_mutex may have left (caller now holds it).
void repair_config_seqlocks(SharedHeader& header) {
    seqlock_repair(header.targets.sequence);
    seqlock_repair(header.trace.sequence);
}

}  // namespace

void write_targets(SharedHeader& header, const TargetSnapshot& targets) {
    seqlock_write(header.targets.sequence, [&] {
        for (std::size_t i = 0; i < kMaxTargetSlots; ++i) {
            header.targets.slots[i].fwmark.store(targets[i].fwmark, std::memory_order_relaxed);
            header.targets.slots[i].state.store(targets[i].state, std::memory_order_relaxed);
            header.targets.slots[i].weight.store(targets[i].weight, std::memory_order_relaxed);
        }
    });
}

TargetSnapshot read_targets(SharedHeader& header) {
    TargetSnapshot snapshot{};
    const auto copy_slots = [&] {
        for (std::size_t i = 0; i < kMaxTargetSlots; ++i)
            snapshot[i] = TargetSlot{header.targets.slots[i].fwmark.load(std::memory_order_relaxed),
                                     header.targets.slots[i].state.load(std::memory_order_relaxed),
                                     header.targets.slots[i].weight.load(std::memory_order_relaxed)};
    };
    // A write is ~500 stores: a running writer finishes within a few tries.
    constexpr int kSpinsBeforeTheLock = 64;
    for (int attempt = 0;; ++attempt) {
        if (seqlock_try_read(header.targets.sequence, copy_slots)) return snapshot;
        if (attempt < kSpinsBeforeTheLock) continue;
        // The writer was preempted, or died between odd and even. Only try the
        // lock: a live writer may be waiting for the table lock we hold.
        const int rc = pthread_mutex_trylock(&header.config_mutex);
        if (rc == 0 || rc == EOWNERDEAD) {
            repair_config_seqlocks(header);  // we hold the lock: an odd sequence is a dead writer's
            if (rc == EOWNERDEAD) pthread_mutex_consistent(&header.config_mutex);
            copy_slots();  // no writer while we hold the lock
            pthread_mutex_unlock(&header.config_mutex);
            return snapshot;
        }
        std::this_thread::yield();  // EBUSY: a live writer, let it run
    }
}

void write_trace(TraceFilter& trace, const TraceSettings& settings) {
    std::array<std::uint64_t, 2> words{};
    if (settings.address) std::memcpy(words.data(), settings.address->bytes().data(), sizeof words);
    seqlock_write(trace.sequence, [&] {
        trace.enabled.store(settings.enabled ? 1 : 0, std::memory_order_relaxed);
        trace.port.store(settings.port, std::memory_order_relaxed);
        trace.has_address.store(settings.address ? 1 : 0, std::memory_order_relaxed);
        trace.address[0].store(words[0], std::memory_order_relaxed);
        trace.address[1].store(words[1], std::memory_order_relaxed);
    });
}

TraceSettings read_trace(const TraceFilter& trace) {
    // A write takes a few stores: a handful of tries covers a writer that was
    // preempted briefly; more would only stall the packets being traced.
    constexpr int kTries = 64;
    for (int attempt = 0; attempt < kTries; ++attempt) {
        std::uint32_t enabled = 0;
        std::uint16_t port = 0;
        std::uint8_t has_address = 0;
        std::array<std::uint64_t, 2> words{};
        const bool consistent = seqlock_try_read(trace.sequence, [&] {
            enabled = trace.enabled.load(std::memory_order_relaxed);
            port = trace.port.load(std::memory_order_relaxed);
            has_address = trace.has_address.load(std::memory_order_relaxed);
            words[0] = trace.address[0].load(std::memory_order_relaxed);
            words[1] = trace.address[1].load(std::memory_order_relaxed);
        });
        if (!consistent) continue;
        TraceSettings settings{.enabled = enabled != 0, .port = port, .address = std::nullopt};
        if (has_address != 0) {
            std::array<std::uint8_t, 16> bytes{};
            std::memcpy(bytes.data(), words.data(), sizeof bytes);
            settings.address = IpAddress::v6(bytes);
        }
        return settings;
    }
    return TraceSettings{};
}

namespace {
// Where the table starts: after the header and both Maglev buffers of M fwmarks.
std::size_t maglev_table_offset(std::uint32_t maglev_m) {
    const std::size_t maglev_offset = round_up(sizeof(SharedHeader), 64);
    const std::size_t maglev_bytes = 2 * std::size_t{maglev_m} * sizeof(std::uint32_t);
    return round_up(maglev_offset + maglev_bytes, kPageSize);
}
}  // namespace

std::size_t SharedState::segment_size(const CreateOptions& options) {
    return round_up(maglev_table_offset(options.maglev_m) + AssociationTable::bytes_needed(options.table_limits),
                    kPageSize);
}

std::uint64_t SharedState::memory_limit() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return std::numeric_limits<std::uint64_t>::max();  // unknown: no limit
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size) / 2;
}

std::optional<SharedState> SharedState::create(const std::string& name, const CreateOptions& options,
                                               std::string& error) {
    if (!valid_shared_memory_name(name, error)) return std::nullopt;
    if (options.maglev_m < 2 || options.maglev_m > kMaglevMaxM || !is_prime(options.maglev_m)) {
        error = "M " + std::to_string(options.maglev_m) + " is not a prime in 2.." + std::to_string(kMaglevMaxM);
        return std::nullopt;
    }
    if (options.max_targets < 1 || options.max_targets > kMaxTargetSlots) {
        error = "N " + std::to_string(options.max_targets) + " is not in 1.." + std::to_string(kMaxTargetSlots);
        return std::nullopt;
    }
    if (options.maglev_m < options.max_targets) {
        error = "M " + std::to_string(options.maglev_m) + " is smaller than N " +
                std::to_string(options.max_targets);
        return std::nullopt;
    }
    const std::size_t table_size = AssociationTable::bytes_needed(options.table_limits);
    const std::size_t maglev_offset = round_up(sizeof(SharedHeader), 64);
    const std::size_t table_offset = maglev_table_offset(options.maglev_m);
    const std::size_t segment_size = SharedState::segment_size(options);
    const std::uint64_t memory_limit = options.memory_limit != 0 ? options.memory_limit : SharedState::memory_limit();
    if (segment_size > memory_limit) {
        error = "shared memory '" + name + "' needs " + std::to_string(segment_size >> 20) + " MiB";
        error += " for --capacity " + std::to_string(options.table_limits.capacity);
        error += ", more than the " + std::to_string(memory_limit >> 20) + " MiB limit";
        error += options.memory_limit != 0 ? std::string() : std::string(" (half the physical memory)");
        error += ": choose a smaller --capacity";
        return std::nullopt;
    }

    const std::string path = posix_name(name);
    FileDescriptor fd(::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
        if (errno == EEXIST)
            error = "shared memory '" + name + "' exists; sctplb delete --shm=" + name + " first";
        else
            error = "shm_open " + path + ": " + errno_text(errno);
        return std::nullopt;
    }
    // From here on a failure must not leave a half-made segment behind.
    auto fail = [&](std::string message) -> std::optional<SharedState> {
        ::shm_unlink(path.c_str());
        error = std::move(message);
        return std::nullopt;
    };
    // The segment holds the hash secret: owner only, whatever the umask said.
    if (::fchmod(fd.get(), 0600) != 0) return fail("fchmod " + path + ": " + errno_text(errno));
    // posix_fallocate, not ftruncate: tmpfs then reserves every page now, so a
    // /dev/shm without room is a clear error here instead of a SIGBUS later,
    // when a page of the table is first touched (and a half-made segment).
    if (const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(segment_size)); rc != 0) {
        if (rc == ENOSPC) {
            struct statvfs room {};
            const bool known = ::statvfs("/dev/shm", &room) == 0;
            return fail("shared memory '" + name + "' needs " + std::to_string(segment_size >> 20) + " MiB" +
                        (known ? ", /dev/shm has " + std::to_string((room.f_bavail * room.f_frsize) >> 20) + " MiB free"
                               : std::string()) +
                        ": choose a smaller --capacity, or make room in /dev/shm");
        }
        return fail("posix_fallocate " + path + " to " + std::to_string(segment_size) + " bytes: " + errno_text(rc));
    }
    std::string map_error;
    const Mapping mapping = map_segment(fd.get(), segment_size, map_error);
    if (mapping.address == MAP_FAILED) return fail(path + ": " + map_error);

    SharedState state;
    state.size_ = mapping.size;
    auto* bytes = static_cast<std::byte*>(mapping.address);
    // Value-initialised: integers zero, atomics zero, KeyedHash built in.
    state.header_ = new (bytes) SharedHeader();
    SharedHeader& h = *state.header_;
    h.magic = kSharedMagic;
    h.layout_version = kSharedLayoutVersion;
    h.header_size = sizeof(SharedHeader);
    h.segment_size = segment_size;
    h.maglev_offset = maglev_offset;
    h.table_offset = table_offset;
    h.table_size = table_size;
    h.maglev_m = options.maglev_m;
    h.max_targets = options.max_targets;
    h.hash_mode = options.hash_mode;
    h.hash = options.hash;
    write_targets(h, TargetSnapshot{});
    h.log_level.store(kLogNotice);
    std::string lock_error;
    if (!init_shared_mutex(h.config_mutex, lock_error) || !init_shared_mutex(h.table_mutex, lock_error))
        return fail(lock_error);
    for (std::uint32_t which = 0; which < 2; ++which) {
        const auto buffer = state.maglev_buffer(which);
        std::fill(buffer.begin(), buffer.end(), kNoTarget);
    }
    state.table_ = AssociationTable::create(std::span(bytes + table_offset, table_size), options.table_limits,
                                            options.timeouts);
    if (!state.table_) return fail("invalid association table limits (capacity " +
                                   std::to_string(options.table_limits.capacity) + ")");
    const std::vector<std::uint32_t> none;
    const std::string digest = config_digest(h.maglev_m, h.hash, hash_mode_name(h.hash_mode), none);
    std::snprintf(h.config_digest, sizeof h.config_digest, "%s", digest.c_str());
    return state;
}

std::optional<SharedState> SharedState::open(const std::string& name, std::string& error) {
    if (!valid_shared_memory_name(name, error)) return std::nullopt;
    const std::string path = posix_name(name);
    FileDescriptor fd(::shm_open(path.c_str(), O_RDWR | O_CLOEXEC, 0));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            error = "shared memory '" + name + "' does not exist; run sctplb init --shm=" + name + " first";
        else
            error = "shm_open " + path + ": " + errno_text(errno);
        return std::nullopt;
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        error = "fstat " + path + ": " + errno_text(errno);
        return std::nullopt;
    }
    // Only a segment made by this user (or by root) is trusted: the name is
    // free for anyone to take in /dev/shm while it does not exist (at boot,
    // between delete and init), and whoever owns the segment decides where
    // the daemon sends traffic and reads the hash seed.
    if (!S_ISREG(info.st_mode)) {
        error = "shared memory '" + name + "' is not a regular file: delete it and init again";
        return std::nullopt;
    }
    if (info.st_uid != ::geteuid() && info.st_uid != 0) {
        error = "shared memory '" + name + "' belongs to uid " + std::to_string(info.st_uid) + ", not to " +
                (::geteuid() == 0 ? std::string("root") : "you (uid " + std::to_string(::geteuid()) + ") or root") +
                ": refused (another user made it); delete it (sctplb delete --shm=" + name + ") and init again";
        return std::nullopt;
    }
    if ((info.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        error = "shared memory '" + name + "' is open to group or others (mode " + mode +
                "; sctplb makes it 0600): refused; delete it and init again";
        return std::nullopt;
    }
    const auto file_size = static_cast<std::size_t>(info.st_size);
    if (file_size < sizeof(StableIdentity)) {
        error = "shared memory '" + name + "' is not an sctplb segment (" + std::to_string(file_size) + " bytes)";
        return std::nullopt;
    }
    std::string map_error;
    const Mapping mapping = map_segment(fd.get(), file_size, map_error);
    if (mapping.address == MAP_FAILED) {
        error = path + ": " + map_error;
        return std::nullopt;
    }
    SharedState state;  // unmaps on every early return below
    state.size_ = mapping.size;
    auto* bytes = static_cast<std::byte*>(mapping.address);
    state.header_ = reinterpret_cast<SharedHeader*>(bytes);

    // Read the stable identity first: nothing else is trusted until it matches.
    StableIdentity identity{};
    std::memcpy(&identity, bytes, sizeof identity);
    if (identity.magic != kSharedMagic) {
        error = "shared memory '" + name + "' is not an sctplb segment (bad magic)";
        return std::nullopt;
    }
    if (identity.layout_version != kSharedLayoutVersion) {
        error = layout_hint(name, identity.layout_version);
        return std::nullopt;
    }
    if (identity.header_size != sizeof(SharedHeader)) {
        error = "shared memory '" + name + "' has a " + std::to_string(identity.header_size) +
                "-byte header, this sctplb expects " + std::to_string(sizeof(SharedHeader)) +
                " (built differently): export the associations with the sctplb that created it "
                "(sctplb assoc --export FILE), then delete, init and import (sctplb assoc --import FILE)";
        return std::nullopt;
    }
    if (file_size < sizeof(SharedHeader)) {
        error = "shared memory '" + name + "' is damaged or truncated (" + std::to_string(file_size) +
                " bytes, less than its header): delete and init it";
        return std::nullopt;
    }
    const SharedHeader& h = *state.header_;
    const std::uint64_t maglev_end = h.maglev_offset + 2 * std::uint64_t{h.maglev_m} * sizeof(std::uint32_t);
    if (h.segment_size != file_size || h.maglev_m == 0 || h.maglev_offset < sizeof(SharedHeader) ||
        maglev_end > h.table_offset || h.table_offset % 64 != 0 || h.table_offset + h.table_size > file_size ||
        h.max_targets == 0 || h.max_targets > kMaxTargetSlots) {
        error = "shared memory '" + name + "' is damaged or truncated (header says " +
                std::to_string(h.segment_size) + " bytes, the segment has " + std::to_string(file_size) +
                "): delete and init it";
        return std::nullopt;
    }
    const char* why = nullptr;
    state.table_ = AssociationTable::attach(std::span(bytes + h.table_offset, h.table_size), &why);
    if (!state.table_) {
        const std::string reason = why ? why : "bad association table";
        // Another build's table can still be exported by that build; a damaged
        // one cannot be read by any: the only way on is a fresh segment.
        error = "shared memory '" + name + "': " + reason +
                (reason == AssociationTable::kOtherLayout
                     ? ": export the associations with the sctplb that created it (sctplb assoc --export FILE), "
                       "then delete, init and import (sctplb assoc --import FILE)"
                     : ": delete and init it");
        return std::nullopt;
    }
    return state;
}

namespace {

// A process as /proc/PID/stat shows it: its command name (comm: the
// executable's name, at most 15 characters) and state letter ('Z': a zombie,
// dead but not yet reaped by its parent). Empty name: unreadable.
struct ProcessView {
    std::string name;
    char state = '?';
};

ProcessView process_view(const char* stat_path) {
    FileDescriptor stat(::open(stat_path, O_RDONLY | O_CLOEXEC));
    if (stat.get() < 0) return {};
    char text[512] = {};
    const ssize_t got = ::read(stat.get(), text, sizeof text - 1);
    if (got <= 0) return {};
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the
    // last ')' ends it (proc(5)).
    const std::string_view line(text, static_cast<std::size_t>(got));
    const std::size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open || close + 2 >= line.size())
        return {};
    return {std::string(line.substr(open + 1, close - open - 1)), line[close + 2]};
}

}  // namespace

bool data_path_alive(std::int32_t pid) {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno != EPERM) return false;
    // A daemon killed with -9 may linger as a zombie until its parent reaps
    // it, and its pid may since belong to another program: only a live
    // process of the same program as ours (sctplb) counts.
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    const ProcessView theirs = process_view(path), ours = process_view("/proc/self/stat");
    if (theirs.name.empty() || ours.name.empty()) return true;  // no /proc: trust kill(2)
    return theirs.state != 'Z' && theirs.state != 'X' && theirs.name == ours.name;
}

namespace {
// Records this process in `slot` unless another live sctplb is recorded
// there. Compare-and-swap: of two processes starting at once, one wins; a
// holder that died without releasing (kill -9) is replaced.
bool claim_pid(std::atomic<std::int32_t>& slot, std::string_view what, std::string& error) {
    const auto me = static_cast<std::int32_t>(::getpid());
    std::int32_t holder = slot.load(std::memory_order_acquire);
    while (holder != me) {
        if (data_path_alive(holder)) {
            error = std::string(what) + " (pid " + std::to_string(holder) + ") already runs on this shared memory: one per segment";
            return false;
        }
        if (slot.compare_exchange_weak(holder, me, std::memory_order_acq_rel)) break;
    }
    return true;
}

void release_pid(std::atomic<std::int32_t>& slot) {
    std::int32_t me = static_cast<std::int32_t>(::getpid());
    slot.compare_exchange_strong(me, 0, std::memory_order_acq_rel);
}
}  // namespace

bool SharedState::claim_data_path(std::string& error) { return claim_pid(header_->daemon_pid, "sctplb lb", error); }
void SharedState::release_data_path() { release_pid(header_->daemon_pid); }
bool SharedState::claim_health(std::string& error) { return claim_pid(header_->health.pid, "sctplb health", error); }
void SharedState::release_health() { release_pid(header_->health.pid); }

HealthReport read_health(const SharedHeader& header) {
    constexpr auto relaxed = std::memory_order_relaxed;
    const SharedHealth& health = header.health;
    HealthReport report;
    const std::int32_t pid = health.pid.load(std::memory_order_acquire);
    report.pid = data_path_alive(pid) ? pid : 0;
    const std::uint32_t count = std::min(health.entry_count.load(std::memory_order_acquire), kMaxTargetSlots);
    for (std::uint32_t i = 0; i < count; ++i) {
        const HealthEntry& e = health.entries[i];
        HealthView view;
        view.fwmark = e.fwmark.load(relaxed);
        if (view.fwmark == 0) continue;
        view.state = e.state.load(relaxed);
        view.last_result = e.last_result.load(relaxed);
        view.held = e.held.load(relaxed) != 0;
        view.last_probe_unix_ns = e.last_probe_unix_ns.load(relaxed);
        view.last_rtt_ns = e.last_rtt_ns.load(relaxed);
        view.probes_ok = e.probes_ok.load(relaxed);
        view.probes_failed = e.probes_failed.load(relaxed);
        view.went_up = e.went_up.load(relaxed);
        view.went_down = e.went_down.load(relaxed);
        report.entries.push_back(view);
    }
    return report;
}

bool SharedState::remove(const std::string& name, std::string& error) {
    if (!valid_shared_memory_name(name, error)) return false;
    if (::shm_unlink(posix_name(name).c_str()) != 0) {
        if (errno == ENOENT)
            error = "shared memory '" + name + "' does not exist";
        else
            error = "shm_unlink /" + name + ": " + errno_text(errno);
        return false;
    }
    return true;
}

SharedState::SharedState(SharedState&& other) noexcept
    : header_(std::exchange(other.header_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      table_(std::move(other.table_)) {
    other.table_.reset();
}

SharedState& SharedState::operator=(SharedState&& other) noexcept {
    if (this != &other) {
        if (header_ != nullptr) ::munmap(header_, size_);
        header_ = std::exchange(other.header_, nullptr);
        size_ = std::exchange(other.size_, 0);
        table_ = std::move(other.table_);
        other.table_.reset();
    }
    return *this;
}

SharedState::~SharedState() {
    if (header_ != nullptr) ::munmap(header_, size_);
}

std::span<std::uint32_t> SharedState::maglev_buffer(std::uint32_t which) const {
    auto* base = reinterpret_cast<std::byte*>(header_) + header_->maglev_offset;
    return {reinterpret_cast<std::uint32_t*>(base) + std::size_t{which & 1u} * header_->maglev_m,
            header_->maglev_m};
}

std::span<const std::uint32_t> SharedState::active_maglev() const {
    return maglev_buffer(header_->maglev_active.load(std::memory_order_acquire));
}

bool SharedState::publish_targets(std::string& error) {
    SharedHeader& h = *header_;
    const TargetSnapshot targets = read_targets(h);
    std::vector<MaglevTarget> active;
    std::uint64_t weight_sum = 0;
    for (std::uint32_t i = 0; i < h.max_targets; ++i) {
        if (targets[i].state != TargetState::Active) continue;
        active.push_back({targets[i].fwmark, targets[i].weight});
        weight_sum += targets[i].weight;
    }

    // Built aside, then copied whole: maglev_populate uses its output as the
    // "slot taken" map, and a reader must never see those transient zeros.
    std::vector<std::uint32_t> built(h.maglev_m);
    if (!maglev_populate_weighted(h.hash, active, built)) {
        // Built piece by piece: gcc 12 -O3 warns falsely on "literal" + std::string.
        error = "cannot build the Maglev table (M ";
        error += std::to_string(h.maglev_m);
        error += ", ";
        error += std::to_string(active.size());
        error += " active targets, weights summing to ";
        error += std::to_string(weight_sum);
        error += weight_sum > h.maglev_m ? ": more than M, so init a larger --M)" : "; duplicate fwmark?)";
        return false;
    }
    const std::uint32_t current = h.maglev_active.load(std::memory_order_relaxed);
    const auto inactive = maglev_buffer(current ^ 1u);
    std::copy(built.begin(), built.end(), inactive.begin());
    h.maglev_active.store(current ^ 1u, std::memory_order_release);
    const std::string digest = config_digest_weighted(h.maglev_m, h.hash, hash_mode_name(h.hash_mode), active);
    std::snprintf(h.config_digest, sizeof h.config_digest, "%s", digest.c_str());
    h.config_generation.fetch_add(1, std::memory_order_acq_rel);
    // Grace period: the data path reads the active buffer only while holding
    // the table lock, so once we get that lock nobody reads the old buffer any
    // more and the next publish may overwrite it.
    { const TableLock grace(*this); }
    return true;
}

TableLock::TableLock(SharedState& state) : state_(state) {
    SharedHeader& h = state_.header();
    if (lock_robust(h.table_mutex, "association table")) {
        // The holder died mid-update: the records are the truth, the indexes,
        // counts and free list are rebuilt from them.
        state_.table().rebuild_indexes();
        pthread_mutex_consistent(&h.table_mutex);
        recovered_ = true;
    }
}

TableLock::~TableLock() { pthread_mutex_unlock(&state_.header().table_mutex); }

ConfigLock::ConfigLock(SharedState& state) : state_(state) {
    SharedHeader& h = state_.header();
    // publish_targets() flips the Maglev buffer last, so a dead writer leaves
    // nothing to repair but a seqlock it left odd (its readers would retry
    // forever): closed here, with whatever fields it had written.
    if (lock_robust(h.config_mutex, "configuration")) {
        repair_config_seqlocks(h);
        pthread_mutex_consistent(&h.config_mutex);
    }
}

ConfigLock::~ConfigLock() { pthread_mutex_unlock(&state_.header().config_mutex); }

}  // namespace sctplb
