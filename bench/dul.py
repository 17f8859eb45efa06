"""Raw DICOM upper-layer PDUs (PS3.8 section 9) for the benchmarks and tests that need control
over the socket which DCMTK's tools do not give: timing the moment a server first accepts an
association, and clients that open an association and then go silent (stalled peers).
Standard library only."""

import os
import socket
import struct
import time

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLEMENTATION_CLASS = "1.2.826.0.1.3680043.8.498.1.7"

A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
A_RELEASE_RP = 0x06
A_ABORT = 0x07


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _uid(text):
    return text.encode("ascii")


def associate_rq(called="OSSA", calling="RAWPEER", contexts=((1, VERIFICATION),), max_pdu=16384):
    """A-ASSOCIATE-RQ bytes; `contexts` = ((odd id, abstract syntax UID), ...), each proposed with
    implicit and explicit VR little endian."""
    items = _item(0x10, _uid(APPLICATION_CONTEXT))
    for pc_id, abstract in contexts:
        sub = _item(0x30, _uid(abstract)) + _item(0x40, _uid(IMPLICIT_LE)) + _item(0x40, _uid(EXPLICIT_LE))
        items += _item(0x20, struct.pack(">BBBB", pc_id, 0, 0, 0) + sub)
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, _uid(IMPLEMENTATION_CLASS))
    items += _item(0x50, user)
    body = struct.pack(">HH16s16s32s", 1, 0, called.ljust(16).encode("ascii"),
                       calling.ljust(16).encode("ascii"), b"\0" * 32) + items
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def release_rq():
    return struct.pack(">BBI", 0x05, 0, 4) + b"\0" * 4


def read_pdu(sock):
    """(type, body) of the next PDU; raises ConnectionError when the peer closes."""
    header = _read_exact(sock, 6)
    pdu_type, _, length = struct.unpack(">BBI", header)
    return pdu_type, _read_exact(sock, length)


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        data += chunk
    return data


def open_association(port, host="127.0.0.1", called="OSSA", calling="RAWPEER", timeout=10.0,
                     contexts=((1, VERIFICATION),)):
    """Connects and negotiates; returns the socket with an established association, or raises
    (ConnectionError/OSError/RuntimeError on rejection)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(associate_rq(called, calling, contexts))
        pdu_type, body = read_pdu(sock)
        if pdu_type != A_ASSOCIATE_AC:
            raise RuntimeError(f"association not accepted (PDU type 0x{pdu_type:02x}, {body[:4].hex()})")
        return sock
    except BaseException:
        sock.close()
        raise


def _element(group, element, value):
    return struct.pack("<HHI", group, element, len(value)) + value


def echo(sock, message_id=1, pc_id=1):
    """C-ECHO on an association opened with Verification as context `pc_id`; True on Success."""
    uid = _uid(VERIFICATION)
    if len(uid) % 2:
        uid += b"\0"
    body = (_element(0, 0x0002, uid) + _element(0, 0x0100, struct.pack("<H", 0x0030)) +
            _element(0, 0x0110, struct.pack("<H", message_id)) +
            _element(0, 0x0800, struct.pack("<H", 0x0101)))
    command = _element(0, 0x0000, struct.pack("<I", len(body))) + body
    pdv = struct.pack(">IBB", len(command) + 2, pc_id, 0x03) + command  # command, last fragment
    sock.sendall(struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv)
    data = b""
    while True:
        pdu_type, payload = read_pdu(sock)
        if pdu_type != 0x04:
            return False
        offset = 0
        last = False
        while offset < len(payload):
            length, _, header = struct.unpack(">IBB", payload[offset:offset + 6])
            data += payload[offset + 6:offset + 4 + length]
            last = last or (header & 0x02)
            offset += 4 + length
        if last:
            break
    offset = 0
    while offset + 8 <= len(data):  # find (0000,0900) Status
        group, element, length = struct.unpack("<HHI", data[offset:offset + 8])
        if (group, element) == (0, 0x0900):
            return struct.unpack("<H", data[offset + 8:offset + 10])[0] == 0
        offset += 8 + length
    return False


def release(sock):
    """Orderly release; True when the peer answered A-RELEASE-RP."""
    try:
        sock.sendall(release_rq())
        pdu_type, _ = read_pdu(sock)
        return pdu_type == A_RELEASE_RP
    finally:
        sock.close()


def time_until_accepting(port, proc=None, timeout=60.0, called="OSSA"):
    """Seconds from now until an association on `port` is accepted (polled every 2 ms; `proc`,
    if given, must stay alive). Raises TimeoutError."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} during start-up")
        try:
            sock = open_association(port, called=called, timeout=2.0)
        except (OSError, ConnectionError, RuntimeError):
            time.sleep(0.002)
            continue
        elapsed = time.perf_counter() - t0
        release(sock)
        return elapsed
    raise TimeoutError(f"no association accepted on port {port} within {timeout} s")


def peer_closed(sock, wait=0.0):
    """True when the peer has closed (or aborted) the connection within `wait` seconds."""
    sock.settimeout(wait if wait > 0 else 0.001)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
            # an A-ABORT (0x07) followed by the close also counts; keep reading to the close
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def process_counts(pid):
    """(threads, open fds, VmRSS kB, VmHWM kB) of a process, read from /proc."""
    threads = rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return threads, fds, rss, hwm


def socket_fds(pid):
    """Open sockets of a process (listening and connected), from /proc/PID/fd."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n
