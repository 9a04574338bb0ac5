// The "sync" and "fastpath" objects of `sctplb stats --json`; the text output is
// printed from the same objects (one source of truth).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "io/shared_state.hpp"

namespace sctplb::cli {

// Null when the running (or last) daemon had no sync.
[[nodiscard]] nlohmann::ordered_json sync_json(const SharedHeader& h, std::int64_t now);

// The daemon's view (shared memory) and the kernel's per-target counters, read
// through netlink (needs CAP_NET_ADMIN; "targets" is null with "targets_error" without).
[[nodiscard]] nlohmann::ordered_json fast_path_json(const SharedHeader& h, const std::string& shm, std::int64_t now);

}  // namespace sctplb::cli
