// Byte strings for tests, fuzz seeds and benchmarks: big-endian (network order) fields appended
// one by one, or stored at a position of a buffer that is already laid out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sctplb::test {

using Bytes = std::vector<std::byte>;

inline void put8(Bytes& b, unsigned v) { b.push_back(static_cast<std::byte>(v & 0xFF)); }
inline void put16(Bytes& b, unsigned v) {
    put8(b, v >> 8);
    put8(b, v);
}
inline void put32(Bytes& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}
inline void store16(std::byte* at, unsigned v) {
    at[0] = static_cast<std::byte>((v >> 8) & 0xFF);
    at[1] = static_cast<std::byte>(v & 0xFF);
}
inline void store32(std::byte* at, std::uint32_t v) {
    store16(at, v >> 16);
    store16(at + 2, v & 0xFFFF);
}
inline void set16(Bytes& b, std::size_t offset, unsigned v) { store16(b.data() + offset, v); }

inline Bytes operator+(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}
inline Bytes zeros(std::size_t n) { return Bytes(n, std::byte{0}); }
inline Bytes be16(unsigned v) {
    Bytes b;
    put16(b, v);
    return b;
}
inline Bytes be32(std::uint32_t v) {
    Bytes b;
    put32(b, v);
    return b;
}
// Bytes written as numbers: bytes({0xc0, 0x01}).
inline Bytes bytes(std::initializer_list<unsigned> values) {
    Bytes b;
    for (unsigned v : values) put8(b, v);
    return b;
}
inline Bytes cut(Bytes b, std::size_t size) {
    b.resize(size);
    return b;
}
inline Bytes repeat(const Bytes& unit, std::size_t times) {
    Bytes b;
    for (std::size_t i = 0; i < times; ++i) b = b + unit;
    return b;
}

}  // namespace sctplb::test
