// Writes the seed corpora of decide_fuzz, pcap_fuzz and sync_fuzz from the
// project's captures (tests/data/*.pcap):
//   decide/  each capture as a packet sequence in decide_fuzz's layout, in
//            several setups (vtag, ports, small table, fragments, batch twin)
//   pcap/    each capture as it is, plus its first packets re-framed in other
//            link-layer types (NULL, LOOP, raw IPv4/IPv6, SLL, VLAN-tagged
//            Ethernet) and as pcapng
//   sync/    valid sync messages (Records of the associations the captures
//            create, Ack, TableRequest, TableEnd, Keepalive), signed here or
//            left for sync_fuzz to sign
// Usage: fuzz_make_seeds DATA_DIR CORPUS_DIR   (docs/fuzzing.md)
// The output is deterministic; the corpora are committed, this documents them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/decider.hpp"
#include "fuzz_support.hpp"
#include "core/maglev.hpp"
#include "core/packet.hpp"
#include "io/pcap_input.hpp"
#include "io/sync_key.hpp"
#include "core/sync_wire.hpp"

namespace {

using namespace sctplb;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

struct Frame {
    std::chrono::nanoseconds timestamp;
    Bytes ip;
};

std::vector<Frame> read_capture(const fs::path& path) {
    std::vector<Frame> frames;
    std::string error;
    auto input = PcapInput::open(path.string(), error);
    if (!input) {
        std::fprintf(stderr, "%s\n", error.c_str());
        std::exit(1);
    }
    CapturedPacket captured;
    while (input->next(captured, error) == PcapInput::ReadStatus::Packet)
        if (captured.is_ip && !captured.ip.empty()) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(captured.ip.data());
            frames.push_back(Frame{captured.timestamp, Bytes(p, p + captured.ip.size())});
        }
    return frames;
}

