"""Shared helpers for Ossa's integration tests.

Run the tests with Debian's interpreter (it has pydicom 2.3):

    OSSA_BIN=/abs/path/to/ossa /usr/bin/python3 tests/integration/test_<name>.py

Everything here uses the standard library, pydicom and DCMTK's command-line tools. Every DCMTK client
runs with TCP_NODELAY=1 (without it DCMTK 3.6.7 leaves Nagle on and small stores crawl), servers bind to
127.0.0.1 on a free port, and each test works in its own temporary folder.
"""

import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    generate_uid,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# --------------------------------------------------------------------------------------------------
# Transfer syntaxes and SOP classes used by the tests

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
MPEG2_MPML = "1.2.840.10008.1.2.4.100"
MPEG4_HP41 = "1.2.840.10008.1.2.4.102"

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
VIDEO_PHOTOGRAPHIC_STORAGE = "1.2.840.10008.5.1.4.1.1.77.1.4.1"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

ENCAPSULATED_TS = {
    JPEG_BASELINE, JPEG_LOSSLESS_SV1, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS, RLE_LOSSLESS,
    MPEG2_MPML, MPEG4_HP41, "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.103",
}

STATUS_SUCCESS = 0x0000
STATUS_CANCEL = 0xFE00

# --------------------------------------------------------------------------------------------------
# Process helpers


def ossa_bin():
    """Path of the server binary: $OSSA_BIN, else the lead's build folder."""
    path = os.environ.get("OSSA_BIN") or str(REPO / "build" / "core" / "ossa")
    return path


def build_dir():
    """The CMake build folder: $OSSA_BUILD_DIR, else the one holding the server (<build>/core/ossa)."""
    build = os.environ.get("OSSA_BUILD_DIR")
    return Path(build) if build else Path(ossa_bin()).resolve().parent.parent


