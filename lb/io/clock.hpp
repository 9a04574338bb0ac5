// The daemon's clock, apart from the data path: the sync and fast-path
// services and the CLI read it without including data_path.hpp.
#pragma once

#include "core/nanos.hpp"

namespace sctplb {

// CLOCK_MONOTONIC: the `now` of every decision, and what `sctplb assoc`
// compares timestamps with.
Nanos monotonic_now();

}  // namespace sctplb