void write_file(const fs::path& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

void put16(Bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put32le(Bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put16le(Bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v));
    b.push_back(static_cast<std::uint8_t>(v >> 8));
}

// The largest clock step not longer than the gap between two packets.
std::uint8_t clock_step_for(std::chrono::nanoseconds gap) {
    std::uint8_t step = 0;
    for (std::uint8_t i = 0; i < fuzz::kClockSteps.size(); ++i)
        if (fuzz::kClockSteps[i] <= gap) step = i;
    return step;
}

// ---- decide ----------------------------------------------------------------------

Bytes decide_seed(const std::vector<Frame>& frames, std::uint8_t setup, std::size_t max_frames) {
    Bytes b{setup};
    for (std::size_t i = 0; i < frames.size() && i < max_frames; ++i) {
        const auto gap = i == 0 ? std::chrono::nanoseconds(0) : frames[i].timestamp - frames[i - 1].timestamp;
        std::uint8_t control = static_cast<std::uint8_t>(clock_step_for(gap) << 2);  // direction by VIP
        if (i % 16 == 15) control |= 6 << 5;  // now and then: rebuild_indexes() check
        b.push_back(control);
        put16(b, static_cast<std::uint16_t>(frames[i].ip.size()));
        b.insert(b.end(), frames[i].ip.begin(), frames[i].ip.end());
    }
    return b;
}

// ---- pcap ------------------------------------------------------------------------

Bytes pcap_file(std::uint32_t link_type, const std::vector<Bytes>& frames) {
    Bytes b;
    put32le(b, 0xa1b2c3d4);  // microsecond timestamps, little-endian
    put16le(b, 2);
    put16le(b, 4);
    put32le(b, 0);
    put32le(b, 0);
    put32le(b, 65535);
    put32le(b, link_type);
    std::uint32_t t = 1'790'000'000;
    for (const Bytes& f : frames) {
        put32le(b, t++);
        put32le(b, 0);
        put32le(b, static_cast<std::uint32_t>(f.size()));
        put32le(b, static_cast<std::uint32_t>(f.size()));
        b.insert(b.end(), f.begin(), f.end());
    }
    return b;
}

// pcapng: Section Header, Interface Description (LINKTYPE_RAW), Enhanced Packet blocks.
Bytes pcapng_file(const std::vector<Bytes>& frames) {
    Bytes b;
    auto block = [&](std::uint32_t type, const Bytes& body) {
        const std::uint32_t length = static_cast<std::uint32_t>(12 + body.size());
        put32le(b, type);
        put32le(b, length);
        b.insert(b.end(), body.begin(), body.end());
        put32le(b, length);
    };
    Bytes shb;
    put32le(shb, 0x1a2b3c4d);
    put16le(shb, 1);
    put16le(shb, 0);
    put32le(shb, 0xffffffff);  // section length unknown
    put32le(shb, 0xffffffff);
    block(0x0a0d0d0a, shb);
    Bytes idb;
    put16le(idb, 101);  // LINKTYPE_RAW
    put16le(idb, 0);
    put32le(idb, 65535);
    block(1, idb);
    std::uint64_t t = 1'790'000'000'000'000ull;  // microseconds
    for (const Bytes& f : frames) {
        Bytes epb;
        put32le(epb, 0);
        put32le(epb, static_cast<std::uint32_t>(t >> 32));
        put32le(epb, static_cast<std::uint32_t>(t));
        put32le(epb, static_cast<std::uint32_t>(f.size()));
        put32le(epb, static_cast<std::uint32_t>(f.size()));
        epb.insert(epb.end(), f.begin(), f.end());
        while (epb.size() % 4 != 0) epb.push_back(0);
        block(6, epb);
        t += 1000;
    }
    return b;
}

void write_pcap_variants(const fs::path& dir, const std::string& name, const std::vector<Frame>& frames) {
    std::vector<Bytes> v4, v6, all;
    for (std::size_t i = 0; i < frames.size() && all.size() < 6; ++i) {
        all.push_back(frames[i].ip);
        ((frames[i].ip[0] >> 4) == 4 ? v4 : v6).push_back(frames[i].ip);
    }
    auto wrap = [&](const Bytes& prefix_v4, const Bytes& prefix_v6) {
        std::vector<Bytes> out;
        for (const Bytes& ip : all) {
            Bytes f = (ip[0] >> 4) == 4 ? prefix_v4 : prefix_v6;
            f.insert(f.end(), ip.begin(), ip.end());
            out.push_back(f);
        }
        return out;
    };
    const Bytes macs{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    Bytes vlan_v4 = macs, vlan_v6 = macs;
    for (Bytes* b : {&vlan_v4, &vlan_v6}) b->insert(b->end(), {0x81, 0x00, 0x00, 0x07});
    vlan_v4.insert(vlan_v4.end(), {0x08, 0x00});
    vlan_v6.insert(vlan_v6.end(), {0x86, 0xdd});
    Bytes sll_v4(14, 0), sll_v6(14, 0);
    sll_v4.insert(sll_v4.end(), {0x08, 0x00});
    sll_v6.insert(sll_v6.end(), {0x86, 0xdd});
    write_file(dir / (name + "-vlan.pcap"), pcap_file(link_type::kEthernet, wrap(vlan_v4, vlan_v6)));
    write_file(dir / (name + "-sll.pcap"), pcap_file(link_type::kLinuxSll, wrap(sll_v4, sll_v6)));
    write_file(dir / (name + "-null.pcap"), pcap_file(link_type::kNull, wrap({2, 0, 0, 0}, {10, 0, 0, 0})));
    write_file(dir / (name + "-loop.pcap"), pcap_file(link_type::kLoop, wrap({0, 0, 0, 2}, {0, 0, 0, 24})));
    write_file(dir / (name + "-raw.pcap"), pcap_file(101, all));
    if (!v4.empty()) write_file(dir / (name + "-ipv4.pcap"), pcap_file(link_type::kIpv4, v4));
    if (!v6.empty()) write_file(dir / (name + "-ipv6.pcap"), pcap_file(link_type::kIpv6, v6));
    write_file(dir / (name + ".pcapng"), pcapng_file(all));
}

// ---- sync ------------------------------------------------------------------------

// The associations a capture leaves in a table (as `sctplb replay` would).
std::vector<Association> associations_of(const std::vector<Frame>& frames, std::chrono::nanoseconds& end) {
    fuzz::HeapTable table(TableLimits{.capacity = 64}, Timeouts{});
    KeyedHash hash;
    std::vector<std::uint32_t> maglev(kMaglevDefaultM);
    const std::vector<std::uint32_t> fwmarks{11, 12, 13};
    maglev_populate(hash, fwmarks, maglev);
    Decider decider(DeciderConfig{}, hash, *table);
    Counters counters;
    const auto& vips = fuzz::kVips;
    for (const Frame& f : frames) {
        ParsedPacket p;
        parse_packet(std::as_bytes(std::span(f.ip)), ParseOptions{.encapsulation_port = 9899}, p);
        Direction d = Direction::Other;
        for (const IpAddress& vip : vips) {
            if (p.dst == vip) d = Direction::In;
            if (p.src == vip) d = Direction::Out;
        }
        decider.decide(p, d, maglev, f.timestamp, counters);
        end = f.timestamp;
    }
    std::vector<Association> out;
    table->for_each([&](AssociationId, const Association& a) { out.push_back(a); });
    return out;
}

SyncHeader sync_header(SyncType type, std::uint16_t flags = 0) {
    SyncHeader h;
    h.type = type;
    h.flags = flags;
    h.instance = 0x1111222233334444ull;
    h.epoch = 3;
    const std::string digest = "0123456789abcdef";
    std::copy(digest.begin(), digest.end(), h.digest.begin());
    return h;
}

// One sync_fuzz record: signed here (control bit 0 clear) or to be signed by
// the target (bit 0 set: header + body only).
void put_message(Bytes& seed, std::span<const std::byte> datagram, bool target_signs, std::uint8_t control) {
    const std::size_t length = target_signs ? datagram.size() - kSyncMacSize : datagram.size();
    seed.push_back(static_cast<std::uint8_t>(control | (target_signs ? 1 : 0)));
    put16(seed, static_cast<std::uint16_t>(length));
    const auto* p = reinterpret_cast<const std::uint8_t*>(datagram.data());
    seed.insert(seed.end(), p, p + length);
}

void write_sync_seeds(const fs::path& dir, const std::map<std::string, std::vector<Frame>>& captures,
                      const SyncKeyring& key) {
    std::uint64_t sequence = 1;
    for (const auto& [name, frames] : captures) {
        std::chrono::nanoseconds end{};
        const std::vector<Association> associations = associations_of(frames, end);
        if (associations.empty()) continue;
        for (const bool target_signs : {false, true}) {
            for (const std::uint8_t setup : {0x00, 0x01, 0x02}) {
                Bytes seed{setup};
                // The associations as Records (one message, or a dump in several).
                SyncMessageWriter w;
                w.begin(sync_header(SyncType::Records, setup == 0x01 ? kSyncFlagDump : 0));
                w.put_u16(0);
                std::uint16_t count = 0;
                for (const Association& a : associations) {
                    if (!put_sync_record(w, a, end)) break;
                    ++count;
                }
                w.patch_u16(0, count);
                put_message(seed, w.finish(sequence++, key), target_signs, 0x00);
                // The same again a second later (the merge's refresh and update paths),
                // then an Ack, a Keepalive, a TableRequest and a TableEnd.
                put_message(seed, w.finish(sequence++, key), target_signs, 4 << 1 | 0x40);
                w.begin(sync_header(SyncType::Ack));
                w.put_u64(1);
                w.put_u16(2);
                w.put_u64(1);
                w.put_u64(2);
                put_message(seed, w.finish(sequence++, key), target_signs, 0x10);
                w.begin(sync_header(SyncType::Keepalive));
                w.put_u32(count);
                w.put_u8(1);
                put_message(seed, w.finish(sequence++, key), target_signs, 0);
                w.begin(sync_header(SyncType::TableRequest));
                w.put_u64(0x5eed);
                put_message(seed, w.finish(sequence++, key), target_signs, 0);
                w.begin(sync_header(SyncType::TableEnd, kSyncFlagDump));
                w.put_u64(0x5eed);
                w.put_u32(count);
                put_message(seed, w.finish(sequence++, key), target_signs, 7 << 1 | 0x80);
                char suffix[32];
                std::snprintf(suffix, sizeof suffix, "-%s-%02x.bin", target_signs ? "target-signs" : "signed", setup);
                write_file(dir / (name + suffix), seed);
            }
        }
        std::printf("sync seeds from %s: %zu associations\n", name.c_str(), associations.size());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s DATA_DIR CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const fs::path data(argv[1]), corpus(argv[2]);
    std::map<std::string, std::vector<Frame>> captures;
    for (const auto& entry : fs::directory_iterator(data))
        if (entry.path().extension() == ".pcap") captures[entry.path().stem().string()] = read_capture(entry.path());
    if (captures.empty()) {
        std::fprintf(stderr, "no captures in %s\n", data.c_str());
        return 1;
    }
    for (const char* sub : {"decide", "pcap", "sync"}) fs::create_directories(corpus / sub);

    for (const auto& [name, frames] : captures) {
        // vtag; ports with the batch twin; a small vtag table with fragments; ports, small, 2 targets.
        const std::uint8_t encap = name.find("udp-encap") != std::string::npos ? 0x02 : 0x00;
        write_file(corpus / "decide" / (name + "-vtag.bin"), decide_seed(frames, 0x20 | encap, 64));
        write_file(corpus / "decide" / (name + "-ports-batch.bin"), decide_seed(frames, 0x29 | encap, 64));
        write_file(corpus / "decide" / (name + "-small-fragments.bin"), decide_seed(frames, 0xa4 | encap, 64));
        write_file(corpus / "decide" / (name + "-ports-small.bin"), decide_seed(frames, 0x91 | encap, 24));
        fs::copy_file(data / (name + ".pcap"), corpus / "pcap" / (name + ".pcap"),
                      fs::copy_options::overwrite_existing);
        write_pcap_variants(corpus / "pcap", name, frames);
    }
    std::string error;
    const auto key = SyncKeyring::parse(fuzz::kSyncKeyText, error);
    if (!key) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return 1;
    }
    write_sync_seeds(corpus / "sync", captures, *key);
    std::printf("seeds written to %s\n", corpus.c_str());
    return 0;
}
