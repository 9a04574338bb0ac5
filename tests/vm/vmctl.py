#!/usr/bin/env python3
"""vmctl.py SOCKET [--timeout S] COMMAND...: run one shell command in a VM of the suite.

The guest (tests/vm/guest/init) reads its second serial port, /dev/ttyS1, one line at a time
and evaluates each; qemu connects that port to the unix SOCKET. The command is sent as one line,
wrapped so that it reads no terminal input and ends with a marker carrying its exit status and a
random token: output is printed up to the marker and the status becomes ours. Exit 124 when no
marker came within the timeout (the guest hung or died), 125 when the socket is unusable.
"""
import os
import re
import secrets
import socket
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    timeout = 60.0
    if len(args) >= 2 and args[1] == "--timeout":
        timeout = float(args[2])
        del args[1:3]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, command = args[0], " ".join(args[1:])
    if "\n" in command:
        print("vmctl: the command must be one line", file=sys.stderr)
        return 2
    token = secrets.token_hex(6)
    wrapped = f"( {command} ) </dev/null 2>&1; echo \"@@vmctl $? {token}@@\"".encode()
    # The guest runs the command only when LENGTH matches what arrived (a serial line can lose
    # bytes); otherwise it answers with the garbled marker and we send it again.
    line = b"VMCTL %d " % len(wrapped) + wrapped + b"\n"
    marker = re.compile(rb"@@vmctl (\d+) " + token.encode() + rb"@@")
    garbled = re.compile(rb"@@vmctl-garbled (\d+) (\d+)@@")
    sends_left = 3
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.connect(path)
            break
        except OSError as error:
            if time.monotonic() > deadline:
                print(f"vmctl: cannot connect to {path}: {error}", file=sys.stderr)
                return 125
            time.sleep(0.1)
    sock.sendall(line)
    sends_left -= 1
    received = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.stdout.buffer.write(received)
            print(f"\nvmctl: no answer within {timeout:g} s to: {command}", file=sys.stderr)
            return 124
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            sys.stdout.buffer.write(received)
            print(f"\nvmctl: the VM closed the channel during: {command}", file=sys.stderr)
            return 125
        received += chunk
        bad = garbled.search(received)
        if bad:
            print(f"vmctl: the guest received {bad.group(1).decode()} of {bad.group(2).decode()} bytes"
                  f" of the command line{'; sending it again' if sends_left else ''}", file=sys.stderr)
            if not sends_left:
                return 125
            received = received[bad.end():]
            sock.sendall(line)
            sends_left -= 1
            continue
        match = marker.search(received)
        if match:
            sys.stdout.buffer.write(received[: match.start()].replace(b"\r", b""))
            sys.stdout.flush()
            return int(match.group(1))


if __name__ == "__main__":
    sys.exit(main())
