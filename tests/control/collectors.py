"""Real collectors for the exporter's tests: nfcapd on 127.0.0.1 (read
back with nfdump), and a recorder that keeps every datagram it receives
and writes them as a pcap for tshark.

Nothing is written into the source tree: callers give a temporary
directory. Scripts set sys.dont_write_bytecode before importing this.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def need_tools(*names):
    for n in names:
        if not shutil.which(n):
            skip(f"{n} is not installed (Debian package "
                 f"{'nfdump' if n.startswith('nf') else n})")


def run(cmd, timeout=300, env=None):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rx_queue(port):
    """Octets waiting in the receive queue of UDP 127.0.0.1:port."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            c = line.split()
            if c[1] == f"0100007F:{port:04X}":
                return int(c[4].split(":")[1], 16)
    return 0


def rx_drops(port):
    """Datagrams the kernel dropped for UDP 127.0.0.1:port (full
    socket buffer)."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            c = line.split()
            if c[1] == f"0100007F:{port:04X}":
                return int(c[-1])
    return 0


class Nfcapd:
    """nfcapd on 127.0.0.1 at a free port, writing into a temp dir."""

    def __init__(self, tmp, port=None, bufsize=16 << 20):
        """port: a given one (a collector started late), else a free
        one."""
        self.dir = tempfile.mkdtemp(prefix="nfcapd-", dir=tmp)
        self.logpath = self.dir + ".log"
        for _ in range(5):
            self.port = port or free_port()
            self.log = open(self.logpath, "w")
            self.proc = subprocess.Popen(
                ["nfcapd", "-b", "127.0.0.1", "-p", str(self.port),
                 "-w", self.dir, "-t", "3600", "-B", str(bufsize)],
                stdout=self.log, stderr=subprocess.STDOUT)
            if self._wait_bound():
                self.started = time.monotonic()
                return
            self.stop()
        raise AssertionError("nfcapd did not start on 127.0.0.1")

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def _wait_bound(self, limit=10.0):
        end = time.monotonic() + limit
        while time.monotonic() < end and self.proc.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", self.port))
                except OSError:
                    return True
            time.sleep(0.02)
        return False

    def drain(self, limit=30.0):
        end = time.monotonic() + limit
        while rx_queue(self.port) and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()

    def finish(self):
        """Stop once everything queued was read (nfcapd writes its file
        on SIGTERM); return nfcapd's closing statistics line as a dict."""
        self.drain()
        self.drops = rx_drops(self.port)
        self.stop()
        with open(self.logpath) as f:
            text = f.read()
        stat = {}
        for line in text.splitlines():
            if line.startswith("Ident:"):
                for k, v in re.findall(r"([A-Za-z][A-Za-z ]*): (\d+)",
                                       line):
                    stat[k.strip()] = int(v)
        assert stat, f"nfcapd printed no statistics:\n{text}"
        self.logtext = text
        return stat

    def info(self):
        """nfdump -I over the files written: {"Flows": n, ...}."""
        r = run(["nfdump", "-I", "-R", self.dir])
        assert r.returncode == 0, f"nfdump -I: {r.stderr.strip()}"
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(":")
            if v.strip().isdigit():
                out[k.strip()] = int(v)
        return out

    def flows(self):
        """Every flow record nfdump reads back, as dicts (nfdump -o json,
        times in UTC)."""
        env = dict(os.environ, TZ="UTC")
        r = run(["nfdump", "-R", self.dir, "-o", "json"], env=env)
        assert r.returncode == 0, f"nfdump: {r.stderr.strip()}"
        text = r.stdout.strip()
        if not text or text == "[]":
            return []
        return [x for x in json.loads(text) if x.get("type") == "FLOW"]


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Recorder:
    """A UDP collector that keeps every datagram (on [::1] when the
    host has IPv6, else 127.0.0.1) and writes them as a raw-IP pcap."""

    def __init__(self):
        try:
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            self.sock.bind(("::1", 0))
            self.family = 6
        except OSError:
            print("note: no IPv6 on lo; the recorder listens on 127.0.0.1")
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.family = 4
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return f"[::1]:{self.port}" if self.family == 6 \
            else f"127.0.0.1:{self.port}"

    def _loop(self):
        while not self.stopping:
            try:
                data, src = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            self.packets.append((time.time(), src, data))

    def stop(self, settle=0.3):
        time.sleep(settle)
        self.stopping = True
        self.thread.join()
        self.sock.close()

    def write_pcap(self, path):
        with open(path, "wb") as f:
            # LINKTYPE_RAW: IPv4 or IPv6 by the version nibble
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                                101))
            for t, src, data in self.packets:
                pkt = self._frame(src, data)
                f.write(struct.pack("<IIII", int(t), int(t % 1 * 1e6),
                                    len(pkt), len(pkt)) + pkt)

    def _frame(self, src, data):
        sport, ulen = src[1], 8 + len(data)
        if self.family == 6:
            s = d = socket.inet_pton(socket.AF_INET6, "::1")
            pseudo = s + d + struct.pack("!I3xB", ulen, 17)
            udp = struct.pack("!HHHH", sport, self.port, ulen, 0) + data
            c = _csum(pseudo + udp) or 0xFFFF
            udp = udp[:6] + struct.pack("!H", c) + udp[8:]
            return struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d + udp
        s = d = socket.inet_aton("127.0.0.1")
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17,
                         0, s, d)
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        return ip + struct.pack("!HHHH", sport, self.port, ulen, 0) + data


def tshark_check(pcap, port):
    """tshark's view of a capture of export packets: packets, expert
    warnings and errors, malformed packets, and every flow record it
    decoded (dicts of cflow fields)."""
    base = ["tshark", "-n", "-r", pcap, "-d", f"udp.port=={port},cflow"]
    r = run(base + ["-q", "-z", "expert,warn"])
    assert r.returncode == 0, f"tshark: {r.stderr.strip()}"
    expert = [x.strip() for x in r.stdout.splitlines()
              if "CFLOW" in x or "Malformed" in x or "UDP" in x]
    r = run(base + ["-Y", "_ws.malformed || _ws.expert.severity >= warning",
                    "-T", "fields", "-e", "frame.number"])
    assert r.returncode == 0, f"tshark: {r.stderr.strip()}"
    bad = r.stdout.split()
    r = run(base + ["-T", "json"], timeout=600)
    assert r.returncode == 0, f"tshark: {r.stderr.strip()}"
    packets = json.loads(r.stdout) if r.stdout.strip() else []
    flows, versions = [], set()
    for p in packets:
        cf = p["_source"]["layers"].get("cflow")
        assert cf, "a packet tshark did not decode as NetFlow/IPFIX"
        versions.add(cf.get("cflow.version"))
        _collect(cf, flows)
    return {"packets": len(packets), "expert": expert, "bad": bad,
            "flows": flows, "versions": versions}


def _collect(node, out):
    for k, v in node.items():
        if isinstance(v, dict):
            if k.startswith("pdu ") or k.startswith("Flow "):
                out.append(v)
            else:
                _collect(v, out)
