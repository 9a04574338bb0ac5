#!/usr/bin/env python3
"""raw-send.py: crafted IPv4 packets for the robustness tests (stdlib only, run as root in a
test namespace): SCTP packets with a valid CRC32c, split into IP fragments sent in a chosen
order, and ICMP errors quoting a packet the VIP sent.

  raw-send.py fragments --src A --dst VIP --sport P --dport P --vtag T [--id N] [--order 1,0]
              [--payload BYTES]
        one SCTP DATA packet (TSN far outside any window: the server discards it) cut into two
        IPv4 fragments (the first holds the IP header + 24 bytes), sent in --order (0 = first).
  raw-send.py lone-fragment --src A --dst VIP [--id N]
        a non-first fragment whose first fragment never comes.
  raw-send.py inits --src A --dst VIP [--count N] [--dport P] [--avoid-sport P]...
        N INITs (random initiate tags, vtag 0), as fast as Python sends them, each from its own
        random source port, never an --avoid-sport one: an INIT from the address and ports of a
        live association is a restart (RFC 9260 §5.2.2) and one from an earlier INIT's ports may
        meet that attempt's entry, so only distinct, unused ports make every INIT a new one.
  raw-send.py data --src A --dst VIP [--sport P --dport P] [--vtag T] [--count N] [--id SEED]
        N single DATA packets (IPv4 or IPv6), vtag T or random ones (seeded by --id).
  raw-send.py hostile --src A --dst VIP [--sport P --dport P --vtag T] [--init-sport P]
        one of each malformed packet in HOSTILE (see below), printing "NAME REASON" per packet
        sent: the reason sctplb must count it under. The packets carrying an INIT come from
        --init-sport (default --sport): give a port no association uses, or an INIT that parses
        is a restart of the association on --sport while it lives (RFC 9260 §5.2.2).
  raw-send.py hostile6 --src A6 --dst VIP6 --iface DEV --dst-mac MAC
        malformed IPv6 packets (HOSTILE6), sent as Ethernet frames on DEV (a packet socket: no
        kernel IPv6 header handling in the way), printing "NAME REASON" per packet.
  raw-send.py icmp --src ROUTER --dst VIP --quote-src VIP --quote-dst CLIENT --quote-sport P
              --quote-dport P --quote-vtag T [--type 3 --code 4 --mtu 1400]
        an ICMP error quoting the first 28 bytes (IP header + 8 bytes of SCTP) of a packet the
        VIP sent to the client (RFC 792's minimum quote).
"""
import argparse
import socket
import struct
import sys


