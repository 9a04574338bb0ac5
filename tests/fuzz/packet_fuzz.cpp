// Fuzz target for parse_packet(): any byte string, with SCTP-over-UDP off and on.
// Built with libFuzzer under clang (packet_fuzz); replay_main.cpp drives the same entry point over
// a corpus with any compiler (packet_fuzz_replay).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "core/packet.hpp"

namespace {

// Invariants that hold for every input, checked so the fuzzer finds logic errors, not only crashes.
void check(const sctplb::ParsedPacket& out) {
    SCTPLB_FUZZ_CHECK(out.chunk_count <= sctplb::kMaxChunks);
    SCTPLB_FUZZ_CHECK(out.init.address_count <= sctplb::kMaxAddresses);
    SCTPLB_FUZZ_CHECK(out.asconf.added_count <= sctplb::kMaxAddresses);
    if (out.ok()) SCTPLB_FUZZ_CHECK(out.ip_version == 4 || out.ip_version == 6);
    // An ICMP error quoting SCTP carries no chunks of its own; any other SCTP packet has some.
    if (out.ok() && !out.icmp_error) SCTPLB_FUZZ_CHECK(out.chunk_count != 0);
    if (out.icmp_error) SCTPLB_FUZZ_CHECK(out.ok() && out.chunk_count == 0 && !out.has_init);
    if (out.ok() && out.has_init) SCTPLB_FUZZ_CHECK(out.chunk_count == 1);  // RFC 9260 §6.10
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> packet(reinterpret_cast<const std::byte*>(data), size);
    sctplb::ParsedPacket out;
    sctplb::parse_packet(packet, sctplb::ParseOptions{}, out);
    check(out);
    sctplb::parse_packet(packet, sctplb::ParseOptions{.encapsulation_port = 9899}, out);
    check(out);
    return 0;
}