def wait_for(predicate, timeout, interval=0.2):
    """Polls predicate() until it returns something true; returns that, or the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def in_tree_plugin(name):
    """<build>/plugins/<name>/<name>.so; the calling test is skipped when it is not built."""
    path = build_dir() / "plugins" / name / (name + ".so")
    if not path.is_file():
        raise unittest.SkipTest("%s plugin not built: %s (set OSSA_BUILD_DIR)" % (name, path))
    return path


def require_ossa_bin(testcase=None):
    path = ossa_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        msg = "Ossa binary not found or not executable: %r (set OSSA_BIN)" % path
        if testcase is not None:
            testcase.fail(msg)
        raise RuntimeError(msg)
    return path


def dcmtk_env(extra=None):
    env = dict(os.environ)
    env["TCP_NODELAY"] = "1"
    env.setdefault("LC_ALL", "C.UTF-8")
    if extra:
        env.update(extra)
    return env


_ports_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now and that this process has not
    handed out before. The kernel may give the same ephemeral port to two binds in a row once the
    first socket is closed (CI once saw the HTTP and XML-RPC ports of one server collide), so a
    port is never given twice."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def _arg(a):
    """subprocess accepts str and bytes arguments; keep bytes as they are (raw DICOM values)."""
    if isinstance(a, (bytes, str)):
        return a
    return str(a)


def run(args, timeout=120, env=None, cwd=None, check=False):
    """Runs a command, returns CompletedProcess with .out (stdout+stderr decoded as UTF-8, replace)."""
    args = [_arg(a) for a in args]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          env=env if env is not None else dcmtk_env(), cwd=cwd)
    proc.out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise AssertionError("command failed (rc=%d): %s\n%s" % (
            proc.returncode, " ".join(a if isinstance(a, str) else repr(a) for a in args), proc.out))
    return proc


def ossa(*args, timeout=120, check=False):
    """Runs `$OSSA_BIN args...`."""
    return run([require_ossa_bin()] + list(args), timeout=timeout, check=check)


def have_tool(name):
    from shutil import which
    return which(name) is not None


# --------------------------------------------------------------------------------------------------
# YAML config


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(config):
    """{section: {key: value}} -> YAML text (two-level mapping, scalars and flow lists)."""
    lines = []
    for section, body in config.items():
        lines.append("%s:" % section)
        for key, value in body.items():
            lines.append("  %s: %s" % (key, _yaml_scalar(value)))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# The server under test


class ServerStartError(AssertionError):
    pass


class OssaServer:
    """One Ossa server in its own folder.

    Overrides are given per section (`server={...}, storage={...}, index={...}, log={...}`) or as
    shortcuts: aet, allowed_callers, duplicates, min_free_mb, max_associations, log_level,
    shutdown_timeout.
    """

    SHORTCUTS = {
        "aet": ("server", "aet"),
        "allowed_callers": ("server", "allowed_callers"),
        "max_associations": ("server", "max_associations"),
        "shutdown_timeout": ("server", "shutdown_timeout"),
        "acse_timeout": ("server", "acse_timeout"),
        "dimse_timeout": ("server", "dimse_timeout"),
        "max_pdu": ("server", "max_pdu"),
        "duplicates": ("storage", "duplicates"),
        "min_free_mb": ("storage", "min_free_mb"),
        "log_level": ("log", "level"),
    }

    def __init__(self, tmpdir, **overrides):
        self.dir = Path(tmpdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = {
            "server": {"aet": "OSSA", "port": self.port, "bind": "127.0.0.1",
                       "allowed_callers": [], "shutdown_timeout": 30},
            "storage": {"path": "storage", "duplicates": "overwrite", "min_free_mb": 0},
            "index": {"path": "index.sqlite"},
            "log": {"level": "info"},
            "xmlrpc": {"port": free_port()},  # its own port: 8080 would collide
            "http": {"port": free_port(), "bind": "127.0.0.1"},
        }
        for key, value in overrides.items():
            if key in self.config and isinstance(value, dict):
                self.config[key].update(value)
            elif key in self.SHORTCUTS:
                section, name = self.SHORTCUTS[key]
                self.config[section][name] = value
            else:
                raise TypeError("unknown OssaServer override %r" % key)
        self.port = int(self.config["server"]["port"])
        self.aet = self.config["server"]["aet"]
        self.xmlrpc_port = int(self.config["xmlrpc"]["port"])
        self.http_port = int(self.config["http"]["port"])
        self.config_path = self.dir / "ossa.yaml"
        self.config_path.write_text(to_yaml(self.config))
        self.log_path = self.dir / "server.log"
        self.proc = None
        self._logfile = None
        self.starts = 0

    # paths -------------------------------------------------------------------------------------
    @property
    def storage_path(self):
        return (self.dir / self.config["storage"]["path"]).resolve()

    @property
    def index_path(self):
        return (self.dir / self.config["index"]["path"]).resolve()

    @property
    def tmp_path(self):
        return self.storage_path / "tmp"

    @property
    def xmlrpc_url(self):
        """The XML-RPC endpoint, with the token as HTTP Basic password when one is configured."""
        token = self.config["xmlrpc"].get("token")
        auth = ("ossa:%s@" % token) if token else ""
        return "http://%s127.0.0.1:%d/RPC2" % (auth, self.xmlrpc_port)

    def rpc(self):
        """An xmlrpc.client.ServerProxy on this server's XML-RPC port."""
        import xmlrpc.client
        return xmlrpc.client.ServerProxy(self.xmlrpc_url, allow_none=True)

    # lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout=20.0):
        require_ossa_bin()
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        self.starts += 1
        self._logfile = open(self.log_path, "ab")
        self._logfile.write(("\n===== start #%d =====\n" % self.starts).encode())
        self._logfile.flush()
        self.proc = subprocess.Popen(
            [require_ossa_bin(), "serve", "--config", str(self.config_path)],
            stdout=self._logfile, stderr=self._logfile, stdin=subprocess.DEVNULL,
            env=dcmtk_env())
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerStartError("ossa serve exited with %d during start-up; log:\n%s"
                                       % (rc, self.log_text()))
            callers = self.config["server"].get("allowed_callers") or []
            if self.echo(aet=callers[0] if callers else "ECHOSCU", timeout=5):
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError("ossa serve did not answer C-ECHO within %.0f s; log:\n%s"
                                       % (timeout, self.log_text()))
            time.sleep(0.1)

    def _close_log(self):
        if self._logfile:
            self._logfile.close()
            self._logfile = None

    def stop(self, timeout=60.0):
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_log()
                return None
        self._close_log()
        return self.proc.returncode

    def kill(self):
        """SIGKILL and wait; returns the exit code (negative signal number)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def restart(self, timeout=20.0):
        if self.running():
            self.stop()
        return self.start(timeout=timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.running():
            self.kill()
        return False

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    # DICOM clients -----------------------------------------------------------------------------
    def echo(self, aet="ECHOSCU", aec=None, timeout=20):
        try:
            r = run(["echoscu", "-aet", aet, "-aec", aec or self.aet, "-to", "5", "-ta", "5",
                     "127.0.0.1", self.port], timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def store(self, files, **kw):
        return storescu(self.port, files, aec=kw.pop("aec", self.aet), **kw)

    def find(self, keys, **kw):
        return findscu(self.port, keys, aec=kw.pop("aec", self.aet), **kw)

    # the index ---------------------------------------------------------------------------------
    def db(self):
        """A connection to the index that does not write (read-only URI when possible)."""
        uri = "file:%s?mode=ro" % self.index_path
        try:
            con = sqlite3.connect(uri, uri=True, timeout=30)
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.OperationalError:
            con = sqlite3.connect(str(self.index_path), timeout=30)
            con.execute("PRAGMA query_only=1")
            return con

    def query(self, sql, params=()):
        con = self.db()
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def instance_rows(self, sop_uid):
        return self.query("SELECT sop_instance_uid, sop_class_uid, transfer_syntax_uid, file_path,"
                          " file_size FROM instances WHERE sop_instance_uid = ?", (sop_uid,))

    def indexed_sop_uids(self):
        return {r[0] for r in self.query("SELECT sop_instance_uid FROM instances")}

    def stored_file(self, sop_uid):
        """Absolute path of the stored file of one instance (from the index's file_path)."""
        rows = self.instance_rows(sop_uid)
        if len(rows) != 1:
            raise AssertionError("expected 1 index row for %s, found %d" % (sop_uid, len(rows)))
        rel = rows[0][3]
        p = Path(rel)
        if p.is_absolute():
            raise AssertionError("instances.file_path should be relative to storage.path: %r" % rel)
        return self.storage_path / p

    def tmp_files(self, settle=3.0):
        """Files with content in tmp/ that the server did not let go of: transfers that were not
        cleaned up.

        tmp/ also holds, by design (core/storage/temp_file_pool.h), the server's stock of prepared
        empty files (each also named in its final folder), and, for up to about a second after an
        instance is stored or refused, the tmp/ name of its file. So this waits (at most `settle`
        seconds) for those names to go; whatever stays is a leak.
        """
        if not self.tmp_path.exists():
            return []
        deadline = time.monotonic() + settle
        while True:
            left = [p for p in self.tmp_path.rglob("*") if p.is_file() and p.stat().st_size > 0]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def stored_files(self):
        """Files with content in the store's folders (not tmp/): instances' files. Empty files there
        are the server's stock of prepared files, not yet used."""
        return [p for p in self.storage_path.glob("*/*.dcm")
                if p.parent.name != "tmp" and p.stat().st_size > 0]


# --------------------------------------------------------------------------------------------------
# Datasets


def new_uid():
    return generate_uid()


def pixel_bytes(rows, cols, bits, samples=1, frames=1, big_endian=False, seed=0):
    """Deterministic, slightly varied pixel data."""
    n = rows * cols * samples * frames
    if bits <= 8:
        return bytes(((i * 7 + seed * 13 + (i // cols) * 3) & 0xFF) for i in range(n))
    fmt = ">" if big_endian else "<"
    maxv = (1 << min(bits, 16)) - 1
    vals = [((i * 37 + seed * 101 + (i // cols) * 11) & maxv) for i in range(n)]
    return struct.pack(fmt + "%dH" % n, *vals)


def make_dataset(patient_id="PAT1", patient_name="Test^Patient", study_uid=None, series_uid=None,
                 sop_uid=None, sop_class=CT_IMAGE_STORAGE, modality="CT", rows=8, cols=8, bits=8,
                 charset=None, pixels=True, samples=1, omit=(), raw=None, seed=0, big_endian=False,
                 **extra):
    """A pydicom Dataset of an image (or, with pixels=False, of a non-image object).

    charset: value(s) of SpecificCharacterSet (str or list); text values given as str are encoded by
    pydicom in that set. raw: {tag: (VR, bytes)} for values that must be written exactly as given.
    omit: keywords to leave out (e.g. "StudyInstanceUID"). extra: more attributes by keyword.
    """
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid or new_uid()
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid or new_uid()
    ds.SeriesInstanceUID = series_uid or new_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if pixels:
        ds.SamplesPerPixel = samples
        ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
        if samples > 1:
            ds.PlanarConfiguration = 0
        ds.Rows = rows
        ds.Columns = cols
        ds.BitsAllocated = 8 if bits <= 8 else 16
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        ds.PixelData = pixel_bytes(rows, cols, bits, samples, seed=seed, big_endian=big_endian)
        ds["PixelData"].VR = "OB" if bits <= 8 else "OW"
    for key, value in extra.items():
        setattr(ds, key, value)
    for tag, (vr, value) in (raw or {}).items():
        ds.add_new(tag, vr, value)
    for key in omit:
        if key in ds:
            delattr(ds, key)
    return ds


def write_part10(ds, path, transfer_syntax=ExplicitVRLittleEndian):
    """Writes a proper Part-10 file (preamble, meta header) with write_like_original=False."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", SC_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.4.5.6.7.8.9")
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    if transfer_syntax == ImplicitVRLittleEndian:
        ds.is_little_endian, ds.is_implicit_VR = True, True
    elif transfer_syntax == ExplicitVRBigEndian:
        ds.is_little_endian, ds.is_implicit_VR = False, False
    else:
        ds.is_little_endian, ds.is_implicit_VR = True, False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), write_like_original=False)
    return path


def make_instance(path, patient_id="PAT1", patient_name="Test^Patient", study_uid=None,
                  series_uid=None, sop_uid=None, sop_class=CT_IMAGE_STORAGE, modality="CT", rows=8,
                  cols=8, bits=8, transfer_syntax=ExplicitVRLittleEndian, charset=None, **extra):
    """Writes one instance as a Part-10 file; returns the pydicom Dataset written.

    Uncompressed and deflated syntaxes are written by pydicom. Big endian 16-bit pixels are written
    in big-endian order. For compressed syntaxes use compress() on an explicit-LE file.
    """
    big = transfer_syntax == ExplicitVRBigEndian
    ds = make_dataset(patient_id=patient_id, patient_name=patient_name, study_uid=study_uid,
                      series_uid=series_uid, sop_uid=sop_uid, sop_class=sop_class,
                      modality=modality, rows=rows, cols=cols, bits=bits, charset=charset,
                      big_endian=big, **extra)
    write_part10(ds, path, transfer_syntax)
    return ds


def compress(src, dst, kind):
    """Converts an explicit-LE file with DCMTK: kind in jpeg-baseline, jpeg-lossless (SV1),
    jpeg-ls, rle, deflated. Returns dst."""
    cmds = {
        "jpeg-baseline": ["dcmcjpeg", "+eb", src, dst],
        "jpeg-lossless": ["dcmcjpeg", "+e1", src, dst],
        "jpeg-ls": ["dcmcjpls", src, dst],
        "rle": ["dcmcrle", src, dst],
        "deflated": ["dcmconv", "+td", src, dst],
    }
    run(cmds[kind], check=True, timeout=60)
    return dst


def encapsulated_instance(path, frames, transfer_syntax, **kw):
    """Writes an instance whose PixelData is encapsulated (e.g. a J2K codestream or an MPEG
    elementary stream) without decoding anything."""
    from pydicom.encaps import encapsulate
    kw.setdefault("rows", 8)
    kw.setdefault("cols", 8)
    ds = make_dataset(**kw)
    if "NumberOfFrames" not in ds and len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(list(frames))
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    write_part10(ds, path, transfer_syntax)
    return ds


# --------------------------------------------------------------------------------------------------
# Part-10 file inspection


def dataset_offset(data):
    """Offset of the first byte after the File Meta Information of a Part-10 file's bytes."""
    if data[128:132] != b"DICM":
        raise AssertionError("not a Part-10 file (no DICM at offset 128)")
    pos = 132
    long_vrs = (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR", b"SV",
                b"UV")
    while pos + 8 <= len(data):
        group, = struct.unpack("<H", data[pos:pos + 2])
        if group != 0x0002:
            break
        vr = data[pos + 4:pos + 6]
        if vr in long_vrs:
            length, = struct.unpack("<I", data[pos + 8:pos + 12])
            pos += 12 + length
        else:
            length, = struct.unpack("<H", data[pos + 6:pos + 8])
            pos += 8 + length
    return pos


def dataset_bytes(path):
    data = Path(path).read_bytes()
    return data[dataset_offset(data):]


def meta_transfer_syntax(path):
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).file_meta.TransferSyntaxUID)


def expected_wire_bytes(path):
    """The dataset bytes storescu puts on the wire for a file sent in its own transfer syntax.

    DCMTK re-encodes what it reads; for the files these tests write that is the file's own dataset
    bytes, except for deflated files, which DCMTK inflates and deflates again (zlib level 6, padded
    to even length).
    """
    ts = meta_transfer_syntax(path)
    raw = dataset_bytes(path)
    if ts != DeflatedExplicitVRLittleEndian:
        return raw
    plain = zlib.decompressobj(-15).decompress(raw)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = co.compress(plain) + co.flush()
    if len(wire) % 2:
        wire += b"\x00"
    return wire


def inflate(raw):
    return zlib.decompressobj(-15).decompress(raw)


# --------------------------------------------------------------------------------------------------
# storescu


STORE_STATUS_WORDS = {
    "Success": 0x0000,
    "Refused: OutOfResources": 0xA700,
    "Refused: SOPClassNotSupported": 0x0122,
    "Error: DataSetDoesNotMatchSOPClass": 0xA900,
    "Error: CannotUnderstand": 0xC000,
    "Warning: CoercionOfDataElements": 0xB000,
    "Warning: DataSetDoesNotMatchSOPClass": 0xB007,
    "Warning: ElementsDiscarded": 0xB006,
}


STORED_WITH_WARNING = {0xB000, 0xB006, 0xB007}


class StoreResult:
    def __init__(self, proc, files):
        self.returncode = proc.returncode
        self.output = proc.out
        self.files = [str(f) for f in files]
        # per file sent: list of (status_text, status_code or None) in the order received
        self.status = {}
        self.sent = []
        self._parse()

    def _parse(self):
        current = None
        pending_code_for = None
        for line in self.output.splitlines():
            m = re.search(r"Sending file: (.*)$", line)
            if m:
                current = m.group(1).strip()
                self.sent.append(current)
                continue
            m = re.search(r"Received Store Response(?: \((.*)\))?\s*$", line)
            if m and current is not None:
                text = m.group(1) or ""
                self.status[current] = [text, status_code_from_text(text, STORE_STATUS_WORDS)]
                pending_code_for = current
                continue
            m = re.search(r"DIMSE Status\s*:\s*0x([0-9A-Fa-f]{4})(?::\s*(.*))?", line)
            if m and pending_code_for is not None:
                self.status[pending_code_for][1] = int(m.group(1), 16)
                if not self.status[pending_code_for][0]:
                    self.status[pending_code_for][0] = (m.group(2) or "").strip()
                pending_code_for = None

    def code(self, f):
        entry = self.status.get(str(f))
        return None if entry is None else entry[1]

    def succeeded(self):
        """Files the server stored: success, or a warning (0xB000 coercion, 0xB006, 0xB007),
        which PS3.4 B.2.3 also gives for stored instances."""
        return [f for f, (t, c) in self.status.items() if c == 0 or c in STORED_WITH_WARNING]

    @property
    def association_rejected(self):
        return "Association Rejected" in self.output

    def __repr__(self):
        return "StoreResult(rc=%s, %d sent, %d success)" % (self.returncode, len(self.sent),
                                                             len(self.succeeded()))


def status_code_from_text(text, words):
    text = (text or "").strip()
    m = re.search(r"0x([0-9A-Fa-f]{4})", text)
    if m:
        return int(m.group(1), 16)
    if text in words:
        return words[text]
    for w, c in words.items():
        if text.startswith(w):
            return c
    return None


def storescu_args(port, files, aec="OSSA", aet="STORESCU", options=(), debug=False):
    args = ["storescu", "-d" if debug else "-v", "-aet", aet, "-aec", aec, "-to", "30", "-ta", "30",
            "-td", "60"]
    args += list(options)
    args += ["127.0.0.1", str(port)]
    args += [str(f) for f in files]
    return args


def storescu(port, files, aec="OSSA", aet="STORESCU", options=(), debug=False, timeout=300):
    """Sends files with one storescu run (-v, or -d for exact status codes)."""
    proc = run(storescu_args(port, files, aec, aet, options, debug), timeout=timeout)
    return StoreResult(proc, files)


# --------------------------------------------------------------------------------------------------
# findscu


FIND_STATUS_WORDS = {
    "Success": 0x0000,
    "Pending": 0xFF00,
    "Pending: WarningUnsupportedOptionalKeys": 0xFF01,
    "Cancel: MatchingTerminatedDueToCancelRequest": 0xFE00,
    "Refused: OutOfResources": 0xA700,
    "Refused: SOPClassNotSupported": 0x0122,
    "Failed: IdentifierDoesNotMatchSOPClass": 0xA900,
    "Failed: UnableToProcess": 0xC000,
    # findscu -v prints DCMTK's generic status names
    "Error: DataSetDoesNotMatchSOPClass": 0xA900,
    "Error: CannotUnderstand": 0xC000,
    "Cancel": 0xFE00,
}


class FindResult:
    def __init__(self, proc, outdir):
        self.returncode = proc.returncode
        self.output = proc.out
        files = sorted(Path(outdir).glob("rsp*.dcm"))
        self.datasets = [pydicom.dcmread(str(f), force=True) for f in files]
        self.final_text = None
        self.final_status = None
        m = None
        for m in re.finditer(r"Received Final Find Response \(([^)\n]*)\)", self.output):
            pass
        if m:
            self.final_text = m.group(1)
            self.final_status = status_code_from_text(self.final_text, FIND_STATUS_WORDS)
        codes = re.findall(r"DIMSE Status\s*:\s*0x([0-9A-Fa-f]{4})", self.output)
        if codes and self.final_status is not None:
            last = int(codes[-1], 16)
            if last not in (0xFF00, 0xFF01):
                self.final_status = last

    @property
    def failed(self):
        s = self.final_status
        if s is None:
            t = self.final_text or ""
            return t.startswith(("Error", "Failed", "Refused"))
        return s not in (0x0000, 0xFF00, 0xFF01, 0xFE00) and not (0xB000 <= s <= 0xBFFF)

    def values(self, keyword):
        out = []
        for d in self.datasets:
            out.append(d[keyword].value if keyword in d else None)
        return out

    def strs(self, keyword):
        return [None if v is None else str(v) for v in self.values(keyword)]

    def __repr__(self):
        return "FindResult(rc=%s, %d responses, final=%r)" % (self.returncode, len(self.datasets),
                                                              self.final_text)


def _key_arg(k):
    """Keys: "Keyword=value", "(gggg,eeee)=value", ("Keyword", value), ("Keyword", None) for an
    empty return key; values may be bytes (written as is)."""
    if isinstance(k, tuple):
        name, value = k
        if value is None:
            return name if isinstance(name, str) else name
        if isinstance(value, bytes):
            return name.encode("ascii") + b"=" + value
        return "%s=%s" % (name, value)
    return k


def findscu(port, keys, level=None, model="S", aec="OSSA", aet="FINDSCU", cancel=None,
            workdir=None, timeout=120, options=()):
    """One C-FIND with findscu -X; returns FindResult with the responses read by pydicom.

    model: "S" (Study Root), "P" (Patient Root)."""
    outdir = tempfile.mkdtemp(prefix="find-", dir=workdir)
    args = ["findscu", "-v", "-" + model, "-aet", aet, "-aec", aec, "-to", "30", "-ta", "30",
            "-td", "60", "-X", "-od", outdir]
    if cancel is not None:
        args += ["--cancel", str(cancel)]
    args += list(options)
    if level is not None:
        args += ["-k", "QueryRetrieveLevel=%s" % level]
    for k in keys:
        args += ["-k", _key_arg(k)]
    args += ["127.0.0.1", str(port)]
    proc = run(args, timeout=timeout)
    return FindResult(proc, outdir)


# --------------------------------------------------------------------------------------------------
# A minimal DICOM upper-layer client (stdlib sockets) for what DCMTK's tools refuse to send:
# a dataset without SOP Instance UID, or bytes that do not parse. It sends one C-STORE-RQ per call
# with the bytes given as the data set, and returns the status of the C-STORE-RSP.


class AssociationRejected(Exception):
    pass


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _uid(u):
    b = u.encode("ascii")
    return b + (b"\x00" if len(b) % 2 else b"")


def _elem_implicit(group, element, value):
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHI", group, element, len(value)) + value


def _command(elements):
    """elements: list of (element, bytes) of group 0000, sorted; adds the group length."""
    body = b"".join(_elem_implicit(0x0000, e, v) for e, v in sorted(elements))
    return _elem_implicit(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def _parse_command(data):
    out = {}
    pos = 0
    while pos + 8 <= len(data):
        g, e, l = struct.unpack("<HHI", data[pos:pos + 8])
        out[(g, e)] = data[pos + 8:pos + 8 + l]
        pos += 8 + l
    return out


class RawAssociation:
    """One association with a single presentation context (sop_class, transfer_syntax)."""

    def __init__(self, port, sop_class, transfer_syntax=ExplicitVRLittleEndian, aec="OSSA",
                 aet="RAWSCU", host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.max_pdu = 16384
        self.msg_id = 0
        pc = struct.pack(">BBBB", 1, 0, 0, 0) + _item(0x30, _uid(sop_class).rstrip(b"\x00")) \
            + _item(0x40, transfer_syntax.encode("ascii"))
        user = _item(0x51, struct.pack(">I", 65536)) + _item(0x52, b"1.2.826.0.1.3680043.8.498.2")
        body = struct.pack(">HH", 1, 0) + aec.encode().ljust(16) + aet.encode().ljust(16) \
            + b"\x00" * 32 + _item(0x10, b"1.2.840.10008.3.1.1.1") + _item(0x20, pc) \
            + _item(0x50, user)
        self._send_pdu(0x01, body)
        pdu_type, data = self._recv_pdu()
        if pdu_type == 0x03:
            self.sock.close()
            raise AssociationRejected("A-ASSOCIATE-RJ result=%d source=%d reason=%d" % tuple(data[1:4]))
        if pdu_type != 0x02:
            self.sock.close()
            raise ConnectionError("unexpected PDU type 0x%02x during association" % pdu_type)
        pos = 68
        self.accepted = False
        while pos + 4 <= len(data):
            t, _, l = struct.unpack(">BBH", data[pos:pos + 4])
            item = data[pos + 4:pos + 4 + l]
            if t == 0x21 and item[0] == 1:
                self.accepted = item[2] == 0
            if t == 0x50:
                upos = 0
                while upos + 4 <= len(item):
                    st, _, sl = struct.unpack(">BBH", item[upos:upos + 4])
                    if st == 0x51:
                        mp, = struct.unpack(">I", item[upos + 4:upos + 8])
                        if mp:
                            self.max_pdu = mp
                    upos += 4 + sl
            pos += 4 + l

    def _send_pdu(self, pdu_type, body):
        self.sock.sendall(struct.pack(">BBI", pdu_type, 0, len(body)) + body)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by peer")
            buf += chunk
        return buf

    def _recv_pdu(self):
        head = self._recv_exact(6)
        pdu_type, _, length = struct.unpack(">BBI", head)
        return pdu_type, self._recv_exact(length)

    def _send_pdvs(self, data, is_command):
        chunk = max(1024, self.max_pdu - 6 - 6)
        pos = 0
        while True:
            part = data[pos:pos + chunk]
            pos += len(part)
            last = pos >= len(data)
            ctrl = (1 if is_command else 0) | (2 if last else 0)
            pdv = struct.pack(">IBB", len(part) + 2, 1, ctrl) + part
            self._send_pdu(0x04, pdv)
            if last:
                break

    def store(self, sop_class, sop_instance, dataset):
        """Sends a C-STORE-RQ with `dataset` (bytes in the negotiated syntax); returns the status."""
        if not self.accepted:
            raise AssociationRejected("presentation context not accepted")
        self.msg_id += 1
        cmd = _command([
            (0x0002, _uid(sop_class)),
            (0x0100, struct.pack("<H", 0x0001)),
            (0x0110, struct.pack("<H", self.msg_id)),
            (0x0700, struct.pack("<H", 0)),
            (0x0800, struct.pack("<H", 0x0000)),
            (0x1000, _uid(sop_instance)),
        ])
        self._send_pdvs(cmd, True)
        self._send_pdvs(dataset, False)
        command = b""
        while True:
            pdu_type, data = self._recv_pdu()
            if pdu_type == 0x07:
                raise ConnectionError("association aborted by the server")
            if pdu_type != 0x04:
                raise ConnectionError("unexpected PDU type 0x%02x" % pdu_type)
            pos = 0
            done = False
            while pos + 6 <= len(data):
                l, = struct.unpack(">I", data[pos:pos + 4])
                ctrl = data[pos + 5]
                command += data[pos + 6:pos + 4 + l]
                if ctrl & 1 and ctrl & 2:
                    done = True
                pos += 4 + l
            if done:
                break
        rsp = _parse_command(command)
        status, = struct.unpack("<H", rsp[(0x0000, 0x0900)])
        return status

    def release(self):
        try:
            self._send_pdu(0x05, b"\x00\x00\x00\x00")
            self._recv_pdu()
        except (OSError, ConnectionError):
            pass
        finally:
            self.sock.close()

    def abort(self):
        try:
            self._send_pdu(0x07, b"\x00\x00\x00\x00")
        except OSError:
            pass
        self.sock.close()


def raw_store(port, sop_class, sop_instance, dataset, transfer_syntax=ExplicitVRLittleEndian,
              aec="OSSA", aet="RAWSCU"):
    """One association, one C-STORE of raw dataset bytes; returns the DIMSE status."""
    assoc = RawAssociation(port, sop_class, transfer_syntax, aec=aec, aet=aet)
    try:
        return assoc.store(sop_class, sop_instance, dataset)
    finally:
        assoc.release()


def encode_dataset(ds, transfer_syntax=ExplicitVRLittleEndian):
    """The bytes of a dataset (no meta header) in an uncompressed transfer syntax."""
    from io import BytesIO
    from pydicom.filebase import DicomFileLike
    from pydicom.filewriter import write_dataset
    buf = BytesIO()
    fp = DicomFileLike(buf)
    fp.is_little_endian = transfer_syntax != ExplicitVRBigEndian
    fp.is_implicit_VR = transfer_syntax == ImplicitVRLittleEndian
    ds = Dataset(ds)
    ds.is_little_endian = fp.is_little_endian
    ds.is_implicit_VR = fp.is_implicit_VR
    write_dataset(fp, ds)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# unittest glue


class TempDirTestCase(unittest.TestCase):
    """Gives each test its own folder in self.tmp; kills servers registered with self.server().

    When a test fails, the tail of each server's log is printed. OSSA_KEEP_TMP=1 keeps the folders.
    """

    keep_tmp = bool(os.environ.get("OSSA_KEEP_TMP"))

    def setUp(self):
        require_ossa_bin(self)
        self.tmp = Path(tempfile.mkdtemp(prefix="ossa-it-"))
        self._servers = []
        self.addCleanup(self._cleanup)

    def _test_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        for test, _ in list(result.errors) + list(result.failures):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return not getattr(outcome, "success", True)

    def _cleanup(self):
        failed = self._test_failed()
        for s in self._servers:
            if s.running():
                s.kill()
            if failed:
                text = s.log_text()
                print("\n----- server log %s (last 4000 chars) -----\n%s\n-----" % (
                    s.log_path, text[-4000:]), file=sys.stderr)
        if self.keep_tmp or (failed and os.environ.get("OSSA_KEEP_FAILED")):
            print("kept %s" % self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, subdir="srv", start=True, **overrides):
        s = OssaServer(self.tmp / subdir, **overrides)
        self._servers.append(s)
        if start:
            s.start()
        return s


def main():
    unittest.main(verbosity=2)


# --------------------------------------------------------------------------------------------------
# Retrieval (C-MOVE / C-GET): remote nodes in the config, storescp destinations, movescu and getscu.
# Added for test_retrieve.py and test_transcode.py; nothing above depends on it.

STATUS_PENDING = 0xFF00
STATUS_SUBOPS_WARNING = 0xB000
STATUS_MOVE_DESTINATION_UNKNOWN = 0xA801
STATUS_SUBOPS_ALL_FAILED = 0xA702

PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"


def node(aet, port, host="127.0.0.1", name=None, **flags):
    """One entry of the config's `nodes:` list. flags: move_destination, query, retrieve, send."""
    n = {"name": name or aet, "aet": aet, "host": host, "port": int(port)}
    for key in ("move_destination", "query", "retrieve", "send"):
        if key in flags:
            n[key] = bool(flags.pop(key))
    if flags:
        raise TypeError("unknown node keys %r" % sorted(flags))
    return n


def config_yaml(config):
    """Like to_yaml, plus top-level sections that are lists of mappings (`nodes:`), written as a
    block sequence of flow mappings: `  - {name: "X", aet: "X", port: 104}`."""
    lines = []
    for section, body in config.items():
        if isinstance(body, (list, tuple)):
            if not body:
                lines.append("%s: []" % section)
                continue
            lines.append("%s:" % section)
            for item in body:
                lines.append("  - {" + ", ".join("%s: %s" % (k, _yaml_scalar(v))
                                                 for k, v in item.items()) + "}")
        else:
            lines.append("%s:" % section)
            for key, value in body.items():
                lines.append("  %s: %s" % (key, _yaml_scalar(value)))
    return "\n".join(lines) + "\n"


def set_nodes(server, nodes):
    """Gives an OssaServer (not running, or restarted afterwards) a `nodes:` section; returns it.

        srv = self.server(start=False); h.set_nodes(srv, [h.node("DEST", scp.port)]); srv.start()
    """
    server.config["nodes"] = [dict(n) for n in nodes]
    server.config_path.write_text(config_yaml(server.config))
    return server


class StoreScpProcess:
    """DCMTK storescp as a C-MOVE destination: `storescp -aet AET -od DIR [options] PORT` on a free
    port, in its own process group (stop() also ends --fork children). options e.g. ["+xi"]
    (accept implicit VR little endian only), ["+xa"] (accept all transfer syntaxes), ["+B"] (write
    the received data set bit for bit). With debug=True the log has every DIMSE command (calling
    AE title, Move Originator AE Title / ID of each C-STORE-RQ)."""

    def __init__(self, folder, aet="DEST", options=(), port=None, debug=False, fork=False):
        self.folder = Path(folder)
        self.outdir = self.folder / "in"
        self.aet = aet
        self.options = list(options)
        self.port = port or free_port()
        self.debug = debug
        self.fork = fork
        self.proc = None
        self.log_path = self.folder / "storescp.log"
        self._log = None

    def start(self, timeout=20.0):
        self.outdir.mkdir(parents=True, exist_ok=True)
        args = ["storescp", "-d" if self.debug else "-v", "-aet", self.aet, "-od", str(self.outdir),
                "-ta", "30", "-td", "60"] + self.options
        if self.fork:
            args.append("--fork")
        args.append(str(self.port))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL, env=dcmtk_env(),
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        refuses = "--refuse" in self.options
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("storescp exited with %s:\n%s" % (self.proc.returncode,
                                                                       self.log_text()[-2000:]))
            if refuses:  # it answers no C-ECHO: wait until it listens
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    pass
            else:
                r = run(["echoscu", "-aec", self.aet, "-to", "5", "-ta", "5", "127.0.0.1",
                         self.port], timeout=20)
                if r.returncode == 0:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("storescp did not answer C-ECHO:\n" + self.log_text()[-2000:])
            time.sleep(0.1)

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
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def clear(self):
        """Empties the output folder (between retrievals)."""
        if self.outdir.exists():
            for p in self.outdir.iterdir():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink()
        self.outdir.mkdir(parents=True, exist_ok=True)

    def files(self):
        return dicom_files_by_sop(self.outdir)

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def dicom_files_by_sop(folder):
    """{SOP Instance UID: path} of the DICOM files in a folder (not recursive). A UID received twice
    maps to a list of paths under the key ("dup", uid)."""
    out = {}
    folder = Path(folder)
    if not folder.exists():
        return out
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            ds = pydicom.dcmread(str(p), stop_before_pixels=True, force=True)
            uid = str(ds.SOPInstanceUID)
        except Exception:  # noqa: BLE001 - a file that is not DICOM is reported under its name
            out[("unreadable", p.name)] = p
            continue
        if uid in out:
            out.setdefault(("dup", uid), [out[uid]]).append(p)
        else:
            out[uid] = p
    return out


_DIMSE_FIELD = re.compile(r"^(?:[DI]: )?([A-Za-z][A-Za-z /-]*?)\s*: (.*)$")


def parse_dimse_messages(output, direction="INCOMING"):
    """The DIMSE messages a DCMTK tool run with -d dumped: [{field: text}] in order (fields e.g.
    "Message Type", "Remaining Suboperations", "DIMSE Status")."""
    msgs = []
    cur = None
    for line in output.splitlines():
        if "%s DIMSE MESSAGE" % direction in line:
            cur = {}
            continue
        if cur is not None:
            if "END DIMSE MESSAGE" in line:
                msgs.append(cur)
                cur = None
                continue
            m = _DIMSE_FIELD.match(line.strip())
            if m:
                cur.setdefault(m.group(1).strip(), m.group(2).strip())
    return msgs


def _count(text):
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


class RetrieveResult:
    """Outcome of one movescu/getscu run with -d.

    responses: [{"status", "remaining", "completed", "failed", "warning", "dataset"}] of every
    C-MOVE-RSP / C-GET-RSP in order; final_status etc. from the last one (None when none came:
    association rejected, no presentation context, ...); failed_uids: the Failed SOP Instance UID
    List (0008,0058) of the final response as movescu printed it (getscu 3.6.7 does not read the
    final response's data set, so it is always empty there); files: {SOP Instance UID: path} of
    what arrived in outdir (getscu -od; for movescu, the destination's folder is read by the test).
    """

    def __init__(self, proc, kind, outdir=None, elapsed=None):
        self.kind = kind
        self.returncode = proc.returncode
        self.output = proc.out
        self.elapsed = elapsed
        self.responses = []
        rsp_type = "C-%s RSP" % kind
        for m in parse_dimse_messages(self.output):
            if m.get("Message Type") != rsp_type:
                continue
            st = re.match(r"0x([0-9A-Fa-f]{4})", m.get("DIMSE Status", ""))
            self.responses.append({
                "status": int(st.group(1), 16) if st else None,
                "remaining": _count(m.get("Remaining Suboperations")),
                "completed": _count(m.get("Completed Suboperations")),
                "failed": _count(m.get("Failed Suboperations")),
                "warning": _count(m.get("Warning Suboperations")),
                "dataset": m.get("Data Set", "") == "present",
            })
        final = self.responses[-1] if self.responses else {}
        self.final_status = final.get("status")
        if self.final_status in (STATUS_PENDING, 0xFF01):
            self.final_status = None  # the exchange did not finish
        self.completed = final.get("completed")
        self.failed = final.get("failed")
        self.warning = final.get("warning")
        self.remaining = final.get("remaining")
        self.failed_uids = []
        tail = self.output
        pos = self.output.rfind("Response Identifiers:")
        if pos >= 0:
            tail = self.output[pos:]
            m = re.search(r"\(0008,0058\) UI \[([^\]]*)\]", tail)
            if m:
                self.failed_uids = [u for u in m.group(1).split("\\") if u]
        self.pending = [r for r in self.responses if r["status"] in (STATUS_PENDING, 0xFF01)]
        self.outdir = outdir
        self.files = dicom_files_by_sop(outdir) if outdir is not None else {}

    @property
    def association_rejected(self):
        return "Association Rejected" in self.output

    def summary(self):
        return ("%s final=%s completed=%s failed=%s warning=%s remaining=%s responses=%d "
                "failed_uids=%d" % (self.kind, "None" if self.final_status is None
                                    else "0x%04X" % self.final_status, self.completed, self.failed,
                                    self.warning, self.remaining, len(self.responses),
                                    len(self.failed_uids)))

    def __repr__(self):
        return "RetrieveResult(%s)" % self.summary()


def _retrieve_args(tool, port, keys, level, model, aec, aet, options):
    args = [tool, "-d", "-" + model, "-aet", aet, "-aec", aec, "-to", "30", "-ta", "30",
            "-td", "120"]
    args += list(options)
    if level is not None:
        args += ["-k", "QueryRetrieveLevel=%s" % level]
    for k in keys:
        args += ["-k", _key_arg(k)]
    return args


def movescu(port, keys, dest, level=None, model="S", aec="OSSA", aet="MOVESCU", options=(),
            timeout=300):
    """One C-MOVE with movescu -d to the move destination AE title `dest`; RetrieveResult.

    keys as for findscu ("Keyword=value" or (keyword, value)); model "S" Study Root, "P" Patient
    Root. The received files are in the destination's folder (StoreScpProcess.files())."""
    args = _retrieve_args("movescu", port, keys, level, model, aec, aet, options)
    args += ["-aem", dest, "127.0.0.1", str(port)]
    t0 = time.monotonic()
    proc = run(args, timeout=timeout)
    return RetrieveResult(proc, "MOVE", elapsed=time.monotonic() - t0)


def getscu(port, keys, outdir, level=None, model="S", aec="OSSA", aet="GETSCU", options=(),
           timeout=300):
    """One C-GET with getscu -d -od outdir (created); RetrieveResult with .files read from outdir.
    options e.g. ["+xi"]: accept implicit VR little endian only for the incoming C-STOREs."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    args = _retrieve_args("getscu", port, keys, level, model, aec, aet, options)
    args += ["-od", str(outdir), "127.0.0.1", str(port)]
    t0 = time.monotonic()
    proc = run(args, timeout=timeout)
    return RetrieveResult(proc, "GET", outdir=outdir, elapsed=time.monotonic() - t0)


def retrieve_popen(tool, port, keys, level=None, model="S", aec="OSSA", aet=None, dest=None,
                   outdir=None, options=()):
    """Starts movescu (dest=AE title) or getscu (outdir) without waiting: (Popen, finish) where
    finish() waits and returns the RetrieveResult. For concurrency tests."""
    aet = aet or tool.upper()
    args = _retrieve_args(tool, port, keys, level, model, aec, aet, options)
    if tool == "movescu":
        args += ["-aem", dest]
    else:
        Path(outdir).mkdir(parents=True, exist_ok=True)
        args += ["-od", str(outdir)]
    args += ["127.0.0.1", str(port)]
    args = [_arg(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dcmtk_env())

    def finish(timeout=300):
        out, _ = p.communicate(timeout=timeout)
        p.out = out.decode("utf-8", "replace")
        return RetrieveResult(p, "MOVE" if tool == "movescu" else "GET",
                              outdir=outdir if tool == "getscu" else None,
                              elapsed=time.monotonic() - t0)
    return p, finish


def _values_equal(a, b):
    from pydicom.sequence import Sequence
    if isinstance(a, Sequence) or isinstance(b, Sequence):
        if not (isinstance(a, Sequence) and isinstance(b, Sequence)) or len(a) != len(b):
            return False
        return all(not dataset_differences(x, y) for x, y in zip(a, b))
    if isinstance(a, (bytes, bytearray)) or isinstance(b, (bytes, bytearray)):
        return bytes(a or b"") == bytes(b or b"")
    return a == b


def dataset_differences(a, b, ignore=()):
    """Tags (as "(gggg,eeee) keyword") whose values differ between two pydicom datasets, File Meta
    (group 0002) left out; `ignore`: keywords or tags not compared. Values are compared as decoded
    (so the same data in implicit and explicit VR compare equal); bytes exactly."""
    from pydicom.tag import Tag
    skip = set()
    for i in ignore:
        skip.add(Tag(i))
    diffs = []
    tags = sorted(set(a.keys()) | set(b.keys()))
    for t in tags:
        if t.group == 0x0002 or t in skip:
            continue
        name = "(%04X,%04X) %s" % (t.group, t.element, pydicom.datadict.keyword_for_tag(t) or "")
        if t not in a or t not in b:
            diffs.append(name + (" only in the first" if t in a else " only in the second"))
            continue
        try:
            if not _values_equal(a[t].value, b[t].value):
                diffs.append(name)
        except Exception as e:  # noqa: BLE001
            diffs.append("%s (not comparable: %s)" % (name, e))
    return diffs


# --------------------------------------------------------------------------------------------------
# Plugins (`plugins:` and `plugin_host:` in the config)


def _yaml_key(k):
    k = str(k)
    return k if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k) else _yaml_scalar(k)


def _yaml_flow(v):
    """A value in YAML flow style: mappings and lists nest; scalars as _yaml_scalar writes them."""
    if isinstance(v, dict):
        return "{" + ", ".join("%s: %s" % (_yaml_key(k), _yaml_flow(x)) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(x) for x in v) + "]"
    return _yaml_scalar(v)


def nested_config_yaml(config):
    """Like config_yaml, with values that may be nested mappings and lists (written in flow style):
    `  - {path: "p.so", config: {"institution": "X"}}`."""
    lines = []
    for section, body in config.items():
        if isinstance(body, (list, tuple)):
            if not body:
                lines.append("%s: []" % section)
                continue
            lines.append("%s:" % section)
            for item in body:
                lines.append("  - " + _yaml_flow(dict(item)))
        else:
            lines.append("%s:" % section)
            for key, value in body.items():
                lines.append("  %s: %s" % (key, _yaml_flow(value)))
    return "\n".join(lines) + "\n"


def set_plugins(server, plugins, plugin_host=None):
    """Gives an OssaServer (not running, or restarted afterwards) a `plugins:` list, and optionally
    a `plugin_host:` section; returns it. Each plugin is {"path": ..., "config": {...}} (path
    relative to the server's folder, or absolute). Call it after set_nodes, which rewrites the file
    without nesting.

        srv = h.OssaServer(tmp); h.set_plugins(srv, [{"path": so, "config": {"k": "v"}}]).start()
    """
    server.config["plugins"] = [dict(p) for p in plugins]
    if plugin_host is not None:
        server.config["plugin_host"] = dict(plugin_host)
    server.config_path.write_text(nested_config_yaml(server.config))
    return server
