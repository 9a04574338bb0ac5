// Fuzz target for parse_packet(): any byte string, with SCTP-over-UDP off and on.
// Built with libFuzzer under clang (packet_fuzz); replay_main.cpp drives the same entry point over
// a corpus with any compiler (packet_fuzz_replay).
#include <cstddef>
#include <cstdint>
#include <span>

#include "packet.hpp"

namespace {

// Invariants that hold for every input, checked so the fuzzer finds logic errors, not only crashes.
void check(const sctplb::ParsedPacket& out) {
    if (out.chunk_count > sctplb::kMaxChunks || out.init.address_count > sctplb::kMaxAddresses ||
        out.asconf.added_count > sctplb::kMaxAddresses) {
        __builtin_trap();
    }
    if (out.ok() && (out.chunk_count == 0 || (out.ip_version != 4 && out.ip_version != 6))) __builtin_trap();
    if (out.ok() && out.has_init && out.chunk_count != 1) __builtin_trap();  // RFC 9260 §6.10
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
