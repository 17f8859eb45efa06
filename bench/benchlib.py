"""Shared helpers of the Ossa benchmarks (ingest.py, query.py): locating binaries, free ports,
starting/stopping `ossa serve` and storescp, running storescu. Standard library only."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve_ossa(arg):
    """--ossa, else $OSSA_BIN, else build/core/ossa in the repository."""
    path = arg or os.environ.get("OSSA_BIN") or os.path.join(REPO_ROOT, "build", "core", "ossa")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(f"error: ossa binary not found at {path} (use --ossa or OSSA_BIN)")
    return path


def require_tool(name):
    path = shutil.which(name)
    if not path:
        sys.exit(f"error: {name} not found on PATH (Debian package 'dcmtk')")
    return path


def dcmtk_env():
    """Environment for DCMTK tools: without TCP_NODELAY=1 Debian's DCMTK leaves Nagle on and every
    message waits ~40 ms for the delayed ACK."""
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    return env


_ports_handed_out = set()


def free_port():
    """A free port on 127.0.0.1, never the same one twice in this process (the kernel may give a
    just-closed ephemeral port to the next bind)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class OssaServer:
    """`ossa serve` on 127.0.0.1:<free port> with storage and index under `root`."""

    def __init__(self, ossa_bin, root, port=None, log_level="warning", aet="OSSA"):
        self.ossa_bin = ossa_bin
        self.root = os.path.abspath(root)
        self.port = port or free_port()
        self.aet = aet
        self.log_level = log_level
        self.proc = None
        self.config = os.path.join(self.root, "ossa.yaml")
        self.log_path = os.path.join(self.root, "ossa-serve.log")

    def write_config(self):
        os.makedirs(os.path.join(self.root, "storage"), exist_ok=True)
        with open(self.config, "w") as f:
            f.write(
                f"server: {{aet: {self.aet}, port: {self.port}, bind: 127.0.0.1, max_associations: 200}}\n"
                f"storage: {{path: {self.root}/storage, duplicates: overwrite, min_free_mb: 0}}\n"
                f"index: {{path: {self.root}/index.sqlite}}\n"
                f"log: {{level: {self.log_level}}}\n"
                f"http: {{port: {free_port()}, bind: 127.0.0.1}}\n")

    def start(self, timeout=60.0):
        self.write_config()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.ossa_bin, "serve", "--config", self.config],
                                     stdout=self._log, stderr=self._log, env=dcmtk_env())
        # "ready" is logged at info level, so with log.level warning it never appears: also accept
        # a successful C-ECHO as the sign that the server is up.
        echoscu = require_tool("echoscu")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ossa serve exited with {self.proc.returncode} during start-up; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                if b"ready" in f.read():
                    return self
            echo = subprocess.run([echoscu, "-aec", self.aet, "-to", "5", "-ta", "5", "127.0.0.1",
                                   str(self.port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=dcmtk_env())
            if echo.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ossa serve did not print 'ready' within {timeout}s; log:\n{self.log_tail()}")

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60.0):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        self._log.close()
        self.proc = None
        return rc


class StoreScp:
    """DCMTK storescp on 127.0.0.1:<free port> writing into `outdir`; --fork so concurrent
    associations are served by concurrent child processes (as in a default storescp deployment).
    storescp binds every interface (no bind option); the port is free and the peers are local."""

    def __init__(self, outdir, port=None, fork=True, max_pdu=131072, aet="OSSA", nice=0,
                 idle=False):
        self.nice = nice  # > 0: run at a lower CPU priority (a stand-in for another machine)
        self.idle = idle  # SCHED_IDLE: only CPU time nothing else wants (a stand-in, too)
        self.outdir = os.path.abspath(outdir)
        self.port = port or free_port()
        self.fork = fork
        self.max_pdu = max_pdu
        self.aet = aet
        self.proc = None

    def start(self):
        os.makedirs(self.outdir, exist_ok=True)
        cmd = [require_tool("storescp"), "-aet", self.aet, "-pdu", str(self.max_pdu),
               "-dhl", "-od", self.outdir]
        if self.nice:
            cmd = ["nice", "-n", str(self.nice)] + cmd
        if self.idle:
            cmd = ["chrt", "--idle", "0"] + cmd  # util-linux, essential on Debian
        if self.fork:
            cmd.append("--fork")
        cmd.append(str(self.port))
        self.log_path = self.outdir.rstrip("/") + ".storescp.log"
        self._log = open(self.log_path, "ab")
        # own process group, so stopping it also ends any forked children
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log, env=dcmtk_env(),
                                     start_new_session=True)
        if not wait_port(self.port, self.proc):
            self.stop()
            raise RuntimeError("storescp did not start listening")
        return self

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()
        self.proc = None


def run_storescu_parallel(port, groups, aec="OSSA", extra=None, log_dir=None):
    """Starts one storescu (one association) per entry of `groups` (each a list of files or
    directories, directories scanned with +sd +r) at the same moment; returns
    (wall seconds from the first start to the last exit, [(returncode, stderr text)])."""
    exe = require_tool("storescu")
    env = dcmtk_env()
    procs = []
    t0 = time.perf_counter()
    for i, group in enumerate(groups):
        cmd = [exe, "-aec", aec, "-aet", f"BENCH{i}", "+sd", "+r"] + (extra or []) + \
              ["127.0.0.1", str(port)] + list(group)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
    results = []
    for p in procs:
        _, err = p.communicate()
        results.append((p.returncode, err.decode("utf-8", "replace")))
    wall = time.perf_counter() - t0
    return wall, results


def dir_size_and_count(path):
    total = 0
    count = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
            count += 1
    return total, count


def count_files(path, suffix=None, exclude=()):
    n = 0
    for root, _, files in os.walk(path):
        for name in files:
            if name in exclude:
                continue
            if suffix is None or name.endswith(suffix):
                n += 1
    return n
