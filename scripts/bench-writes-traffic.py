#!/usr/bin/env python3
"""Steady NetFlow v5 traffic for scripts/bench-writes.sh.

Every INTERVAL seconds (of this process's clock, so under libfaketime fake seconds) one round:
each of HOSTS local hosts (192.168.1.1, 192.168.1.2, ... 250 per /24) receives one flow from and
sends one flow to a remote address (203.0.113.0/24), in on interface 1 and out on interface
2, 3 or 4, and back, so every host's and each of the 4 interfaces' archives get traffic in every
step. Flow times lie within the last INTERVAL seconds of the same clock. At most 30 records a
datagram, all from one exporter (the sending address).

Usage: bench-writes-traffic.py HOST:PORT HOSTS [INTERVAL]
"""

import socket
import struct
import sys
import time

RECORDS_PER_DATAGRAM = 30


def host_addr(i):
    return bytes([192, 168, 1 + i // 250, 1 + i % 250])


def remote_addr(i):
    return bytes([203, 0, 113, 1 + i % 250])


def record(src, dst, input_if, output_if, packets, octets, first, last, sport, dport):
    return struct.pack(
        "!4s4s4sHHIIIIHHBBBBHHBBH",
        src, dst, b"\0\0\0\0", input_if, output_if, packets, octets, first, last,
        sport, dport, 0, 0x18, 6, 0, 0, 0, 24, 0, 0,
    )


def main():
    target, hosts = sys.argv[1], int(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    addr, port = target.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dest = (addr, int(port))
    boot = time.time()
    seq = 0
    rounds = 0
    while True:
        now = time.time()
        uptime = int((now - boot) * 1000) & 0xFFFFFFFF
        first = max(0, uptime - int(interval * 1000))
        recs = []
        for i in range(hosts):
            h, r = host_addr(i), remote_addr(i)
            lan = 2 + i % 3
            n = 10 + (i + rounds) % 7
            recs.append(record(r, h, 1, lan, n, n * 1200, first, uptime, 443, 40000 + i % 20000))
            recs.append(record(h, r, lan, 1, n, n * 80, first, uptime, 40000 + i % 20000, 443))
        secs, nsecs = int(now), int((now % 1) * 1e9)
        for k in range(0, len(recs), RECORDS_PER_DATAGRAM):
            chunk = recs[k:k + RECORDS_PER_DATAGRAM]
            header = struct.pack("!HHIIIIBBH", 5, len(chunk), uptime, secs, nsecs, seq, 0, 0, 0)
            sock.sendto(header + b"".join(chunk), dest)
            seq = (seq + len(chunk)) & 0xFFFFFFFF
        rounds += 1
        # Keep the pace of the clock, not of the loop: sleep to the next multiple of the interval.
        time.sleep(max(0.0, boot + rounds * interval - time.time()))


if __name__ == "__main__":
    main()
