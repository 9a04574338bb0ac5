// CRC32c (Castagnoli, reflected polynomial 0x82F63B78), the SCTP checksum of RFC 9260 Appendix A:
// by table, or by the SSE4.2 instruction where the CPU has it. Header only: the health probe
// (lb/core/health_probe.cpp), the tests' packet builder and the benchmarks' sender share it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sctplb {

class Crc32c {
public:
    Crc32c() {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t crc = i;
            for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
            table_[i] = crc;
        }
#if defined(__x86_64__)
        hardware_ = __builtin_cpu_supports("sse4.2");
#endif
    }
    [[nodiscard]] std::uint32_t operator()(const std::byte* data, std::size_t size) const {
#if defined(__x86_64__)
        if (hardware_) return hardware(data, size);
#endif
        std::uint32_t crc = 0xffffffffu;
        for (std::size_t i = 0; i < size; ++i) crc = table_[(crc ^ std::to_integer<std::uint32_t>(data[i])) & 0xff] ^ (crc >> 8);
        return ~crc;
    }
    // Computes the checksum of the SCTP packet at `sctp` (common header and chunks) with the
    // checksum field zero, and stores it there: the little-endian CRC register value, byte by byte
    // (Appendix A).
    void store(std::byte* sctp, std::size_t size) const {
        std::memset(sctp + 8, 0, 4);
        const std::uint32_t value = (*this)(sctp, size);
        sctp[8] = std::byte(value);
        sctp[9] = std::byte(value >> 8);
        sctp[10] = std::byte(value >> 16);
        sctp[11] = std::byte(value >> 24);
    }

private:
#if defined(__x86_64__)
    __attribute__((target("sse4.2"))) static std::uint32_t hardware(const std::byte* data, std::size_t size) {
        std::uint64_t crc = 0xffffffffu;
        std::size_t i = 0;
        for (; i + 8 <= size; i += 8) {
            std::uint64_t word;
            std::memcpy(&word, data + i, 8);  // little-endian load, as the reflected CRC wants
            crc = __builtin_ia32_crc32di(crc, word);
        }
        auto crc32 = static_cast<std::uint32_t>(crc);
        for (; i < size; ++i) crc32 = __builtin_ia32_crc32qi(crc32, std::to_integer<unsigned char>(data[i]));
        return ~crc32;
    }
    bool hardware_ = false;
#endif
    std::array<std::uint32_t, 256> table_{};
};

}  // namespace sctplb
