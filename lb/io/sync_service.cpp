#include "io/sync_service.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "io/clock.hpp"
#include "io/log.hpp"
#include "core/number_text.hpp"

namespace sctplb {

namespace {


bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) return false;
    if (a.ss_family == AF_INET) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(a);
        const auto& y = reinterpret_cast<const sockaddr_in&>(b);
        return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
}

void copy_text(char (&out)[64], const std::string& text) {
    std::snprintf(out, sizeof out, "%s", text.c_str());
}

std::uint64_t pack_chars(const char* chars) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(chars[i]);
    return v;
}

}  // namespace

std::optional<SyncEndpoint> parse_sync_endpoint(const std::string& text, std::string& error) {
    SyncEndpoint endpoint;
    endpoint.text = text;
    std::string host, port;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find("]:");
        if (close == std::string::npos) {
            error = "'" + text + "' is not [IPv6]:PORT";
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string::npos) {
            error = "'" + text + "' has no port (ADDR:PORT, [IPv6]:PORT)";
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    const auto number = parse_number32(port);
    if (!number || *number == 0 || *number > 65535) {
        error = "'" + text + "': port 1..65535 wanted";
        return std::nullopt;
    }
    if (auto* v4 = reinterpret_cast<sockaddr_in*>(&endpoint.address); inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(*number));
        endpoint.length = sizeof(sockaddr_in);
        return endpoint;
    }
    endpoint.address = {};
    if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&endpoint.address); inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(*number));
        endpoint.length = sizeof(sockaddr_in6);
        return endpoint;
    }
    error = "'" + text + "': '" + host + "' is not an IPv4 or IPv6 address";
    return std::nullopt;
}

std::optional<std::uint64_t> random_instance_id(std::string& error, ReadRandom read_random) {
    std::uint64_t instance = 0;
    int error_number = 0;
    for (int attempt = 0; attempt < kRandomAttempts; ++attempt) {
        // 8 bytes: getrandom(2) returns them whole once the pool is ready; a
        // short count is treated like an interrupted call.
        const ssize_t got = read_random(&instance, sizeof instance, 0);
        if (got == static_cast<ssize_t>(sizeof instance)) return instance;
        error_number = got < 0 ? errno : EINTR;
        if (error_number != EINTR && error_number != EAGAIN) break;
    }
    error = std::string("sync: cannot draw a random instance id (getrandom): ") + std::strerror(error_number);
    return std::nullopt;
}

SyncService::SyncService(SharedState& state, SyncServiceOptions options, SyncKeyring keys, int fd,
                         std::uint64_t instance)
    : state_(&state), options_(std::move(options)), keys_(std::move(keys)), fd_(fd), instance_(instance) {}

SyncService::SyncService(SyncService&& other) noexcept
    : state_(other.state_), options_(std::move(other.options_)), keys_(std::move(other.keys_)), fd_(other.fd_),
      instance_(other.instance_) {
    other.fd_ = -1;
}

SyncService::~SyncService() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<SyncService> SyncService::start(SharedState& state, const SyncServiceOptions& options, std::string& error) {
    if (options.peers.empty() || options.peers.size() > kMaxSyncPeers) {
        error = "between 1 and " + std::to_string(kMaxSyncPeers) + " --sync-peer addresses, please";
        return std::nullopt;
    }
    for (const SyncEndpoint& peer : options.peers) {
        if (peer.address.ss_family != options.listen.address.ss_family) {
            error = "sync peer " + peer.text + " and --sync-listen " + options.listen.text + " are of different address families";
            return std::nullopt;
        }
        if (same_endpoint(peer.address, options.listen.address)) {
            error = "sync peer " + peer.text + " is our own --sync-listen address";
            return std::nullopt;
        }
    }
    auto keys = SyncKeyring::load(options.key_file, error);
    if (!keys) return std::nullopt;
    const auto instance = random_instance_id(error, ::getrandom);
    if (!instance) return std::nullopt;
    const int fd = ::socket(options.listen.address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("sync socket: ") + std::strerror(errno);
        return std::nullopt;
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&options.listen.address), options.listen.length) != 0) {
        error = "cannot bind --sync-listen " + options.listen.text + ": " + std::strerror(errno);
        ::close(fd);
        return std::nullopt;
    }
    return SyncService(state, options, std::move(*keys), fd, *instance);
}

