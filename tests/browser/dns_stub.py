#!/usr/bin/env python3
"""A DNS server stub for the browser test: answers PTR queries from a fixed table (as a home
router answers for its DHCP clients) and NXDOMAIN for anything else. Prints its port, then
serves until killed.
Usage: dns_stub.py ADDRESS=NAME ..."""
import socket
import struct
import sys


def reverse_name(addr: str) -> str:
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa"


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def main() -> None:
    table = {}
    for arg in sys.argv[1:]:
        addr, name = arg.split("=", 1)
        table[reverse_name(addr)] = name
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        query, peer = sock.recvfrom(512)
        if len(query) < 17:
            continue
        qid, _flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            continue
        # The question: labels up to the root, then type and class.
        i, labels = 12, []
        while i < len(query) and query[i] != 0:
            n = query[i]
            labels.append(query[i + 1:i + 1 + n].decode(errors="replace"))
            i += 1 + n
        question = query[12:i + 5]
        qtype = struct.unpack("!H", query[i + 1:i + 3])[0] if i + 3 <= len(query) else 0
        name = table.get(".".join(labels).lower())
        if name is None or qtype != 12:
            # NXDOMAIN (rcode 3), the question echoed.
            sock.sendto(struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question, peer)
            continue
        rdata = encode_name(name)
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 300, len(rdata)) + rdata
        sock.sendto(struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer, peer)


if __name__ == "__main__":
    main()
