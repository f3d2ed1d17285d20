#!/usr/bin/env python3
"""Known traffic for the views tests (tests/views.rs): a raw pcap of bidirectional exchanges
between local hosts (192.168.1.10, .11, .12, fd00::10) and remote peers, one per application the
default [applications] list names, plus an unlisted UDP port pair, an ICMP echo exchange, a flow
whose two ports are both listed, and one flow between two local hosts.

Writes tests/data/views_traffic.pcap and tests/data/views_traffic.truth.json (beside this file's
folder unless a directory is given). The truth lists each flow direction: src, dst, proto, sport,
dport, packets and bytes, where bytes are IP lengths (IPv4 total length; IPv6 payload length plus
its 40-byte header), as exporters such as softflowd count them. Python 3 standard library only;
the output is the same on every run.

How the truth was checked, without flowpi: tshark's sums of ip.len (ipv6.plen + 40) per direction
over the pcap equal it; so do softflowd's exports of the pcap (-v 9, -v 10, -v 10 -b) read by
tshark (-d udp.port==PORT,cflow), the bidirectional one carrying the other direction in RFC 5103
reverse counters (enterprise 29305, elements 1 and 2). softflowd -b sends the ICMP exchange as two
records, one with only forward and one with only reverse counts.

Usage: known_traffic.py [OUTDIR]
"""

import ipaddress
import json
import os
import struct
import sys

# Every packet lies within START .. START + 2 s (pcap time), so an exporter sees short flows.
START = 1_700_000_000
STEP_US = 2_000

# (name, proto, client, client port, server, server port,
#  [requests: count, payload], [replies: count, payload]).
# The client sends the requests, the server the replies. Sizes differ everywhere so that every
# list the views tests read has distinct totals (no ties in the sort order).
EXCHANGES = [
    ("web", "tcp", "192.168.1.10", 40001, "203.0.113.5", 443, (12, 300), (40, 1400)),
    ("quic", "udp", "192.168.1.10", 40002, "198.51.100.7", 443, (9, 1200), (25, 1250)),
    ("dns", "udp", "192.168.1.11", 40003, "198.51.100.53", 53, (4, 40), (4, 180)),
    ("ssh", "tcp", "192.168.1.12", 40004, "203.0.113.22", 22, (30, 64), (22, 500)),
    ("ntp", "udp", "192.168.1.11", 40005, "198.51.100.123", 123, (3, 48), (3, 48)),
    ("p2p", "tcp", "192.168.1.12", 40006, "203.0.113.99", 6881, (15, 900), (18, 1100)),
    ("other", "udp", "192.168.1.10", 40000, "203.0.113.77", 5555, (7, 500), (5, 100)),
    ("ping", "icmp", "192.168.1.11", 0, "203.0.113.5", 0, (5, 56), (5, 56)),
    # Local to local: both ends are hosts.
    ("lan-ssh", "tcp", "192.168.1.10", 40007, "192.168.1.12", 22, (20, 200), (16, 700)),
    ("web6", "tcp", "fd00::10", 40008, "2001:db8::443", 443, (8, 220), (14, 1220)),
    # Started by a remote client, to a local proxy port; both ports are listed (3128 web,
    # 6881 p2p): the lower port, 3128, decides.
    ("proxy", "tcp", "198.51.100.31", 6881, "192.168.1.12", 3128, (6, 400), (9, 1000)),
]

PROTO_NUM = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def transport(proto, src, dst, sport, dport, payload, seq, ack, icmp_type, ident):
    """The transport header and payload, checksummed over the pseudo-header. TCP segments are
    PSH+ACK mid-connection (`seq`, `ack`); ICMP echoes carry `seq` as their sequence number."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if proto == "tcp":
        hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x18, 65535, 0, 0)
    elif proto == "udp":
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    else:  # ICMP echo: type, code, checksum, identifier, sequence number
        hdr = struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq)
    seg = hdr + payload
    if proto == "icmp":
        pseudo = b""
    elif s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, PROTO_NUM[proto], len(seg))
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", len(seg), PROTO_NUM[proto])
    c = checksum(pseudo + seg)
    if proto == "udp" and c == 0:
        c = 0xFFFF
    at = {"tcp": 16, "udp": 6, "icmp": 2}[proto]
    return seg[:at] + struct.pack("!H", c) + seg[at + 2:]


def ip_packet(proto, src, dst, seg, ident):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ident & 0xFFFF, 0x4000, 64,
                          PROTO_NUM[proto], 0, s.packed, d.packed)
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        return 0x0800, hdr + seg
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(seg), PROTO_NUM[proto], 64, s.packed, d.packed)
    return 0x86DD, hdr + seg


def frame(ethertype, packet, from_client):
    client_mac, server_mac = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    dst, src = (server_mac, client_mac) if from_client else (client_mac, server_mac)
    return dst + src + struct.pack("!H", ethertype) + packet


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    packets = []  # (time in µs, frame)
    truth = []
    t = 0
    ident = 1
    for n, (name, proto, client, cport, server, sport, (nreq, lreq), (nrep, lrep)) in enumerate(EXCHANGES):
        ipv6 = ipaddress.ip_address(client).version == 6
        sides = {
            True: dict(src=client, dst=server, sport=cport, dport=sport, count=nreq, payload=lreq, packets=0, bytes=0,
                       seq=1000 + n),
            False: dict(src=server, dst=client, sport=sport, dport=cport, count=nrep, payload=lrep, packets=0, bytes=0,
                        seq=5000 + n),
        }
        # Requests and replies interleave: request i, then reply i, while either has any left.
        for i in range(max(nreq, nrep)):
            for from_client in (True, False):
                side = sides[from_client]
                if i >= side["count"]:
                    continue
                payload = bytes((n * 7 + i + k) & 0xFF for k in range(side["payload"]))
                icmp_type = 8 if from_client else 0
                if proto == "icmp":
                    seq, ack = i + 1, 0
                else:
                    seq, ack = side["seq"], sides[not from_client]["seq"]
                    side["seq"] += len(payload)
                seg = transport(proto, side["src"], side["dst"], side["sport"], side["dport"], payload,
                                seq, ack, icmp_type, 0x4242)
                ethertype, pkt = ip_packet(proto, side["src"], side["dst"], seg, ident)
                ident += 1
                packets.append((t, frame(ethertype, pkt, from_client)))
                t += STEP_US
                side["packets"] += 1
                side["bytes"] += len(pkt)
        for from_client in (True, False):
            s = sides[from_client]
            truth.append({
                "exchange": name,
                "src": s["src"],
                "dst": s["dst"],
                "proto": proto,
                "sport": s["sport"],
                "dport": s["dport"],
                "packets": s["packets"],
                "bytes": s["bytes"],
                "ipv6": ipv6,
            })
    assert t < 2_000_000, "keep the capture within two seconds"

    pcap = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
    for us, f in packets:
        pcap += struct.pack("<IIII", START + us // 1_000_000, us % 1_000_000, len(f), len(f)) + f
    with open(os.path.join(outdir, "views_traffic.pcap"), "wb") as out:
        out.write(pcap)
    totals = {
        "flows": len(truth),
        "packets": sum(f["packets"] for f in truth),
        "bytes": sum(f["bytes"] for f in truth),
    }
    with open(os.path.join(outdir, "views_traffic.truth.json"), "w") as out:
        json.dump({"generator": "tests/tools/known_traffic.py", "totals": totals, "flows": truth}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
