"""netsharectl against a running netshare-control: every command, exit
codes (0 ok, 1 error reply, 2 usage, 3 unreachable), config set that is
refused changes nothing, config save is atomic (the file is always one
whole valid config while sets and saves race with readers), models list,
privacy, generate, the learner's --status file in stats, and an export
from a model to a UDP socket.

Usage: test_ctl_cli.py NETSHARE-CONTROL NETSHARECTL NETSHARE-TRAIN
"""
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

DAEMON, CTL, TRAIN = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="ns_ctl_cli_")
SOCK = f"ipc://{TMP}/run/ctl.sock"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def ctl(*args, sock=SOCK, json_out=True, timeout=60):
    cmd = [CTL, "--socket", sock] + (["--json"] if json_out else []) + \
        list(args)
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout)
    reply = None
    if json_out and r.stdout.strip():
        reply = json.loads(r.stdout)
    return r.returncode, reply, r


def ok(*args):
    rc, reply, r = ctl(*args)
    check(rc == 0 and reply and reply["ok"],
          f"{args}: rc {rc}: {r.stdout} {r.stderr}")
    return reply["result"] if reply and reply.get("ok") else {}


def write_flows(path, n, seed):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for i in range(n):
            proto = rnd.choice(["TCP", "TCP", "UDP"])
            pkt = rnd.randint(1, 30)
            f.write(f"{167772160 + rnd.randint(0, 40)},"
                    f"{3232235520 + rnd.randint(0, 9)},"
                    f"{rnd.choice([443, 53, 40000 + i % 50])},"
                    f"{rnd.choice([443, 80, 53])},{proto},"
                    f"{1500000000000000 + i * 250000},"
                    f"{rnd.random() * 5:.6f},{pkt},"
                    f"{pkt * rnd.randint(40, 1500)},background\n")


