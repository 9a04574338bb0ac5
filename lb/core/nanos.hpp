// The time of the core: nanoseconds of a clock the caller passes in (the daemon
// reads CLOCK_MONOTONIC, lb/io/clock.hpp; tests and replay pass virtual time).
#pragma once

#include <chrono>

namespace sctplb {

using Nanos = std::chrono::nanoseconds;  // an injected clock's reading

}  // namespace sctplb
