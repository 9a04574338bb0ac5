// Fuzz target for the replay reader: the input is a whole capture file (pcap or
// pcapng) read through PcapInput (libpcap plus our link-layer stripping), each
// frame's IP datagram parsed and decided as `sctplb replay` does. PcapInput
// opens files by path only, so the bytes go to a memfd opened as
// /proc/self/fd/N: the target exercises PcapInput::open() itself.
// Built with libFuzzer under clang (pcap_fuzz); replay_main.cpp drives the same
// entry point over the corpus with any compiler (pcap_fuzz_replay).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/decider.hpp"
#include "fuzz_support.hpp"
#include "core/maglev.hpp"
#include "core/packet.hpp"
#include "io/pcap_input.hpp"

namespace {

using namespace sctplb;

constexpr std::uint64_t kMaxFrames = 4096;  // a file of many empty records must not stall the fuzzer

// One memfd for the whole process, rewritten for every input.
class MemoryFile {
public:
    MemoryFile() : fd_(memfd_create("pcap_fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) fuzz::invariant_failed("memfd_create failed");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    const std::string& write(std::span<const std::uint8_t> bytes) {
        if (ftruncate(fd_, 0) != 0) fuzz::invariant_failed("ftruncate failed");
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
            if (n <= 0) fuzz::invariant_failed("pwrite failed");
            done += static_cast<std::size_t>(n);
        }
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

Direction direction_of(const ParsedPacket& p) {
    const auto& vips = fuzz::kVips;
    for (const IpAddress& vip : vips)
        if (p.dst == vip) return Direction::In;
    for (const IpAddress& vip : vips)
        if (p.src == vip) return Direction::Out;
    return Direction::Other;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static MemoryFile file;
    static const KeyedHash hash;
    static const std::vector<std::uint32_t> maglev = [] {
        std::vector<std::uint32_t> table(kMaglevDefaultM);
        const std::vector<std::uint32_t> fwmarks{1, 2, 3};
        SCTPLB_FUZZ_CHECK(maglev_populate(hash, fwmarks, table));
        return table;
    }();

    std::string error;
    auto input = PcapInput::open(file.write(std::span(data, size)), error);
    if (!input) {
        SCTPLB_FUZZ_CHECK(!error.empty());
        return 0;
    }
    SCTPLB_FUZZ_CHECK(link_type_supported(input->link_type()));

    fuzz::HeapTable table(TableLimits{.capacity = 64}, Timeouts{});
    Decider decider(DeciderConfig{.mode = HashMode::Vtag}, hash, *table);
    Counters counters;
    CapturedPacket captured;
    ParsedPacket parsed;
    std::uint64_t frames = 0;
    while (frames < kMaxFrames && input->next(captured, error) == PcapInput::ReadStatus::Packet) {
        ++frames;
        SCTPLB_FUZZ_CHECK(captured.number == frames);
        if (!captured.is_ip) SCTPLB_FUZZ_CHECK(captured.ip.empty());
        SCTPLB_FUZZ_CHECK(captured.ip.size() <= captured.captured_length);
        // The datagram is copied to a buffer of its exact size, so that ASan
        // catches a parser read past its end (libpcap's buffer is larger).
        const std::vector<std::byte> ip(captured.ip.begin(), captured.ip.end());
        parse_packet(ip, ParseOptions{}, parsed);
        // Time as the capture says, which may go backwards: the table must cope.
        const Verdict v = decider.decide(parsed, direction_of(parsed), maglev, captured.timestamp, counters);
        if (v.action == Action::AcceptMarked) SCTPLB_FUZZ_CHECK(v.fwmark >= 1 && v.fwmark <= 3);
        fuzz::check_table(*table);
    }
    return 0;
}
