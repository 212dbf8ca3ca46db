"""Running netshare-dataplane and netshare-ringdump in tests: configs in a
temporary directory, a unique --file-prefix per run, stats through
`--stats --json`, and cleanup of hugepage files even when a run fails.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

SKIP = 77
EAL_QUIET = "--log-level=lib.eal:error"


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def need_hugepages():
    try:
        with open("/proc/sys/vm/nr_hugepages") as f:
            pages = int(f.read())
    except OSError:
        pages = 0
    if pages < 64:
        skip("fewer than 64 hugepages reserved "
             "(echo 256 > /proc/sys/vm/nr_hugepages; .ci/run does this)")
    if os.geteuid() != 0:
        skip("DPDK needs root here")


def prefix(tag):
    return f"nsdp{tag}{os.getpid()}"


def cleanup_prefix(pfx):
    for f in glob.glob(f"/dev/hugepages/{pfx}map_*"):
        try:
            os.unlink(f)
        except OSError:
            pass
    shutil.rmtree(f"/var/run/dpdk/{pfx}", ignore_errors=True)


def write_config(path, cfg):
    with open(path, "w") as f:
        json.dump(cfg, f)


# Secondaries map the primary's hugepage memory at the primary's
# addresses; a fixed base far from where ASLR (and ASan's shadow) put
# things keeps those addresses free in every process.
BASE_VIRTADDR = "--base-virtaddr=0x200000000000"


def eal(pfx, lcores="0", in_memory=False):
    args = ["-l", lcores, "--no-pci", EAL_QUIET]
    if in_memory:
        args += ["--in-memory"]
    else:
        args += ["--file-prefix", pfx, BASE_VIRTADDR]
    return args


_attached = set()


def stats(dp, pfx, timeout=30):
    """The primary's counters as a dict, retrying until it is up. The
    first attach to a prefix waits a moment: a secondary whose EAL comes
    up while the primary still grows its heap (rings, mempool) can make
    that allocation fail (DPDK's multi-process memory sync times out;
    seen once under ASan). Known issue: the primary should preallocate."""
    if pfx not in _attached:
        _attached.add(pfx)
        time.sleep(1.5)
    t0 = time.time()
    while True:
        r = subprocess.run([dp] + eal(pfx) + ["--", "--stats", "--json"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return json.loads(r.stdout)
        if time.time() - t0 > timeout:
            raise AssertionError(f"--stats never attached: {r.stderr}")
        time.sleep(0.2)


def summary(convert, path):
    r = subprocess.run([convert, "--summary", "-q", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def sanitizer_trouble(text):
    return ("AddressSanitizer" in text or "runtime error:" in text
            or "LeakSanitizer" in text)


def _sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True,
                          check=check)


def veth_pair(letter):
    """A network namespace with one end of a fresh veth pair, IPv6 off on
    both ends so the kernel sends nothing of its own. Returns (netns,
    host-side name, namespace-side name); skips (77) where namespaces are
    not allowed."""
    tag = f"{os.getpid() % 100000}"
    ns, host_if, peer_if = (f"nsd{letter}{tag}", f"n{letter}a{tag}",
                            f"n{letter}b{tag}")
    r = _sh("ip", "netns", "add", ns, check=False)
    if r.returncode != 0:
        skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name",
            peer_if)
        _sh("ip", "link", "set", peer_if, "netns", ns)
        _sh("sysctl", "-qw", f"net.ipv6.conf.{host_if}.disable_ipv6=1")
        _sh("ip", "netns", "exec", ns, "sysctl", "-qw",
            f"net.ipv6.conf.{peer_if}.disable_ipv6=1")
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", peer_if, "up")
    except subprocess.CalledProcessError:
        remove_veth(ns, host_if)
        raise
    return ns, host_if, peer_if


def remove_veth(ns, host_if):
    _sh("ip", "link", "del", host_if, check=False)
    _sh("ip", "netns", "del", ns, check=False)
