#!/usr/bin/python3
"""Ossa with hundreds of simultaneous clients, against the DEFAULT configuration (issue 7 item 3).

1. Starts `ossa serve` with a configuration that sets only what a test must (AE title, free port on
   127.0.0.1, folders): server.max_associations, the timeouts and the PDU size are the defaults.
   Stores a seed study (--seed-instances, default 20) for the C-FIND and C-GET clients.
2. Starts the DCMTK clients at once (real processes, TCP_NODELAY=1), 20% of --clients by
   default: ~55% storescu (each --files-per-store new instances), ~25% findscu (--find-repeat
   C-FINDs on one association), ~20% getscu (the seed study, received and discarded); each lives
   about a minute. Then opens the stalled peers (raw sockets, bench/dul.py; 10% of --clients):
   a third connect and never send anything (freed after server.acse_timeout), a third send half an
   A-ASSOCIATE-RQ and stop, a third complete the association and then go silent. Then --held
   associations (default 70%; raw A-ASSOCIATE-RQ, 32 at a time, each sending a C-ECHO every second
   so the DIMSE timeout leaves them alone), held until the DCMTK clients are done: starting hundreds
   of processes on two cores takes longer than most of them live, so without them the clients
   would never all be connected at the same moment.
3. While they run, samples every 0.1 s the established TCP connections to the server's port
   (/proc/net/tcp), its threads, fds and RSS.
4. Checks: every client exited 0, every stored instance is in the storage, each getscu received
   the whole study, the server logged no rejection or refused connection; the stalled clients
   were closed by the server within their timeout (+ slack; an idle association gets A-ABORT after
   server.dimse_timeout and then up to the ARTIM = acse_timeout for the peer to close) while the
   others kept storing; after everything ended, threads and sockets are back at the baseline
   (taken after a warm-up of concurrent C-FINDs; the index pools up to 16 idle read connections,
   whose files may stay open).
   Prints a markdown table (also WORK/result.md) and exits 1 if any check failed.

    /usr/bin/python3 bench/concurrency.py [--clients 500] [--stalled 50] [--work /tmp/ossa-bench-concurrency]
        [--ossa PATH]
"""

import argparse
import concurrent.futures
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import dul  # noqa: E402
from scale import ScaleServer, build_template, encode_file  # noqa: E402

UID_ROOT = "1.2.826.0.1.3680043.8.498.80"
DEFAULT_ACSE = 30
DEFAULT_DIMSE = 60


def write_instances(outdir, study_no, count):
    """`count` small MR instances of one study (study_no) in `outdir`."""
    os.makedirs(outdir, exist_ok=True)
    template = build_template()
    study = f"{UID_ROOT}.1.{study_no}"
    for n in range(1, count + 1):
        v = {0x00080016: b"1.2.840.10008.5.1.4.1.1.4", 0x00080018: f"{UID_ROOT}.3.{study_no}.{n}".encode(),
             0x00080020: b"20240101", 0x00080060: b"MR", 0x00100010: f"CONC^{study_no}".encode(),
             0x00100020: f"C{study_no:05d}".encode(), 0x0020000D: study.encode(),
             0x0020000E: f"{UID_ROOT}.2.{study_no}".encode(), 0x00200013: str(n).encode()}
        with open(os.path.join(outdir, f"{n:04d}.dcm"), "wb") as f:
            f.write(encode_file(template, v))
    return study


def established_connections(port):
    """Established TCP connections whose local port is `port` (the server's side)."""
    n = 0
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "01":
                n += 1
    return n


class Sampler(threading.Thread):
    def __init__(self, pid, port):
        super().__init__(daemon=True)
        self.pid, self.port = pid, port
        self.peak = {"connections": 0, "threads": 0, "fds": 0, "rss_kb": 0}
        self.running = True

    def run(self):
        while self.running:
            try:
                threads, fds, rss, _ = dul.process_counts(self.pid)
                conns = established_connections(self.port)
            except (OSError, ValueError):
                return
            for k, v in (("connections", conns), ("threads", threads), ("fds", fds), ("rss_kb", rss)):
                self.peak[k] = max(self.peak[k], v)
            time.sleep(0.1)