void SyncService::run(const std::atomic<bool>& stop, std::atomic<bool>& ready,
                      std::atomic<std::uint64_t>& applied_generation) {
    SharedState& state = *state_;
    SharedHeader& header = state.header();
    SyncShared& shared = header.sync;
    const std::size_t peer_count = options_.peers.size();

    // The epoch only ever grows for this segment, whatever the clock does;
    // peers need no common clock (they compare our epochs with each other).
    const std::uint64_t instance = instance_;
    timespec wall_clock{};
    clock_gettime(CLOCK_REALTIME, &wall_clock);
    const auto wall = static_cast<std::uint64_t>(wall_clock.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(wall_clock.tv_nsec);
    const std::uint64_t epoch = std::max(wall, shared.last_epoch + 1);
    shared.last_epoch = epoch;
    for (std::size_t i = 0; i < peer_count; ++i) {
        if (std::strcmp(shared.window_owner[i], options_.peers[i].text.c_str()) != 0) {
            shared.windows[i] = SyncReplayWindow{};
            copy_text(shared.window_owner[i], options_.peers[i].text);
        }
        copy_text(shared.peers[i].address, options_.peers[i].text);
        shared.peers[i].last_heard_ns.store(-1);
    }
    copy_text(shared.listen, options_.listen.text);
    shared.instance.store(instance);
    shared.epoch.store(epoch);
    shared.peer_count.store(static_cast<std::uint32_t>(peer_count));
    shared.ready.store(0);
    shared.enabled.store(1, std::memory_order_release);

    SyncEngineOptions engine_options;
    engine_options.instance = instance;
    engine_options.epoch = epoch;
    engine_options.peer_count = peer_count;
    engine_options.startup_wait = std::chrono::milliseconds(options_.startup_wait_ms);
    SyncEngine engine(engine_options, state.table(), keys_, std::span(shared.windows, peer_count),
                      monotonic_now());
    const auto refresh_digest = [&] {
        ConfigDigestText digest{};
        const ConfigLock lock(state);
        std::memcpy(digest.data(), header.config_digest, kDigestChars);
        engine.set_config_digest(digest);
        std::vector<std::uint32_t> down;
        const TargetSnapshot targets = read_targets(header);  // (no writer: we hold config_mutex)
        for (std::uint32_t i = 0; i < header.max_targets && i < kMaxTargetSlots; ++i)
            if (targets[i].state == TargetState::Down) down.push_back(targets[i].fwmark);
        engine.set_down_targets(down);
        return digest;
    };
    ConfigDigestText our_digest = refresh_digest();
    {
        const TableLock lock(state);
        state.table().set_journal(&engine.journal());
    }
    log_line(header, kLogNotice, "sync: listening on %s, %zu peer(s), key id %08x, epoch %llu, waiting up to %u ms for their tables",
             options_.listen.text.c_str(), peer_count, keys_.signing_key_id(),
             static_cast<unsigned long long>(epoch), options_.startup_wait_ms);

    struct Datagram {
        std::size_t peer;
        std::size_t length;
        std::array<std::byte, 2048> bytes;
    };
    std::vector<Datagram> inbox(64);
    Counters counters;
    std::vector<PeerState> last_state(peer_count, PeerState::Unknown);
    std::vector<int> last_digest(peer_count, 0);
    // Authentication failures: one line per peer per 10 s at most (a peer
    // with another key fails every datagram it sends).
    constexpr Nanos kAuthLogInterval = std::chrono::seconds(10);
    std::vector<std::uint64_t> logged_auth_failures(peer_count, 0);
    std::vector<Nanos> last_auth_log(peer_count, Nanos{-1});
    Nanos last_publish{0};
    std::uint64_t published_generation = 0;
    // Idle (nothing received, no local change, nothing in flight) the table
    // lock is taken only this often, for the coarse timers (keepalives every
    // 500 ms, peer liveness) and the last-seen walk (4096 slots a round), so
    // that an idle sync thread does not contend with the queues every 1 ms.
    constexpr Nanos kIdleTickInterval = std::chrono::milliseconds(10);
    Nanos last_tick{0};

    while (!stop.load(std::memory_order_relaxed)) {
        pollfd p{fd_, POLLIN, 0};
        ::poll(&p, 1, 1);
        std::size_t received = 0;
        while (received < inbox.size()) {
            sockaddr_storage from{};
            socklen_t from_length = sizeof from;
            Datagram& d = inbox[received];
            const ssize_t n = ::recvfrom(fd_, d.bytes.data(), d.bytes.size(), MSG_TRUNC,
                                         reinterpret_cast<sockaddr*>(&from), &from_length);
            if (n < 0) break;  // EAGAIN: drained (other errors: the next poll tries again)
            d.length = std::min<std::size_t>(static_cast<std::size_t>(n), d.bytes.size());
            d.peer = peer_count;  // not a peer unless its source is one
            for (std::size_t i = 0; i < peer_count; ++i)
                if (same_endpoint(from, options_.peers[i].address)) d.peer = i;
            ++received;
        }
        const Nanos now = monotonic_now();
        // All three checks read no table state: the journal's fill level is
        // atomic, the engine is ours alone.
        const bool work = received > 0 || engine.journal().has_entries() || engine.busy() ||
                          now - last_tick >= kIdleTickInterval;
        if (work) {
            last_tick = now;
            DeferredLog log(header);  // destroyed after the lock: writes then
            const TableLock lock(state);
            if (lock.recovered()) log.add(kLogWarning, "sync: table lock recovered from a dead holder: indexes rebuilt");
            for (std::size_t i = 0; i < received; ++i)
                engine.on_datagram(inbox[i].peer, std::span(inbox[i].bytes.data(), inbox[i].length), now, counters);
            engine.collect(now);
            engine.tick(now);
        }
        for (const SyncEngine::Outgoing& out : engine.outgoing()) {
            const SyncEndpoint& to = options_.peers[out.peer];
            // A full socket buffer or an unreachable peer loses the datagram:
            // retransmission (or the peer's table request) repairs it.
            (void)::sendto(fd_, out.bytes.data(), out.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to.address),
                           to.length);
        }
        engine.outgoing().clear();
        if (engine.applied_generation() != published_generation) {
            published_generation = engine.applied_generation();
            applied_generation.store(published_generation, std::memory_order_release);
        }
        if (engine.ready() && !ready.load(std::memory_order_relaxed)) {
            const auto silent = engine.silent_at_startup();
            for (const std::size_t peer : silent)
                log_line(header, kLogWarning, "sync: peer %s did not send its table within %u ms: starting without it",
                         options_.peers[peer].text.c_str(), options_.startup_wait_ms);
            log_line(header, kLogNotice, "sync: ready, tables from %zu of %zu peer(s), %llu records received",
                     peer_count - silent.size(), peer_count,
                     static_cast<unsigned long long>(engine.stats().of(SyncCounter::TableRecordsReceived)));
            shared.ready.store(1);
            ready.store(true, std::memory_order_release);
        }

        if (now - last_publish < std::chrono::milliseconds(100)) continue;
        last_publish = now;
        our_digest = refresh_digest();
        const SyncStats& stats = engine.stats();
        for (std::size_t i = 0; i < kSyncCounterCount; ++i) shared.counters[i].store(stats.counters[i], std::memory_order_relaxed);
        for (std::size_t i = 0; i < kSyncRejectionCount; ++i) shared.rejected[i].store(stats.rejected[i], std::memory_order_relaxed);
        for (std::size_t i = 0; i < kReasonCount; ++i) shared.decisions.reasons[i].store(counters.reasons[i], std::memory_order_relaxed);
        for (std::size_t i = 0; i < kEventCount; ++i) shared.decisions.events[i].store(counters.events[i], std::memory_order_relaxed);
        for (std::size_t i = 0; i < peer_count; ++i) {
            const SyncPeerStatus& s = engine.peer_status(i);
            SyncPeerShared& out = shared.peers[i];
            out.state.store(static_cast<std::uint32_t>(s.state));
            out.instance.store(s.instance);
            out.epoch.store(s.epoch);
            out.digest_chars[0].store(pack_chars(s.digest.data()));
            out.digest_chars[1].store(pack_chars(s.digest.data() + 8));
            const int digest = s.digest_known ? (s.digest_match ? 1 : 2) : 0;
            out.digest.store(static_cast<std::uint32_t>(digest));
            out.last_heard_ns.store(s.last_heard.count());
            out.unacked.store(s.unacked);
            out.lag_ns.store(s.lag.count());
            out.rtt_ns.store(s.rtt.count());
            out.table_received.store(s.table_received ? 1 : 0);
            if (s.state != last_state[i]) {
                if (s.state == PeerState::Up)
                    log_line(header, kLogNotice, "sync: peer %s is up (epoch %llu)", options_.peers[i].text.c_str(),
                             static_cast<unsigned long long>(s.epoch));
                else if (s.state == PeerState::Down)
                    log_line(header, kLogWarning, "sync: peer %s is down: its backlog is dropped, it gets the whole table when back",
                             options_.peers[i].text.c_str());
                last_state[i] = s.state;
            }
            const std::uint64_t failures = s.auth_failures - logged_auth_failures[i];
            if (failures > 0 && (last_auth_log[i] < Nanos{0} || now - last_auth_log[i] >= kAuthLogInterval)) {
                if (s.state == PeerState::AuthFailing)
                    log_line(header, kLogError,
                             "sync: peer %s: authentication failed: its key differs from ours (check the --sync-key "
                             "files; %llu datagram(s) refused)",
                             options_.peers[i].text.c_str(), static_cast<unsigned long long>(failures));
                else
                    log_line(header, kLogWarning,
                             "sync: peer %s: %llu datagram(s) from its address failed authentication while it is %s: "
                             "forged, or a sender with another --sync-key",
                             options_.peers[i].text.c_str(), static_cast<unsigned long long>(failures),
                             std::string(peer_state_name(s.state)).c_str());
                logged_auth_failures[i] = s.auth_failures;
                last_auth_log[i] = now;
            }
            if (digest != last_digest[i]) {
                // Loud: instances that build different Maglev tables send the same INIT to different servers.
                if (digest == 2)
                    log_line(header, kLogError,
                             "sync: CONFIG MISMATCH: peer %s has config digest %.16s, ours is %.16s (M, seed, hash mode "
                             "or active targets differ): new associations may be split between servers",
                             options_.peers[i].text.c_str(), s.digest.data(), our_digest.data());
                else if (digest == 1 && last_digest[i] == 2)
                    log_line(header, kLogNotice, "sync: peer %s config digest matches ours again", options_.peers[i].text.c_str());
                last_digest[i] = digest;
            }
        }
    }
    {
        const TableLock lock(state);
        state.table().set_journal(nullptr);
    }
    shared.ready.store(0);
    shared.enabled.store(0, std::memory_order_release);
}

}  // namespace sctplb
