// The association-sync thread of `sctplb lb` (docs/design.md "The LB tier"):
// a UDP socket on --sync-listen, the configured peers, the key ring, and the
// SyncEngine (lb/core) driven under the table lock. Peers and keys come only
// from the command line and the key file, never from a packet: a datagram
// whose source is not a configured peer address is refused and counted.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>  // ssize_t

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/shared_state.hpp"
#include "io/sync_key.hpp"

namespace sctplb {

struct SyncEndpoint {
    sockaddr_storage address{};
    socklen_t length = 0;
    std::string text;  // as given: "192.168.3.201:7400", "[fd00::1]:7400"
};
// "a.b.c.d:PORT" or "[v6]:PORT" (PORT 1..65535). nullopt with `error` otherwise.
std::optional<SyncEndpoint> parse_sync_endpoint(const std::string& text, std::string& error);

struct SyncServiceOptions {
    SyncEndpoint listen;
    std::vector<SyncEndpoint> peers;
    std::string key_file;
    std::uint32_t startup_wait_ms = 2000;
};

// The instance id peers tell our restarts by: 64 random bits from
// `read_random` (getrandom(2) unless a test passes another). A signal
// interrupting the read (EINTR) or a pool not ready (EAGAIN) is retried
// kRandomAttempts times in all; then, or at any other error, nullopt with a
// one-line `error`: never a busy loop.
inline constexpr int kRandomAttempts = 16;
using ReadRandom = ssize_t (*)(void* buffer, std::size_t length, unsigned int flags);
[[nodiscard]] std::optional<std::uint64_t> random_instance_id(std::string& error, ReadRandom read_random);

class SyncService {
public:
    // Loads the key, binds the socket, prepares the engine. nullopt with a
    // one-line `error` (bad key file, address in use, too many peers, ...).
    static std::optional<SyncService> start(SharedState& state, const SyncServiceOptions& options,
                                            std::string& error);
    SyncService(SyncService&&) noexcept;
    SyncService& operator=(SyncService&&) = delete;
    SyncService(const SyncService&) = delete;
    ~SyncService();

    // The thread's body: runs until `stop`. Sets `ready` once the startup
    // resync is done (or its wait ran out) and bumps `applied_generation`
    // whenever peers' records were applied.
    void run(const std::atomic<bool>& stop, std::atomic<bool>& ready, std::atomic<std::uint64_t>& applied_generation);

private:
    SyncService(SharedState& state, SyncServiceOptions options, SyncKeyring keys, int fd, std::uint64_t instance);
    struct Impl;
    SharedState* state_;
    SyncServiceOptions options_;
    SyncKeyring keys_;
    int fd_;
    std::uint64_t instance_;  // random_instance_id(), drawn in start()
};

}  // namespace sctplb
