#!/usr/bin/python3
"""Ossa HL7 benchmark: ADT^A08 messages per second through MLLP into the hl7 plugin.

A fresh `ossa serve` with the hl7 plugin (plugins/hl7) gets `--patients` patients (one small CT
instance each, stored with storescu before timing). Then A08 messages (v2.5.1, a new name, birth
date and sex for one of those patients each, unique control IDs) are sent over MLLP and every ACK
is awaited before the next message on that connection: each message is journalled twice
(SQLite, synchronous=FULL), applied to the index (update_patient: one index transaction) and
acknowledged. Measured for 1 connection and for several at once (threads, one connection each);
the wall time from the first send to the last ACK gives messages/s; per-message round trips give
the latency percentiles. Every ACK must be AA.

    /usr/bin/python3 bench/hl7.py [--count 2000] [--connections 1,4] [--runs 3] [--patients 100]
                                  [--work /tmp/ossa-bench-hl7] [--ossa PATH] [--plugin PATH]

The plugin is --plugin, else <build>/plugins/hl7/hl7.so beside <build>/core/ossa.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


class Hl7Server(benchlib.OssaServer):
    def __init__(self, ossa_bin, root, plugin, hl7_port, **kw):
        super().__init__(ossa_bin, root, **kw)
        self.plugin = plugin
        self.hl7_port = hl7_port

    def write_config(self):
        super().write_config()
        config = {"port": self.hl7_port, "state_dir": os.path.join(self.root, "hl7-state"),
                  "max_connections": 64}
        with open(self.config, "a") as f:
            f.write("plugins: %s\n" % json.dumps([{"path": self.plugin, "config": config}]))


def a08(control_id, patient):
    return ("MSH|^~\\&|HIS|HOSP|OSSA|PACS|20240301101500||ADT^A08^ADT_A01|%s|P|2.5.1\r"
            "EVN|A08|20240301101500\r"
            "PID|1||%s^^^HOSP^MR||Bench^%s^Q||19700101|F\r"
            "PV1|1|O\r" % (control_id, patient, control_id)).encode()


def read_frame(sock, buffer):
    while True:
        end = buffer.find(FS + CR)
        if end >= 0:
            start = buffer.find(VT)
            return bytes(buffer[start + 1:end]), buffer[end + 2:]
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buffer += chunk


def sender(port, messages, latencies, errors):
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        for m in messages:
            t0 = time.perf_counter()
            sock.sendall(VT + m + FS + CR)
            ack, buffer = read_frame(sock, buffer)
            latencies.append(time.perf_counter() - t0)
            if b"MSA|AA|" not in ack:
                errors.append(ack.decode(errors="replace"))
        sock.close()
    except Exception as e:  # noqa: BLE001 - reported as a failed run
        errors.append(repr(e))


def make_patients(work, count):
    import pydicom  # noqa: F401 (Debian's python3-pydicom)
    sys.path.insert(0, os.path.join(benchlib.REPO_ROOT, "tests", "integration"))
    import ossa_harness as h
    folder = os.path.join(work, "data-%d" % count)
    if not os.path.isdir(folder) or len(os.listdir(folder)) != count:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for i in range(count):
            h.make_instance(os.path.join(folder, "p%05d.dcm" % i), patient_id="BP%05d" % i,
                            patient_name="Bench^Patient")
    return folder


def run_once(args, ossa_bin, plugin, data, connections, run_index):
    root = os.path.join(args.work, "run-%d-%d" % (connections, run_index))
    shutil.rmtree(root, ignore_errors=True)
    hl7_port = benchlib.free_port()
    srv = Hl7Server(ossa_bin, root, plugin, hl7_port)
    srv.start()
    try:
        r = subprocess.run(["storescu", "-aec", "OSSA", "+sd", "+r", "127.0.0.1", str(srv.port),
                            data], capture_output=True, env=benchlib.dcmtk_env())
        if r.returncode != 0:
            sys.exit("storescu failed: %s" % r.stderr.decode(errors="replace"))
        if not benchlib.wait_port(hl7_port, srv.proc):
            sys.exit("the hl7 plugin does not listen; log:\n%s" % srv.log_tail())
        per = [[] for _ in range(connections)]
        for i in range(args.count):
            per[i % connections].append(
                a08("B%d-%d-%07d" % (run_index, connections, i), "BP%05d" % (i % args.patients)))
        latencies, errors = [], []
        threads = [threading.Thread(target=sender, args=(hl7_port, m, latencies, errors))
                   for m in per]
        subprocess.run(["sync"])
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if errors:
            sys.exit("run failed (%d errors), first: %s\n%s" % (len(errors), errors[0],
                                                                 srv.log_tail()))
        return args.count / elapsed, sorted(latencies)
    finally:
        srv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--connections", default="1,4")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--patients", type=int, default=100)
    p.add_argument("--work", default="/tmp/ossa-bench-hl7")
    p.add_argument("--ossa")
    p.add_argument("--plugin")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    benchlib.require_tool("storescu")
    plugin = args.plugin or os.path.join(os.path.dirname(os.path.dirname(ossa_bin)), "plugins",
                                         "hl7", "hl7.so")
    if not os.path.isfile(plugin):
        sys.exit("error: hl7 plugin not found at %s (use --plugin)" % plugin)
    os.makedirs(args.work, exist_ok=True)
    data = make_patients(args.work, args.patients)
    print("HL7 ADT^A08 through MLLP: %d messages per run, %d patients, median of %d runs"
          % (args.count, args.patients, args.runs))
    print("%-12s %12s %12s %12s" % ("connections", "msg/s", "p50 ms", "p99 ms"))
    for connections in [int(c) for c in args.connections.split(",")]:
        rates, p50s, p99s = [], [], []
        for run in range(args.runs):
            rate, lat = run_once(args, ossa_bin, plugin, data, connections, run)
            rates.append(rate)
            p50s.append(lat[len(lat) // 2] * 1000)
            p99s.append(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000)
        print("%-12d %12.0f %12.2f %12.2f" % (connections, statistics.median(rates),
                                             statistics.median(p50s), statistics.median(p99s)))


if __name__ == "__main__":
    main()
