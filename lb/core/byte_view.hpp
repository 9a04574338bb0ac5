// Bounds-checked, read-only view over packet bytes.
//
// Every read returns std::optional: a read past the end yields nullopt, never
// undefined behaviour. Packet bytes are never reinterpret_cast to structs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sctplb {

class ByteView {
public:
    constexpr ByteView() = default;
    constexpr explicit ByteView(std::span<const std::byte> bytes) : bytes_(bytes) {}

    [[nodiscard]] constexpr std::size_t size() const { return bytes_.size(); }
    [[nodiscard]] constexpr bool empty() const { return bytes_.empty(); }
    [[nodiscard]] constexpr std::span<const std::byte> bytes() const { return bytes_; }

    [[nodiscard]] constexpr std::optional<std::uint8_t> u8(std::size_t offset) const {
        if (offset >= bytes_.size()) return std::nullopt;
        return static_cast<std::uint8_t>(bytes_[offset]);
    }
    // Network byte order (big endian).
    [[nodiscard]] constexpr std::optional<std::uint16_t> be16(std::size_t offset) const {
        if (offset > bytes_.size() || bytes_.size() - offset < 2) return std::nullopt;
        return static_cast<std::uint16_t>((byte_at(offset) << 8) | byte_at(offset + 1));
    }
    [[nodiscard]] constexpr std::optional<std::uint32_t> be32(std::size_t offset) const {
        if (offset > bytes_.size() || bytes_.size() - offset < 4) return std::nullopt;
        return (byte_at(offset) << 24) | (byte_at(offset + 1) << 16) | (byte_at(offset + 2) << 8) |
               byte_at(offset + 3);
    }
    // Sub-view [offset, offset + length); nullopt when it does not fit.
    [[nodiscard]] constexpr std::optional<ByteView> sub(std::size_t offset, std::size_t length) const {
        if (offset > bytes_.size() || bytes_.size() - offset < length) return std::nullopt;
        return ByteView(bytes_.subspan(offset, length));
    }
    // Sub-view from offset to the end, possibly empty; nullopt when offset > size.
    [[nodiscard]] constexpr std::optional<ByteView> from(std::size_t offset) const {
        if (offset > bytes_.size()) return std::nullopt;
        return ByteView(bytes_.subspan(offset));
    }
    // Sub-view of at most length bytes from offset (clamped); nullopt when offset > size.
    [[nodiscard]] constexpr std::optional<ByteView> up_to(std::size_t offset, std::size_t length) const {
        if (offset > bytes_.size()) return std::nullopt;
        std::size_t avail = bytes_.size() - offset;
        return ByteView(bytes_.subspan(offset, length < avail ? length : avail));
    }

private:
    [[nodiscard]] constexpr std::uint32_t byte_at(std::size_t i) const {
        return static_cast<std::uint32_t>(bytes_[i]);
    }
    std::span<const std::byte> bytes_;
};

}  // namespace sctplb
