#!/usr/bin/env python3
"""merge-pcaps.py OUT.pcap IN.pcap... : merge classic pcap files by timestamp (tests/vm).

The VM suite captures path A at vm-201 and path B at vm-202 in two files; one file with both
paths, in time order, is what the replay tests want. Every input must have the same link type
(Ethernet here). Microsecond or nanosecond pcap; the output keeps the first input's header.
"""
import heapq
import struct
import sys

MAGICS = {0xA1B2C3D4: 1_000, 0xA1B23C4D: 1}  # ns per fractional unit: micro, nano


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit(f"{path}: not a pcap file")
    for order in "<>":
        magic = struct.unpack(order + "I", data[:4])[0]
        if magic in MAGICS:
            break
    else:
        raise SystemExit(f"{path}: not a classic pcap file (pcapng is not handled)")
    unit = MAGICS[magic]
    linktype = struct.unpack(order + "I", data[20:24])[0]
    packets, offset = [], 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(order + "IIII", data[offset : offset + 16])
        end = offset + 16 + caplen
        if end > len(data):
            break  # a truncated last record (capture stopped mid-write)
        packets.append((sec * 1_000_000_000 + frac * unit, data[offset:end]))
        offset = end
    return data[:24], linktype, packets


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    header, linktype, streams = None, None, []
    for index, path in enumerate(sys.argv[2:]):
        h, lt, packets = read(path)
        if header is None:
            header, linktype = h, lt
        elif lt != linktype or h[:4] != header[:4]:
            raise SystemExit(f"{path}: link type or byte order differs from the first input")
        streams.append([(t, index, n, record) for n, (t, record) in enumerate(packets)])
    with open(sys.argv[1], "wb") as out:
        out.write(header)
        for _, _, _, record in heapq.merge(*streams):
            out.write(record)


if __name__ == "__main__":
    main()
