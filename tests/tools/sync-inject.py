#!/usr/bin/env python3
"""sync-inject.py: re-send captured sctplb sync messages, as they were or tampered with.

Reads a pcap (tcpdump -w; Ethernet, Linux cooked or raw IP link types) of sctplb association
sync traffic (UDP, IPv4), picks the messages of one sender and sends chosen ones again from that
sender's address and port, forged at the IP level with a raw socket (IP_HDRINCL; the UDP
checksum is left 0, which RFC 768 allows for IPv4). Run it in a network namespace that routes to
the receiver. Standard library only.

Sync message layout (docs: the P4 contract; integers big-endian):
  0 magic "SLBS" | 4 version | 5 type | 6 flags | 8 key id (4) | 12 body length L (4)
  16 instance (8) | 24 epoch (8) | 32 sequence (8) | 40 config digest (16) | 56 body (L)
  56+L HMAC-SHA256 (32) over bytes [0, 56+L)

usage:
  sync-inject.py list PCAP [--from ADDR:PORT] [--to ADDR:PORT]
      one line per sync message: INDEX TYPE SEQUENCE EPOCH BODY-LENGTH SOURCE DESTINATION
  sync-inject.py send PCAP --from ADDR:PORT --to ADDR:PORT --index N --kind KIND
                 [--source-port P]
      send message N (an index from `list` with the same --from/--to) to --to, from --from
      (--source-port: from that port instead). KIND:
        replay       the exact bytes again
        flip-body    one body byte inverted, MAC kept (needs L > 0)
        remac        body byte inverted, sequence moved far ahead, MAC recomputed with a random
                     key under the real key id
        strip-mac    the MAC cut off (56 + L bytes)
        random-key-id  the key id replaced by a random one (MAC kept)
Exit status: 0 sent (or listed), 1 error, 2 usage error.
"""

import argparse
import hashlib
import hmac
import ipaddress
import os
import socket
import struct
import sys

HEADER_LENGTH = 56
MAC_LENGTH = 32
MAGIC = b"SLBS"
TYPE_NAMES = {1: "records", 2: "ack", 3: "table-request", 4: "table-end", 5: "keepalive"}


def endpoint(text):
    address, _, port = text.rpartition(":")
    try:
        return str(ipaddress.IPv4Address(address)), int(port)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{text}' is not an IPv4 ADDRESS:PORT") from error


