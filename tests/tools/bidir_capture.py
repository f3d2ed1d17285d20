#!/usr/bin/env python3
"""Known two-way traffic, and what softflowd makes of it in IPFIX bidirectional mode (RFC 5103).

Writes tests/data/bidir_traffic.pcap (Ethernet frames: a TCP connection and a UDP exchange
between 192.168.1.10 and 203.0.113.5, one IPv6 UDP exchange, and one UDP flow that gets no
answer), tests/data/bidir_traffic.truth.json (bytes and packets per direction, IP bytes as
exporters count them), then runs `softflowd -r ... -v 10 -b -6` at a UDP socket of its own and
stores every datagram it sent as tests/data/softflowd_v10_bidir.pcap.

softflowd in -r mode only gets on while its control socket is poked, so this pokes it.

Usage: tests/tools/bidir_capture.py [OUT_DIR]   (default tests/data; needs softflowd)
"""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

A4, B4 = "192.168.1.10", "203.0.113.5"
A6, B6 = "fd00:1::10", "2001:db8::5"
# A local host whose datagrams get no reply (the reverse counts must be zero).
C4, D4 = "192.168.1.20", "198.51.100.7"
START = 1_700_000_000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload):
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ip6(src, dst, proto, payload):
    return struct.pack(
        "!IHBB16s16s",
        6 << 28, len(payload), proto, 64,
        socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst),
    ) + payload


def l4(src, dst, proto, seg, v6):
    """Fill in a TCP/UDP checksum over the pseudo-header."""
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    pseudo = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
    pseudo += struct.pack("!IxxxB", len(seg), proto) if v6 else struct.pack("!xBH", proto, len(seg))
    at = 16 if proto == 6 else 6
    c = csum(pseudo + seg) or 0xFFFF
    return seg[:at] + struct.pack("!H", c) + seg[at + 2:]


def tcp(src, dst, sport, dport, flags, seq, ack, data):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
    return ip4(src, dst, 6, l4(src, dst, 6, seg, False))


def udp(src, dst, sport, dport, data, v6=False):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    seg = l4(src, dst, 17, seg, v6)
    return ip6(src, dst, 17, seg) if v6 else ip4(src, dst, 17, seg)


def ether(ip, v6):
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", 0x86DD if v6 else 0x0800) + ip


def pcap(frames):
    """Classic pcap, Ethernet; frames are (seconds, bytes)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for t, f in frames:
        out += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(f), len(f)) + f
    return out


def traffic():
    """(frames, flows): frames in time order; flows keyed by direction."""
    pkts = []  # (time, src, dst, proto, sport, dport, ip packet, v6)
    t = START

    def add(src, dst, proto, sport, dport, ip, v6=False):
        nonlocal t
        t += 0.01
        pkts.append((t, src, dst, proto, sport, dport, ip, v6))

    # TCP 192.168.1.10:40010 -> 203.0.113.5:443: handshake, a request, a three-segment reply,
    # and a FIN from each side.
    S, SA, A, PA, FA = 0x02, 0x12, 0x10, 0x18, 0x11
    c, s = 1000, 5000
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, S, c, 0, b""))
    add(B4, A4, 6, 443, 40010, tcp(B4, A4, 443, 40010, SA, s, c + 1, b""))
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, A, c + 1, s + 1, b""))
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, PA, c + 1, s + 1, b"q" * 300))
    for n in (1400, 1400, 777):
        add(B4, A4, 6, 443, 40010, tcp(B4, A4, 443, 40010, PA, s + 1, c + 301, b"r" * n))
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, A, c + 301, s + 3578, b""))
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, FA, c + 301, s + 3578, b""))
    add(B4, A4, 6, 443, 40010, tcp(B4, A4, 443, 40010, FA, s + 3578, c + 302, b""))
    add(A4, B4, 6, 40010, 443, tcp(A4, B4, 40010, 443, A, c + 302, s + 3579, b""))
    # UDP 192.168.1.10:40011 <-> 203.0.113.5:53: two queries, two answers.
    for q, r in ((40, 200), (45, 480)):
        add(A4, B4, 17, 40011, 53, udp(A4, B4, 40011, 53, b"q" * q))
        add(B4, A4, 17, 53, 40011, udp(B4, A4, 53, 40011, b"a" * r))
    # IPv6 UDP fd00:1::10:40012 <-> 2001:db8::5:123: one request, two replies.
    add(A6, B6, 17, 40012, 123, udp(A6, B6, 40012, 123, b"n" * 48, True), True)
    for n in (48, 100):
        add(B6, A6, 17, 123, 40012, udp(B6, A6, 123, 40012, b"m" * n, True), True)
    # UDP 192.168.1.20:40013 -> 198.51.100.7:514, never answered.
    for n in (120, 130, 140):
        add(C4, D4, 17, 40013, 514, udp(C4, D4, 40013, 514, b"s" * n))

    flows = {}
    for _, src, dst, proto, sport, dport, ip, v6 in pkts:
        k = (src, dst, proto, sport, dport)
        f = flows.setdefault(k, {"src": src, "dst": dst, "proto": {6: "tcp", 17: "udp"}[proto],
                                 "sport": sport, "dport": dport, "packets": 0, "bytes": 0, "ipv6": v6})
        f["packets"] += 1
        # Exporters count the IP packet (IPv6: header included), not the Ethernet frame.
        f["bytes"] += len(ip)
    frames = [(t, ether(ip, v6)) for t, _, _, _, _, _, ip, v6 in pkts]
    return frames, list(flows.values())


def export(traffic_pcap, out_pcap):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.1)
    port = rx.getsockname()[1]
    got = []
    with tempfile.TemporaryDirectory() as tmp:
        ctl = os.path.join(tmp, "ctl")
        p = subprocess.Popen(
            ["softflowd", "-r", traffic_pcap, "-n", f"127.0.0.1:{port}", "-v", "10", "-b", "-6", "-d",
             "-c", ctl, "-p", os.path.join(tmp, "pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                d, src = rx.recvfrom(65535)
                got.append((time.time(), src, d))
                continue
            except socket.timeout:
                pass
            if p.poll() is not None:
                break
            subprocess.run(["softflowctl", "-c", ctl, "statistics"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            p.kill()
            sys.exit("softflowd did not finish")
    # What is left in the socket after softflowd exited.
    while True:
        try:
            d, src = rx.recvfrom(65535)
            got.append((time.time(), src, d))
        except socket.timeout:
            break
    if p.returncode != 0 or not got:
        sys.exit(f"softflowd exited with {p.returncode}, {len(got)} datagrams")
    frames = []
    for i, (_, src, d) in enumerate(got):
        seg = struct.pack("!HHHH", src[1], 2055, 8 + len(d), 0) + d
        frames.append((START + 60 + i, ether(ip4("127.0.0.1", "127.0.0.1", 17, seg), False)))
    with open(out_pcap, "wb") as f:
        f.write(pcap(frames))
    return len(got)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    frames, flows = traffic()
    traffic_pcap = os.path.join(out, "bidir_traffic.pcap")
    with open(traffic_pcap, "wb") as f:
        f.write(pcap(frames))
    with open(os.path.join(out, "bidir_traffic.truth.json"), "w") as f:
        json.dump({"flows": flows}, f, indent=1)
        f.write("\n")
    n = export(traffic_pcap, os.path.join(out, "softflowd_v10_bidir.pcap"))
    print(f"{len(frames)} packets in {len(flows)} one-way flows; softflowd sent {n} datagrams")


if __name__ == "__main__":
    main()