def open_stalled(port, kind, i):
    """A peer that stops mid-association: 'silent' (TCP only), 'half' (half a request PDU),
    'idle' (association established, then nothing)."""
    if kind == "idle":
        return dul.open_association(port, calling=f"STALL{i}", timeout=30)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if kind == "half":
        rq = dul.associate_rq(calling=f"STALL{i}")
        sock.sendall(rq[:len(rq) // 2])
    return sock


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=500, help="simultaneous associations in all (default 500)")
    ap.add_argument("--stalled", type=int, help="of which stalled raw sockets (default clients/10)")
    ap.add_argument("--held", type=int, help="of which associations held open and echoing during the "
                                             "DCMTK clients' run (default 70%% of clients)")
    ap.add_argument("--files-per-store", type=int, default=200)
    ap.add_argument("--find-repeat", type=int, default=200)
    ap.add_argument("--seed-instances", type=int, default=20)
    ap.add_argument("--work", default="/tmp/ossa-bench-concurrency")
    ap.add_argument("--src", default="/dev/shm/ossa-bench-concurrency-src", help="generated files (RAM)")
    ap.add_argument("--ossa")
    args = ap.parse_args()
    ossa_bin = benchlib.resolve_ossa(args.ossa)
    for tool in ("storescu", "findscu", "getscu"):
        benchlib.require_tool(tool)
    n_stalled = args.clients // 10 if args.stalled is None else args.stalled
    n_held = round(args.clients * 0.7) if args.held is None else args.held
    n_active = args.clients - n_stalled - n_held
    n_store = round(n_active * 0.55)
    n_get = round(n_active * 0.20)
    n_find = n_active - n_store - n_get

    work, src = os.path.abspath(args.work), os.path.abspath(args.src)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(work)
    t = time.perf_counter()
    seed_study = write_instances(os.path.join(src, "seed"), 1, args.seed_instances)
    for i in range(n_store):
        write_instances(os.path.join(src, f"store{i}"), 1000 + i, args.files_per_store)
    query = os.path.join(src, "query.dcm")
    subprocess.run(["dump2dcm", "/dev/stdin", query], input=(
        "(0008,0052) CS [STUDY]\n(0020,000d) UI [%s]\n(0010,0010) PN []\n(0008,0020) DA []\n"
        "(0008,0061) CS []\n(0020,1208) IS []\n" % seed_study).encode(), check=True)
    print(f"generated {n_store * args.files_per_store + args.seed_instances} files in "
          f"{time.perf_counter() - t:.1f}s", flush=True)

    server = ScaleServer(ossa_bin, os.path.join(work, "archive"), log_level="info")
    server.start()
    pid = server.proc.pid
    env = benchlib.dcmtk_env()
    problems = []
    try:
        r = subprocess.run(["storescu", "-aec", "OSSA", "+sd", "127.0.0.1", str(server.port),
                            os.path.join(src, "seed")], capture_output=True, env=env)
        if r.returncode != 0:
            sys.exit(f"error: seed study not stored: {r.stderr.decode()}")
        # Warm-up: concurrent C-FINDs fill the index's pool of idle read connections (up to 16,
        # each with its fds), so that the baseline below already holds what stays open by design.
        warm = [subprocess.Popen(["findscu", "-S", "-aec", "OSSA", "127.0.0.1", str(server.port), query],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env) for _ in range(24)]
        for p in warm:
            p.wait()
        time.sleep(1.0)
        base_threads, base_fds, base_rss, _ = dul.process_counts(pid)
        base_sockets = dul.socket_fds(pid)
        sampler = Sampler(pid, server.port)
        sampler.start()

        # The DCMTK clients first (each lives about a minute: 200 stores or C-FINDs), then the stalled
        # peers and the held associations, so that all are connected at the same time.
        kinds_to_start = ["store"] * n_store + ["find"] * n_find + ["get"] * n_get
        random.Random(5).shuffle(kinds_to_start)
        procs = []
        t0 = time.perf_counter()
        for i, kind in enumerate(kinds_to_start):
            common = ["-aec", "OSSA", "-aet", f"{kind.upper()}{i}", "-to", "120"]
            if kind == "store":
                k = sum(1 for kk, _ in procs if kk == "store")
                cmd = ["storescu"] + common + ["+sd", "127.0.0.1", str(server.port), os.path.join(src, f"store{k}")]
            elif kind == "find":
                cmd = ["findscu", "-S"] + common + ["--repeat", str(args.find_repeat), "127.0.0.1",
                                                    str(server.port), query]
            else:
                cmd = ["getscu", "-v", "-S"] + common + ["--ignore", "-k", "QueryRetrieveLevel=STUDY",
                                                         "-k", f"StudyInstanceUID={seed_study}",
                                                         "127.0.0.1", str(server.port)]
            procs.append((kind, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)))
        # stalled peers first
        kinds = ["silent", "half", "idle"]
        stalled = []
        for i in range(n_stalled):
            kind = kinds[i % 3]
            try:
                stalled.append((kind, open_stalled(server.port, kind, i), time.monotonic()))
            except (OSError, RuntimeError, ConnectionError) as e:
                problems.append(f"stalled client {i} ({kind}) could not even connect/associate: {e}")
        # when does the server close each stalled peer? watched while everything else runs
        closed = {}
        watch_stop = threading.Event()

        def watch():
            while not watch_stop.is_set() and len(closed) < len(stalled):
                for i, (_, sock, opened) in enumerate(stalled):
                    if i not in closed and dul.peer_closed(sock):
                        closed[i] = time.monotonic() - opened
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # held associations: opened one after another and kept busy with a C-ECHO each second
        # (so the DIMSE timeout does not end them) until the DCMTK clients are done; they make
        # the number of simultaneous associations independent of how fast processes start
        held, echoes = [], {"ok": 0, "failed": 0}
        keep_stop = threading.Event()

        def keepalive():
            n = 1
            while not keep_stop.wait(1.0):
                n += 1
                for sock in list(held):
                    try:
                        echoes["ok" if dul.echo(sock, n % 65536) else "failed"] += 1
                    except (OSError, ConnectionError):
                        echoes["failed"] += 1

        pinger = threading.Thread(target=keepalive, daemon=True)
        pinger.start()
        def open_held(i):
            try:
                held.append(dul.open_association(server.port, calling=f"HELD{i}", timeout=60))
            except (OSError, RuntimeError, ConnectionError) as e:
                problems.append(f"held association {i} not accepted: {e}")

        # opened 32 at a time, so all are up well within the stalled peers' 30 s
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(open_held, range(n_held)))
        # then everyone else at once
        outputs = [(kind, p.communicate()[0].decode("utf-8", "replace"), p.returncode) for kind, p in procs]
        active_wall = time.perf_counter() - t0
        counts = {k: sum(1 for kk, _ in procs if kk == k) for k in ("store", "find", "get")}
        for kind, out, rc in outputs:
            if rc != 0:
                problems.append(f"{kind} client exited {rc}: {out.strip()[-300:]}")
            elif kind == "get" and out.count("Received C-STORE Request") != args.seed_instances:
                problems.append(f"getscu received {out.count('Received C-STORE Request')} instances, "
                                f"expected {args.seed_instances}: {out.strip()[-300:]}")
        keep_stop.set()
        pinger.join()
        released = sum(1 for sock in held if dul.echo(sock, 1) and dul.release(sock))
        if released != len(held) or echoes["failed"]:
            problems.append(f"held associations: {released}/{len(held)} released cleanly, "
                            f"{echoes['failed']} C-ECHOs failed")
        # stalled peers: the server must close every one within its timeout (+ slack)
        slack = 15
        watcher.join(timeout=max(0.0, stalled[-1][2] + DEFAULT_DIMSE + DEFAULT_ACSE + slack - time.monotonic())
                     if stalled else 0)
        watch_stop.set()
        watcher.join()
        for i, (kind, s, _) in enumerate(stalled):
            # After the DIMSE timeout the server sends A-ABORT and then, as the DUL state machine
            # says (Sta13), waits up to the ARTIM (= ACSE) timeout for the peer to close.
            limit = (DEFAULT_DIMSE + DEFAULT_ACSE if kind == "idle" else DEFAULT_ACSE) + slack
            if i not in closed:
                problems.append(f"stalled client {i} ({kind}) not closed by the server")
            elif closed[i] > limit:
                problems.append(f"stalled client {i} ({kind}) closed after {closed[i]:.0f}s > {limit}s")
            s.close()
        time.sleep(2.0)
        end_threads, end_fds, end_rss, _ = dul.process_counts(pid)
        end_sockets = dul.socket_fds(pid)
        sampler.running = False
    finally:
        rc = server.stop()
    if rc != 0:
        problems.append(f"ossa serve exit status {rc}")
    stored = benchlib.count_files(os.path.join(work, "archive", "storage"), suffix=".dcm")
    expected = args.seed_instances + n_store * args.files_per_store
    if stored != expected:
        problems.append(f"{stored} instances stored, expected {expected}")
    with open(server.log_path, errors="replace") as f:
        log = f.read()
    refused = [ln for ln in log.splitlines() if "rejected" in ln or "closed:" in ln or "cannot start a thread" in ln]
    if refused:
        problems.append(f"{len(refused)} refusals in the server log, first: {refused[0]}")
    # Sockets and threads must be back exactly; other fds may include read connections the index
    # pools by design (up to 16, each the database and its WAL).
    if end_threads > base_threads or end_sockets > base_sockets:
        problems.append(f"threads/sockets not back to baseline: {base_threads}/{base_sockets} -> "
                        f"{end_threads}/{end_sockets}")
    idle_closed = sorted(v for i, v in closed.items() if stalled[i][0] == "idle")
    other_closed = sorted(v for i, v in closed.items() if stalled[i][0] != "idle")
    peak = sampler.peak
    lines = [
        f"{args.clients} clients against the default configuration (max_associations default, acse_timeout "
        f"{DEFAULT_ACSE} s, dimse_timeout {DEFAULT_DIMSE} s): {counts['store']} storescu x {args.files_per_store} "
        f"instances, {counts['find']} findscu x {args.find_repeat} C-FINDs, {counts['get']} getscu of a "
        f"{args.seed_instances}-instance study, {len(held)} associations held open (a C-ECHO each per second) "
        f"while those ran, {len(stalled)} stalled raw sockets (silent / half request / idle after "
        f"association).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| peak established connections to the server port | {peak['connections']} |",
        f"| DCMTK clients' wall time (start of all to last exit) | {active_wall:.1f} s |",
        f"| C-ECHOs on the held associations: ok / failed | {echoes['ok']} / {echoes['failed']} |",
        f"| instances stored by the storescu clients (while the stalled ones were open) | "
        f"{n_store * args.files_per_store} in {active_wall:.1f} s |",
        f"| client failures / refusals in the server log | "
        f"{sum(1 for _, _, rc in outputs if rc != 0)} / {len(refused)} |",
        f"| stalled before association: closed by the server after (min-max) | "
        f"{(f'{other_closed[0]:.0f}-{other_closed[-1]:.0f} s' if other_closed else '-')} |",
        f"| stalled after association: closed after (min-max) | "
        f"{(f'{idle_closed[0]:.0f}-{idle_closed[-1]:.0f} s' if idle_closed else '-')} |",
        f"| server threads: before / peak / after | {base_threads} / {peak['threads']} / {end_threads} |",
        f"| server open fds: before / peak / after (of which sockets before / after) | {base_fds} / {peak['fds']} / "
        f"{end_fds} ({base_sockets} / {end_sockets}) |",
        f"| server RSS MB: before / peak / after | {base_rss / 1024:.1f} / {peak['rss_kb'] / 1024:.1f} / "
        f"{end_rss / 1024:.1f} |",
        f"| result | {'all checks passed' if not problems else 'FAILED'} |",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    for p in problems[:30]:
        print("!!", p)
    with open(os.path.join(work, "result.md"), "w") as f:
        f.write(text + "\n")
    shutil.rmtree(src, ignore_errors=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
