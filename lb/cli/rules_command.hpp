// `sctplb rules`: prints, applies or removes the iptables rules, ip rules and
// routes of a direct-server-return setup on the load balancer (lb/io/rules.hpp).
#pragma once

#include <span>
#include <string>

namespace sctplb::cli {

// Exit status: 0 done, 1 a command failed (what this run added was rolled
// back), 2 usage error.
int run_rules(std::span<const std::string> args);

}  // namespace sctplb::cli
