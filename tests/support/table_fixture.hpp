// Association tables in heap memory for tests, fuzzers and benchmarks, aligned to 64 bytes as the
// shared segment places them (AssociationTable::create refuses misaligned memory).
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <span>

#include "core/association_table.hpp"

namespace sctplb::test {

inline constexpr std::size_t kTableAlignment = 64;

// Zero-filled bytes at a 64-byte boundary.
class AlignedBytes {
public:
    explicit AlignedBytes(std::size_t size)
        : size_(size), bytes_(new (std::align_val_t{kTableAlignment}) std::byte[size]()) {}
    [[nodiscard]] std::span<std::byte> span() const { return {bytes_.get(), size_}; }
    [[nodiscard]] std::byte* data() const { return bytes_.get(); }
    [[nodiscard]] std::size_t size() const { return size_; }
    std::byte& operator[](std::size_t i) const { return bytes_[i]; }

private:
    struct Delete {
        void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kTableAlignment}); }
    };
    std::size_t size_;
    std::unique_ptr<std::byte[], Delete> bytes_;
};

// A table created in memory of its own. Limits the table refuses are a bug in the caller: it stops
// the program.
class HeapTable {
public:
    explicit HeapTable(const TableLimits& limits = {}, const Timeouts& timeouts = {})
        : memory_(AssociationTable::bytes_needed(limits)),
          table_(AssociationTable::create(memory_.span(), limits, timeouts)) {
        if (!table_) {
            std::fputs("HeapTable: AssociationTable::create refused the limits\n", stderr);
            std::abort();
        }
    }
    AssociationTable& operator*() { return *table_; }
    const AssociationTable& operator*() const { return *table_; }
    AssociationTable* operator->() { return &*table_; }
    const AssociationTable* operator->() const { return &*table_; }
    [[nodiscard]] std::span<std::byte> memory() const { return memory_.span(); }

private:
    AlignedBytes memory_;
    std::optional<AssociationTable> table_;
};

}  // namespace sctplb::test
