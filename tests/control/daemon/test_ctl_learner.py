#!/usr/bin/env python3
"""The control daemon over the continuous learner's output: `models` lists
the published block checkpoints (not their .json sidecars), `privacy
latest` reports the epsilon the learner spent (from the sidecar of the
newest block), `stats` shows the learner's --status file, and `export
start` with export_model "latest" sends synthetic NetFlow from the newest
block to a UDP collector.

usage: test_ctl_learner.py NETSHARE-CONTROL NETSHARECTL LEARNER TRAIN
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

DAEMON, CTL, LEARNER, TRAIN = sys.argv[1:5]
TMP = tempfile.mkdtemp(prefix="ns_ctl_learner_")
SOCK = f"ipc://{TMP}/run/ctl.sock"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def ok(*args):
    r = subprocess.run([CTL, "--socket", SOCK, "--json"] + list(args),
                       capture_output=True, text=True, timeout=120)
    reply = json.loads(r.stdout) if r.stdout.strip() else None
    check(r.returncode == 0 and reply and reply["ok"],
          f"{args}: rc {r.returncode}: {r.stdout} {r.stderr}")
    return reply["result"] if reply and reply.get("ok") else {}


def write_flows(path, blocks, seed, t0_us):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for b in range(blocks):
            for _ in range(120):
                pkt = rnd.randint(1, 30)
                ts = t0_us + (b * 10 + rnd.uniform(0, 9.9)) * 1e6
                f.write(f"{167772160 + rnd.randint(0, 40)},"
                        f"{3232235520 + rnd.randint(0, 9)},"
                        f"{rnd.choice([443, 53, 40000 + rnd.randint(0, 50)])},"
                        f"{rnd.choice([443, 80, 53])},TCP,{int(ts)},"
                        f"{rnd.randint(0, 3000000)},{pkt},"
                        f"{pkt * rnd.randint(40, 1500)},background\n")


def main():
    cfg = os.path.join(TMP, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"encoding": {"max_flow_len": 6},
                   "model": {"gen_hidden": 24, "disc_hidden": 24,
                             "lstm_units": 12, "batch": 20, "iterations": 16,
                             "sample_len": 2},
                   "privacy": {"enabled": 1, "noise_multiplier": 1.2},
                   "continuous": {"block_seconds": 10}}, f)
    trace, pub_trace = (os.path.join(TMP, n) for n in ("f.csv", "pub.csv"))
    write_flows(trace, 3, 1, 1_500_000_000_000_000)
    write_flows(pub_trace, 1, 2, 1_400_000_000_000_000)
    public = os.path.join(TMP, "public.bin")
    subprocess.run([TRAIN, "--input", pub_trace, "--out", public,
                    "--config", cfg, "--iterations", "10", "-q"], check=True,
                   timeout=300)
    state = os.path.join(TMP, "state")
    status = os.path.join(TMP, "learner-status.json")
    subprocess.run([LEARNER, "run", "--state", state, "--input", trace,
                    "--config", cfg, "--public", public, "--status", status,
                    "-q"], check=True, timeout=600)
    with open(os.path.join(state, "latest.json")) as f:
        latest = json.load(f)
    with open(status) as f:
        st = json.load(f)
    check(st["state"] == "done" and st["blocks_trained"] == 3 and
          st["epsilon"] > 0, f"learner status: {st}")

    conf = os.path.join(TMP, "control.json")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    with open(conf, "w") as f:
        json.dump({"version": 1, "socket": SOCK,
                   "models_dir": os.path.join(state, "models"),
                   "learner_status": status,
                   "dataplane_prefix": "ns-ctl-learner-none",
                   "export_model": "latest", "export_rate": 200,
                   "export_limit": 100,
                   "exporters": [{"collector": f"127.0.0.1:{rx.getsockname()[1]}",
                                  "version": 5}]}, f)
    d = subprocess.Popen([DAEMON, "--config", conf, "-q"])
    try:
        for _ in range(200):
            if os.path.exists(SOCK[6:]):
                break
            time.sleep(0.05)
        models = ok("models", "list")["models"]
        names = sorted(m["name"] for m in models)
        check(len(names) == 3 and all(n.endswith(".ckpt") for n in names)
              and all(m["kind"] == "flow" for m in models),
              f"models: {models}")
        pr = ok("privacy", "latest")
        check(pr["dp"] is True and abs(pr["epsilon"] - st["epsilon"]) <
              1e-9 * st["epsilon"] and pr["delta"] == 1e-5,
              f"privacy latest: {pr} vs learner {st['epsilon']}")
        newest = os.path.basename(latest["model"])
        pr1 = ok("privacy", newest)
        check(pr1["epsilon"] == pr["epsilon"], "latest is the newest block")
        stats = ok("stats")
        check(stats["learner"]["progress"]["blocks_trained"] == 3,
              f"stats: {stats['learner']}")
        got = [0]

        def drain():
            end = time.monotonic() + 60
            while time.monotonic() < end and got[0] < 100:
                try:
                    pkt = rx.recv(65535)
                    got[0] += int.from_bytes(pkt[2:4], "big")
                except socket.timeout:
                    pass
        t = threading.Thread(target=drain)
        t.start()
        res = ok("export", "start")
        check(res["export"]["state"] == "running", f"export: {res}")
        t.join()
        check(got[0] > 0, f"no v5 records from the newest block ({got[0]})")
    finally:
        d.terminate()
        check(d.wait(timeout=30) == 0, "daemon exit status")
    if failures:
        sys.exit(f"{len(failures)} failures")
    print("ok")


main()