def crc32c(data: bytes) -> int:
    """CRC32c (Castagnoli), the SCTP checksum (RFC 9260 Appendix A), bitwise reflected."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def checksum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def sctp_packet(sport: int, dport: int, vtag: int, payload_size: int) -> bytes:
    user_data = bytes(range(256)) * (payload_size // 256 + 1)
    user_data = user_data[:payload_size]
    # DATA chunk (RFC 9260 §3.3.1): flags B|E, TSN far from any window, stream 0, SSN 0, PPID 0.
    chunk = struct.pack("!BBHIHHI", 0, 3, 16 + len(user_data), 0x7FFF0000, 0, 0, 0) + user_data
    chunk += b"\0" * (-len(chunk) % 4)
    header = struct.pack("!HHII", sport, dport, vtag, 0)
    crc = crc32c(header + chunk)
    # The CRC32c is written in the byte order of its reflected computation (little endian).
    return struct.pack("!HHI", sport, dport, vtag) + struct.pack("<I", crc) + chunk


def sctp_raw(sport: int, dport: int, vtag: int, chunks: bytes) -> bytes:
    """An SCTP packet with the given chunk bytes and a correct CRC32c."""
    header = struct.pack("!HHII", sport, dport, vtag, 0)
    crc = crc32c(header + chunks)
    return struct.pack("!HHI", sport, dport, vtag) + struct.pack("<I", crc) + chunks


def chunk(kind: int, flags: int, body: bytes, length: int | None = None) -> bytes:
    raw = struct.pack("!BBH", kind, flags, 4 + len(body) if length is None else length) + body
    return raw + b"\0" * (-len(raw) % 4)


def init_chunk(tag: int, params: bytes = b"") -> bytes:
    # RFC 9260 §3.3.2: initiate tag, a_rwnd, outbound streams, inbound streams, initial TSN.
    return chunk(1, 0, struct.pack("!IIHHI", tag, 65536, 10, 10, 1) + params)


def data_chunk() -> bytes:
    return chunk(0, 3, struct.pack("!IHHI", 1, 0, 0, 0) + b"hostile!")


# Malformed packets and the reason sctplb counts each under (lb/core/verdict.hpp).
def hostile(sport: int, dport: int, vtag: int, init_sport: int):
    v4_params = b"".join(struct.pack("!HH4s", 5, 8, bytes([10, 1, i // 256, i % 256])) for i in range(150))
    return [
        ("chunk-length-zero", "bad-chunk", sctp_raw(sport, dport, vtag, chunk(0, 3, b"\0" * 12, length=0))),
        ("chunk-length-3", "bad-chunk", sctp_raw(sport, dport, vtag, chunk(0, 3, b"\0" * 12, length=3))),
        ("chunk-beyond-packet", "bad-chunk", sctp_raw(sport, dport, vtag, chunk(0, 3, b"\0" * 12, length=400))),
        ("init-bundled-with-data", "init-bundled", sctp_raw(init_sport, dport, 0, init_chunk(0x1234) + data_chunk())),
        ("init-with-vtag", "init-bad-vtag", sctp_raw(init_sport, dport, 0x55, init_chunk(0x1234))),
        ("init-tag-zero", "bad-init", sctp_raw(init_sport, dport, 0, init_chunk(0))),
        # More than 128 parameters, but the LB copies 512 bytes of each packet: it decides on the
        # parameters it got and counts the cut (an INIT from the client: subject to --init-rate).
        ("init-150-addresses", "init-truncated", sctp_raw(init_sport, dport, 0, init_chunk(0x4321, v4_params))),
        ("data-vtag-zero", "unknown-association", sctp_raw(sport, dport, 0, data_chunk())),
        ("65-chunks", "too-many-chunks", sctp_raw(sport, dport, vtag, chunk(4, 0, b"") * 65)),
        ("common-header-only", "bad-chunk", sctp_raw(sport, dport, vtag, b"")),
        ("short-sctp-header", "bad-sctp-header", b"\x00\x01\x00"),
    ]


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (struct.pack("!IHBB", 0x60000000, len(payload), next_header, 64) +
            socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + payload)


def hostile6(src: str, dst: str):
    data = sctp_raw(5000, 36412, 0x0BADC0DE, data_chunk())
    # Destination Options headers (RFC 8200 §4.6): next header, length 0 (8 bytes), PadN.
    def options(next_header: int) -> bytes:
        return struct.pack("!BBBB4s", next_header, 0, 1, 4, b"\0" * 4)
    chain = b"".join(options(60) for _ in range(8)) + options(132)  # 9 headers, SCTP after
    # (A truncated extension header never reaches the queue: ip6tables' -p sctp cannot find the
    # upper layer and the kernel drops it. A whole header followed by a cut SCTP header does.)
    cut_sctp = options(132) + b"\x13\x88\x8e"
    lone = struct.pack("!BBHI", 132, 0, (8 << 3), 0x77) + b"\xab" * 32  # offset 64, last fragment
    quoted = ipv6(dst, src, 132, sctp_raw(36412, 5000, 0x0BADC0DE, data_chunk()))[:48]
    too_big = struct.pack("!BBHI", 2, 0, 0, 1280) + quoted
    return [
        ("v6-extension-chain-too-long", "bad-extension-header", ipv6(src, dst, 60, chain + data)),
        ("v6-extension-then-cut-sctp", "bad-sctp-header", ipv6(src, dst, 60, cut_sctp)),
        ("v6-lone-fragment", "ip-fragment", ipv6(src, dst, 44, lone)),
        ("v6-packet-too-big-unknown", "icmp-unknown", ipv6(src, dst, 58, too_big)),
        ("v6-data-unknown", "unknown-association", ipv6(src, dst, 132, data)),
    ]


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0x4242, frag: int = 0,
         total: int | None = None) -> bytes:
    length = 20 + len(payload) if total is None else total
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, ident, frag, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum16(header)) + header[12:]
    return header + payload


def send(packets, dst: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        for packet in packets:
            s.sendto(packet, (dst, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["fragments", "lone-fragment", "icmp", "inits", "hostile", "hostile6", "data"])
    parser.add_argument("--iface")
    parser.add_argument("--dst-mac")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--src", required=True)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--sport", type=int, default=36412)
    parser.add_argument("--dport", type=int, default=36412)
    parser.add_argument("--init-sport", type=int, help="hostile: the INIT packets' source port (default --sport)")
    parser.add_argument("--avoid-sport", type=int, action="append", default=[],
                        help="inits: a source port never to use (repeatable)")
    parser.add_argument("--vtag", type=lambda v: int(v, 0), default=0)
    parser.add_argument("--id", type=lambda v: int(v, 0), default=0x4242)
    parser.add_argument("--order", default="1,0")
    parser.add_argument("--payload", type=int, default=200)
    parser.add_argument("--quote-src")
    parser.add_argument("--quote-dst")
    parser.add_argument("--quote-sport", type=int, default=36412)
    parser.add_argument("--quote-dport", type=int, default=36412)
    parser.add_argument("--quote-vtag", type=lambda v: int(v, 0), default=0)
    parser.add_argument("--type", type=int, default=3)
    parser.add_argument("--code", type=int, default=4)
    parser.add_argument("--mtu", type=int, default=1400)
    a = parser.parse_args()

    if a.kind == "fragments":
        sctp = sctp_packet(a.sport, a.dport, a.vtag, a.payload)
        split = 24  # a multiple of 8 (RFC 791 fragment offsets count 8-byte units)
        total = 20 + len(sctp)
        first = ipv4(a.src, a.dst, 132, sctp[:split], a.id, 0x2000)  # MF, offset 0
        second = ipv4(a.src, a.dst, 132, sctp[split:], a.id, split // 8)  # last fragment
        assert total == len(first) + len(second) - 20
        pieces = [first, second]
        send([pieces[int(i)] for i in a.order.split(",")], a.dst)
    elif a.kind == "inits":
        import random
        rng = random.Random(a.id)
        free_ports = sorted(set(range(1024, 65536)) - set(a.avoid_sport))
        if a.count > len(free_ports):
            parser.error(f"inits: --count {a.count} exceeds the {len(free_ports)} free source ports")
        send([ipv4(a.src, a.dst, 132, sctp_raw(port, a.dport, 0, init_chunk(rng.randrange(1, 1 << 32))))
              for port in rng.sample(free_ports, a.count)], a.dst)
    elif a.kind == "hostile":
        packets = hostile(a.sport, a.dport, a.vtag, a.sport if a.init_sport is None else a.init_sport)
        send([ipv4(a.src, a.dst, 132, p) for _, _, p in packets], a.dst)
        for name, reason, _ in packets:
            print(name, reason)
    elif a.kind == "hostile6":
        if not a.iface or not a.dst_mac:
            parser.error("hostile6 needs --iface and --dst-mac")
        with open(f"/sys/class/net/{a.iface}/address") as f:
            src_mac = bytes.fromhex(f.read().strip().replace(":", ""))
        ethernet = bytes.fromhex(a.dst_mac.replace(":", "")) + src_mac + struct.pack("!H", 0x86DD)
        packets = hostile6(a.src, a.dst)
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((a.iface, 0))
            for _, _, p in packets:
                s.send(ethernet + p)
        for name, reason, _ in packets:
            print(name, reason)
    elif a.kind == "data":
        import random
        rng = random.Random(a.id)
        packets = [sctp_packet(a.sport, a.dport, a.vtag or rng.randrange(1, 1 << 32), 16) for _ in range(a.count)]
        if ":" in a.dst:
            # IPv6: the kernel writes the IP header (raw socket of protocol 132, bound to --src).
            with socket.socket(socket.AF_INET6, socket.SOCK_RAW, 132) as s:
                s.bind((a.src, 0))
                for packet in packets:
                    s.sendto(packet, (a.dst, 0))
        else:
            send([ipv4(a.src, a.dst, 132, p) for p in packets], a.dst)
    elif a.kind == "lone-fragment":
        send([ipv4(a.src, a.dst, 132, b"\xab" * 64, a.id, 8)], a.dst)  # offset 64 bytes, last
    else:
        for needed in ("quote_src", "quote_dst"):
            if getattr(a, needed) is None:
                parser.error("icmp needs --quote-src and --quote-dst")
        quoted = ipv4(a.quote_src, a.quote_dst, 132,
                      sctp_packet(a.quote_sport, a.quote_dport, a.quote_vtag, 100))[:28]
        body = struct.pack("!BBHHH", a.type, a.code, 0, 0, a.mtu if a.type == 3 and a.code == 4 else 0) + quoted
        body = body[:2] + struct.pack("!H", checksum16(body)) + body[4:]
        send([ipv4(a.src, a.dst, 1, body)], a.dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