def main():
    models = os.path.join(TMP, "models")
    os.mkdir(models)
    flows = os.path.join(TMP, "flows.csv")
    write_flows(flows, 300, 1)
    status = os.path.join(TMP, "train-status.json")
    small = os.path.join(TMP, "small.json")
    with open(small, "w") as f:
        f.write('{"model": {"gen_hidden": 16, "disc_hidden": 16, '
                '"lstm_units": 8, "batch": 20}}\n')
    # a tiny model, with its --status file
    model = os.path.join(models, "tiny.bin")
    r = subprocess.run([TRAIN, "--input", flows, "--out", model,
                        "--config", small, "--iterations", "5",
                        "--status", status, "-q"],
                       capture_output=True, text=True, timeout=240)
    check(r.returncode == 0, f"netshare-train: {r.stderr}")
    st = json.load(open(status))
    check(st["state"] == "done" and st["iteration"] == 5 and
          "g" in st["losses"] and "it_per_s" in st and "eta_s" in st,
          f"--status file: {st}")
    with open(os.path.join(models, "junk.bin"), "w") as f:
        f.write("not a model")

    conf = os.path.join(TMP, "control.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        global TCP_PORT
        TCP_PORT = s.getsockname()[1]
    with open(conf, "w") as f:
        json.dump({"version": 1, "socket": SOCK, "models_dir": models,
                   "tcp_port": TCP_PORT,
                   "learner_status": status,
                   "dataplane_prefix": "ns-ctl-test-none",
                   "export_model": "tiny.bin", "export_rate": 2000,
                   "export_limit": 300}, f)
    # unreachable before the daemon starts
    rc, _, r = ctl("status")
    check(rc == 3, f"no daemon: exit {rc}, want 3: {r.stderr}")
    rc, _, r = ctl("status", sock="tcp://127.0.0.1:1", timeout=30)
    check(rc == 3, f"tcp no daemon: exit {rc}")

    d = subprocess.Popen([DAEMON, "--config", conf, "-q"])
    try:
        for _ in range(200):
            if os.path.exists(SOCK[6:]):
                break
            time.sleep(0.05)
        run_checks(conf, models, flows)
    finally:
        d.terminate()
        check(d.wait(timeout=30) == 0, "daemon exit status")
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        sys.exit(1)
    print("OK: netsharectl and every command")


def run_checks(conf, models, flows):
    # usage errors: 2, help: 0
    for args in (["bogus"], [], ["config", "set", "mtu"],
                 ["exporters", "add", "h:1", "7"], ["generate", "--count"],
                 ["generate", "--count", "0", "--out", "x.csv"]):
        rc, _, _ = ctl(*args)
        check(rc == 2, f"{args}: exit {rc}, want 2")
    r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "exporters add" in r.stdout, "--help")

    res = ok("status")
    check(res.get("daemon") == "netshare-control", f"status: {res}")
    rc, reply, r = ctl("status", sock=f"tcp://127.0.0.1:{TCP_PORT}")
    check(rc == 0 and reply["ok"], f"status over TCP: {rc} {r.stderr}")
    mode = os.stat(SOCK[6:]).st_mode & 0o777
    check(mode == 0o600, f"socket mode {mode:o}")
    rc, _, r = ctl("status", json_out=False)
    check(rc == 0 and "daemon: netshare-control" in r.stdout,
          f"human output: {r.stdout}")

    # a refused set changes nothing
    check(ok("config", "get", "mtu")["value"] == 1400, "default mtu")
    for key, val in (("mtu", "100"), ("mtu", "\"1400\""), ("mtu", "1.5"),
                     ("export_rate", "-1"), ("wall_clock", "1"),
                     ("exporters", "[{\"collector\":\"x\",\"version\":9}]"),
                     ("export_flows", flows)):  # both sources: refused
        rc, reply, _ = ctl("config", "set", key, val)
        check(rc == 1 and not reply["ok"] and
              reply["error"]["code"] == "bad_field" and
              reply["error"]["message"], f"set {key}={val}: {reply}")
    check(ok("config", "get", "mtu")["value"] == 1400, "mtu unchanged")
    check(ok("config", "get", "export_flows")["value"] == "",
          "export_flows unchanged")
    rc, reply, _ = ctl("config", "set", "socket", "\"ipc:///x\"")
    check(rc == 1 and reply["error"]["code"] == "read_only", "read_only")
    rc, reply, _ = ctl("config", "get", "nokey")
    check(rc == 1 and reply["error"]["field"] == "args.key", "unknown key")
    check(ok("config", "set", "mtu", "1200")["value"] == 1200, "set mtu")

    # exporters
    ok("exporters", "add", "127.0.0.1:9", "9")
    res = ok("exporters", "add", "[::1]:9", "10")
    check(len(res["exporters"]) == 2, f"two exporters: {res}")
    rc, reply, _ = ctl("exporters", "add", "127.0.0.1:9", "5")
    check(rc == 1 and "twice" in reply["error"]["message"], "duplicate")
    res = ok("exporters", "remove", "[::1]:9")
    check(res["exporters"] == [{"collector": "127.0.0.1:9", "version": 9}],
          f"after remove: {res}")
    rc, reply, _ = ctl("exporters", "remove", "[::1]:9")
    check(rc == 1 and reply["error"]["code"] == "not_found", "remove gone")

    # save is atomic: readers never see a partial file
    stop = threading.Event()
    bad = []

    def reader():
        while not stop.is_set():
            try:
                with open(conf) as f:
                    json.load(f)
            except Exception as e:  # noqa: BLE001
                bad.append(repr(e))
    t = threading.Thread(target=reader)
    t.start()
    for i in range(20):
        ok("config", "set", "export_rate", str(1000 + i))
        ok("config", "save")
    stop.set()
    t.join()
    check(not bad, f"a reader saw a broken config: {bad[:3]}")
    saved = json.load(open(conf))
    check(saved["export_rate"] == 1019 and saved["mtu"] == 1200,
          f"saved config: {saved}")
    check(ok("config", "validate", conf)["valid"], "validate saved")
    broken = os.path.join(TMP, "broken.json")
    with open(broken, "w") as f:
        f.write('{"mtu": 10}')
    rc, reply, _ = ctl("config", "validate", broken)
    check(rc == 1 and reply["error"]["field"] == "mtu" and
          broken in reply["error"]["message"], f"validate bad: {reply}")
    # slow enough (3 s for 300 records) that the busy checks below run
    # while the export is still going, even under ASan
    ok("config", "set", "export_rate", "100")

    # models, privacy, generate
    res = ok("models", "list")
    kinds = {m["name"]: m["kind"] for m in res["models"]}
    check(kinds == {"tiny.bin": "flow", "junk.bin": "invalid"},
          f"models: {res}")
    res = ok("privacy")
    check(res["dp"] is False and res["epsilon"] is None and
          res["model"] == "tiny.bin", f"privacy: {res}")
    rc, reply, _ = ctl("privacy", "nosuch.bin")
    check(rc == 1 and reply["error"]["code"] == "not_found", "privacy 404")
    out = os.path.join(TMP, "gen.csv")
    res = ok("generate", "--count", "50", "--out", out)
    check(res["records"] == 50, f"generate: {res}")
    with open(out) as f:
        check(len(f.read().splitlines()) == 51, "generated CSV rows")

    # stats: the learner's status file, no dataplane
    res = ok("stats")
    check(res["dataplane"]["state"] == "not running", f"dp: {res}")
    check(res["learner"]["state"] == "done" and
          res["learner"]["progress"]["iteration"] == 5,
          f"learner: {res['learner']}")

    # export from the model to a UDP socket: 300 records (export_limit)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    port = rx.getsockname()[1]
    ok("exporters", "remove", "127.0.0.1:9")
    ok("exporters", "add", f"127.0.0.1:{port}", "5")
    # drain the socket while the export runs: the paced export sends
    # about one datagram per record, more than a default receive buffer holds
    got_box = [0]
    def drain():
        idle_since = None
        while True:
            try:
                pkt = rx.recv(65535)
                got_box[0] += int.from_bytes(pkt[2:4], "big")  # v5 count
                idle_since = None
            except socket.timeout:
                if drain_stop.is_set():
                    if idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > 1.0:
                        return
    drain_stop = threading.Event()
    drainer = threading.Thread(target=drain)
    drainer.start()
    res = ok("export", "start")
    check(res["export"]["state"] == "running", f"start: {res}")
    rc, reply, _ = ctl("export", "start")
    check(rc == 1 and reply["error"]["code"] == "busy", "second start")
    rc, reply, _ = ctl("config", "set", "mtu", "1400")
    check(rc == 1 and reply["error"]["code"] == "busy", "set while running")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        ex = ok("stats")["export"]
        if ex["state"] != "running":
            break
        time.sleep(0.1)
    check(ex["state"] == "finished" and ex["records_in"] == 300,
          f"export: {ex}")
    c = ex["collectors"][0]
    drain_stop.set()
    drainer.join()
    got = got_box[0]
    check(c["records"] + c["skipped_v6"] + c["skipped_time"] == 300 and
          got == c["records"] and got > 0,
          f"UDP got {got} v5 records, stats {c}")
    res = ok("export", "stop")
    check(res["was_running"] is False, "stop after finish")


main()
