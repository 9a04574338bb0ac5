// The SCTP checksum for the tests: the core's (lb/core/sctp_crc32c.hpp).
#pragma once

#include "core/sctp_crc32c.hpp"

namespace sctplb::test {
using sctplb::Crc32c;
}  // namespace sctplb::test
