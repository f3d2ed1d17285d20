#!/usr/bin/env python3
"""The rrdcached side of scripts/bench-writes.sh: flowpi's archives, fed through rrdcached.

Creates HOSTS host files and 4 interface files under BASE (named like flowpi's:
hosts/192.168.1.1.rrd, interfaces/127.0.0.1_1.rrd) with flowpi's data sources and round-robin
archives: copied from a host and an interface file flowpi made under FLOWPI_DIR (rrdtool create
--template) when they appear within 10 simulated minutes, else those of src/rrd/schema.rs
create_args for the step (as of this writing). Then every STEP seconds of this process's clock
(fake seconds under libfaketime) it sends one update per file to rrdcached on unix socket SOCK, in
one BATCH, with that clock's time. rrdcached decides when the files are written (-w, -z); this
only feeds it. Writes "created" to stdout once every file exists, then one line per step:
"step N errors E".

Usage: bench-writes-rrdcached.py SOCK BASE HOSTS [STEP [FLOWPI_DIR]]
"""

import os
import socket
import subprocess
import sys
import time

DAY = 86400


def create_args(ds, step):
    """The same layout as src/rrd/schema.rs create_args: four ABSOLUTE sources, four tiers."""
    tiers_spec = [(0, 2 * DAY), (300, 14 * DAY), (3600, 92 * DAY), (DAY, 1826 * DAY)]
    tiers = []
    for i, (row_secs, span) in enumerate(tiers_spec):
        steps = 1 if i == 0 else max(1, (row_secs + step // 2) // step)
        rows = max(1, -(-span // (steps * step)))
        if i == 0:
            rows = min(rows, max(2880, -(-3900 // step)))
        if tiers and tiers[-1][0] >= steps:
            tiers[-1] = (tiers[-1][0], max(tiers[-1][1], rows))
        else:
            tiers.append((steps, rows))
    heartbeat = max(3 * step, 2)
    args = [f"DS:{n}:ABSOLUTE:{heartbeat}:0:U" for n in ds]
    for steps, rows in tiers:
        args.append(f"RRA:AVERAGE:0.5:{steps}:{rows}")
        if steps > 1:
            args.append(f"RRA:MAX:0.5:{steps}:{rows}")
    return args


def template(flowpi_dir, name, wait):
    """flowpi's own file of that kind, once it exists and has its full size; None after `wait` s."""
    if not flowpi_dir:
        return None
    path = os.path.join(flowpi_dir, name)
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            size = os.path.getsize(path)
            time.sleep(1)
            if size > 0 and os.path.getsize(path) == size:
                return path
        except OSError:
            time.sleep(1)
    return None


def main():
    sock_path, base, hosts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    step = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    flowpi_dir = sys.argv[5] if len(sys.argv) > 5 else None
    host_ds = ["rx_bytes", "tx_bytes", "rx_packets", "tx_packets"]
    iface_ds = ["in_bytes", "out_bytes", "in_packets", "out_packets"]
    files = [(f"hosts/192.168.{1 + i // 250}.{1 + i % 250}.rrd", host_ds) for i in range(hosts)]
    files += [(f"interfaces/127.0.0.1_{i}.rrd", iface_ds) for i in range(1, 5)]
    layouts = {}
    for kind, name, ds in [("host", files[0][0], host_ds), ("interface", files[-1][0], iface_ds)]:
        t = template(flowpi_dir, name, 600)
        if t:
            layouts[kind] = ["--template", t]
        else:
            layouts[kind] = create_args(ds, step)
            if flowpi_dir:
                sys.stderr.write(f"no {name} from flowpi: the {kind} files get schema.rs's layout as of this writing\n")
    start = int(time.time()) - step
    for name, ds in files:
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        layout = layouts["host" if name.startswith("hosts/") else "interface"]
        subprocess.run(["rrdtool", "create", path, "--step", str(step), "--start", str(start)] + layout, check=True)
    print("created", flush=True)

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(100):
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.5)
    else:
        sys.exit(f"cannot connect to rrdcached at {sock_path}")
    rd = s.makefile("r")
    t0 = time.time()
    n = 0
    last = start
    while True:
        n += 1
        time.sleep(max(0.0, t0 + n * step - time.time()))
        now = int(time.time())
        if now <= last:
            continue
        last = now
        lines = ["BATCH\n"]
        for k, (name, _) in enumerate(files):
            v = 10 + (k + n) % 7
            lines.append(f"UPDATE {name} {now}:{v * 1200 * 6}:{v * 80 * 6}:{v * 6}:{v * 6}\n")
        lines.append(".\n")
        s.sendall("".join(lines).encode())
        rd.readline()  # "0 Go ahead. End with dot '.' on its own line."
        head = rd.readline()  # "N errors"
        errors = int(head.split()[0]) if head.split() and head.split()[0].lstrip("-").isdigit() else -1
        for _ in range(max(errors, 0)):
            sys.stderr.write("rrdcached: " + rd.readline())
        print(f"step {n} errors {errors}", flush=True)


if __name__ == "__main__":
    main()