def pcap_records(path):
    """Yields (link type, frame bytes) for every record of a classic pcap file."""
    with open(path, "rb") as stream:
        header = stream.read(24)
        if len(header) < 24:
            raise ValueError(f"{path}: not a pcap file")
        magic = header[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            order = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            order = ">"
        else:
            raise ValueError(f"{path}: not a classic pcap file (pcapng is not read)")
        link_type = struct.unpack(order + "I", header[20:24])[0] & 0x0FFFFFFF
        while True:
            record = stream.read(16)
            if len(record) < 16:
                return
            captured = struct.unpack(order + "I", record[8:12])[0]
            frame = stream.read(captured)
            if len(frame) < captured:
                return
            yield link_type, frame


def ipv4_payload(link_type, frame):
    """The IPv4 packet inside a frame, or None."""
    if link_type == 1:  # Ethernet, maybe one VLAN tag
        offset, ether_type = 14, frame[12:14]
        if ether_type == b"\x81\x00":
            offset, ether_type = 18, frame[16:18]
        return frame[offset:] if ether_type == b"\x08\x00" else None
    if link_type == 113:  # Linux cooked v1
        return frame[16:] if frame[14:16] == b"\x08\x00" else None
    if link_type == 276:  # Linux cooked v2
        return frame[20:] if frame[0:2] == b"\x08\x00" else None
    if link_type in (12, 101):  # raw IP
        return frame if frame[:1] and frame[0] >> 4 == 4 else None
    return None


def sync_messages(path):
    """Yields ((source, sport), (destination, dport), payload) for every sync message."""
    for link_type, frame in pcap_records(path):
        packet = ipv4_payload(link_type, frame)
        if packet is None or len(packet) < 20 or packet[9] != socket.IPPROTO_UDP:
            continue
        header_length = (packet[0] & 0x0F) * 4
        total = struct.unpack("!H", packet[2:4])[0]
        udp = packet[header_length:total]
        if len(udp) < 8:
            continue
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        payload = udp[8:length]
        if len(payload) < HEADER_LENGTH or payload[:4] != MAGIC:
            continue
        source = str(ipaddress.IPv4Address(packet[12:16]))
        destination = str(ipaddress.IPv4Address(packet[16:20]))
        yield (source, sport), (destination, dport), bytes(payload)


def selected(arguments):
    return [
        (source, destination, payload)
        for source, destination, payload in sync_messages(arguments.pcap)
        if (arguments.source is None or source == arguments.source)
        and (arguments.to is None or destination == arguments.to)
    ]


def fields(payload):
    kind, = struct.unpack("!B", payload[5:6])
    body_length, = struct.unpack("!I", payload[12:16])
    epoch, sequence = struct.unpack("!QQ", payload[24:40])
    return kind, body_length, epoch, sequence


def tampered(payload, kind):
    """The message to send for KIND."""
    _, body_length, _, sequence = fields(payload)
    signed_length = HEADER_LENGTH + body_length
    if len(payload) < signed_length:
        raise ValueError(f"the message is shorter ({len(payload)}) than its header says ({signed_length})")
    message = bytearray(payload)
    if kind == "replay":
        return bytes(message)
    if kind in ("flip-body", "remac"):
        if body_length == 0:
            raise ValueError(f"{kind} needs a message with a body")
        message[signed_length - 1] ^= 0xFF
        if kind == "flip-body":
            return bytes(message)
        # A sequence never seen, so only the MAC can tell it apart from a fresh message.
        message[32:40] = struct.pack("!Q", sequence + 1_000_000)
        mac = hmac.new(os.urandom(32), bytes(message[:signed_length]), hashlib.sha256).digest()
        return bytes(message[:signed_length]) + mac
    if kind == "strip-mac":
        return bytes(message[:signed_length])
    if kind == "random-key-id":
        key_id = bytes(message[8:12])
        while key_id == bytes(message[8:12]):
            key_id = os.urandom(4)
        message[8:12] = key_id
        return bytes(message)
    raise ValueError(f"unknown kind '{kind}'")


def ip_checksum(header):
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def send_forged(source, destination, payload):
    """One IPv4/UDP datagram from SOURCE to DESTINATION (each (address, port)), UDP checksum 0."""
    udp = struct.pack("!HHHH", source[1], destination[1], 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), int.from_bytes(os.urandom(2), "big"),
                         0x4000, 64, socket.IPPROTO_UDP, 0, socket.inet_aton(source[0]),
                         socket.inet_aton(destination[0]))
    header = header[:10] + struct.pack("!H", ip_checksum(header)) + header[12:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        raw.sendto(header + udp, (destination[0], 0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["list", "send"])
    parser.add_argument("pcap")
    parser.add_argument("--from", dest="source", type=endpoint, help="the sender ADDR:PORT")
    parser.add_argument("--to", type=endpoint, help="the receiver ADDR:PORT")
    parser.add_argument("--index", type=int)
    parser.add_argument("--kind", choices=["replay", "flip-body", "remac", "strip-mac", "random-key-id"])
    parser.add_argument("--source-port", type=int)
    arguments = parser.parse_args()
    try:
        messages = selected(arguments)
        if arguments.command == "list":
            for index, (source, destination, payload) in enumerate(messages):
                kind, body_length, epoch, sequence = fields(payload)
                print(index, TYPE_NAMES.get(kind, str(kind)), sequence, epoch, body_length,
                      "%s:%d" % source, "%s:%d" % destination)
            return 0
        if None in (arguments.source, arguments.to, arguments.index, arguments.kind):
            parser.error("send needs --from, --to, --index and --kind")
        if not 0 <= arguments.index < len(messages):
            raise ValueError(f"no message {arguments.index} "
                             f"({len(messages)} from {arguments.source} to {arguments.to})")
        payload = tampered(messages[arguments.index][2], arguments.kind)
        source = (arguments.source[0], arguments.source_port or arguments.source[1])
        send_forged(source, arguments.to, payload)
        print(f"sent {arguments.kind} of message {arguments.index}: {len(payload)} bytes "
              f"{source[0]}:{source[1]} -> {arguments.to[0]}:{arguments.to[1]}")
        return 0
    except (OSError, ValueError) as error:
        print(f"sync-inject.py: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
