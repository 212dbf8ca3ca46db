#!/usr/bin/env python3
"""netshare-learner run, the continuous learner, on a synthetic flow trace
of several blocks:

- every block is captured, the seed trained, the rest fine-tuned, each
  published (checkpoint, report with metrics, privacy sidecar, latest.json);
- one worker and two workers give byte-identical checkpoints (blocks are
  seeded by index, not by the worker that takes them);
- a learner killed (SIGKILL) mid-run and restarted loses no block and does
  not retrain published ones;
- privacy.enabled without --public is refused (exit 2, naming --public);
  with --public each block's epsilon equals `netshare-learner privacy` for
  its own (q, steps), the total stays within epsilon_budget, and blocks past
  the budget are skipped with a note;
- a rerun over the same input captures nothing new; a state made with
  another block length is refused.

usage: test_learner_run.py LEARNER TRAIN
"""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

LEARNER, TRAIN = sys.argv[1:3]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def run(*args, ok=True, timeout=600):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if ok and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


BLOCK_S = 10
N_BLOCKS = 6


def write_flows(path, seed, t0_us=1_500_000_000_000_000):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        n = 0
        for b in range(N_BLOCKS):
            for i in range(120):
                proto = rnd.choice(["TCP", "TCP", "UDP"])
                sp = rnd.choice([443, 53, 40000 + rnd.randint(0, 60)])
                dp = rnd.choice([443, 80, 53])
                pkt = rnd.randint(1, 30)
                ts = t0_us + (b * BLOCK_S + rnd.uniform(0, BLOCK_S - 0.01)) * 1e6
                f.write(f"{167772160 + rnd.randint(0, 40)},"
                        f"{3232235520 + rnd.randint(0, 9)},{sp},{dp},{proto},"
                        f"{int(ts)},{rnd.randint(0, 2000000)},{pkt},"
                        f"{pkt * rnd.randint(40, 1500)},background\n")
                n += 1
    return n


def config(path, **privacy):
    cfg = {
        "version": 1,
        "encoding": {"max_flow_len": 8},
        "model": {"gen_hidden": 32, "disc_hidden": 32, "lstm_units": 16,
                  "batch": 20, "iterations": 24, "sample_len": 2},
        "continuous": {"block_seconds": BLOCK_S, "fine_tune_fraction": 0.25,
                       "holdout": 0.2},
    }
    if privacy:
        cfg["privacy"] = privacy
    with open(path, "w") as f:
        json.dump(cfg, f)


def state(d):
    with open(os.path.join(d, "state.json")) as f:
        return json.load(f)


def checkpoints(d):
    out = {}
    for name in sorted(os.listdir(os.path.join(d, "models"))):
        if name.endswith(".ckpt"):
            with open(os.path.join(d, "models", name), "rb") as f:
                out[name] = f.read()
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="ns-learner-run-")
    trace = os.path.join(tmp, "flows.csv")
    n_rec = write_flows(trace, 1)
    cfg = os.path.join(tmp, "cfg.json")
    config(cfg)

    # one worker, then two: every block published, identical checkpoints
    one, two = os.path.join(tmp, "one"), os.path.join(tmp, "two")
    p = run(LEARNER, "run", "--state", one, "--input", trace, "--config", cfg,
            "--workers", "1")
    check("training the seed" in p.stderr and "fine-tuning" in p.stderr,
          f"progress output: {p.stderr[-400:]}")
    st = state(one)
    blocks = st["blocks"]
    check(len(blocks) == N_BLOCKS, f"{len(blocks)} blocks, want {N_BLOCKS}")
    check(sum(b["records"] for b in blocks) == n_rec, "records captured")
    check(all(b["status"] == "trained" for b in blocks), f"status: {blocks}")
    check(sorted(b["version"] for b in blocks) == list(range(1, N_BLOCKS + 1)),
          "versions 1..N")
    seed = blocks[0]
    check(st["seed_block"] == seed["index"] and seed["iterations"] == 24 and
          all(b["iterations"] == 6 for b in blocks[1:]),
          f"seed 24 iterations, fine-tunes 6: {blocks}")
    check(os.listdir(os.path.join(one, "blocks")) == [],
          "spooled blocks removed once trained")
    for b in blocks:
        rp = os.path.join(one, "reports", f"block-{b['index']:010d}.json")
        with open(rp) as f:
            rep = json.load(f)
        check(rep["status"] == "trained" and rep["metrics"]["SA"] is not None
              and rep["held_back_records"] > 0 and rep["synthetic_records"] > 0
              and rep["metrics"]["exact_record_share"] == 0,
              f"report {rp}: {rep}")
    with open(os.path.join(one, "latest.json")) as f:
        latest = json.load(f)
    check(latest["version"] == N_BLOCKS and os.path.exists(latest["model"]),
          f"latest: {latest}")
    run(LEARNER, "run", "--state", two, "--input", trace, "--config", cfg,
        "--workers", "2", "-q")
    a, b2 = checkpoints(one), checkpoints(two)
    check(len(a) == N_BLOCKS and a == b2,
          "one and two workers give the same checkpoints")

    # rerun: nothing new captured or trained
    p = run(LEARNER, "run", "--state", one, "--input", trace, "--config", cfg)
    check(f"captured 0 new blocks" in p.stderr and
          f"{N_BLOCKS} already" in p.stderr, f"rerun: {p.stderr[-300:]}")
    check(state(one)["published"] == N_BLOCKS, "rerun published nothing")

    # another block length on the same state is refused
    other = os.path.join(tmp, "other.json")
    with open(other, "w") as f:
        json.dump({"continuous": {"block_seconds": 20}}, f)
    p = run(LEARNER, "run", "--state", one, "--config", other, ok=False)
    check(p.returncode == 1 and "other settings" in p.stderr,
          f"other block length: {p.returncode} {p.stderr}")

    # killed mid-run, restarted: no block lost, none trained twice
    killed = os.path.join(tmp, "killed")
    slow = os.path.join(tmp, "slow.json")
    config(slow)
    with open(slow) as f:
        c = json.load(f)
    c["model"]["iterations"] = 400
    with open(slow, "w") as f:
        json.dump(c, f)
    proc = subprocess.Popen([LEARNER, "run", "--state", killed, "--input",
                             trace, "--config", slow, "-q"],
                            stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300
    while time.monotonic() < end:
        try:
            s = state(killed)
            if sum(b["status"] == "trained" for b in s["blocks"]) >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {b["index"]: b for b in state(killed)["blocks"]}
    done_before = {i for i, b in before.items() if b["status"] == "trained"}
    check(len(before) == N_BLOCKS and 2 <= len(done_before) < N_BLOCKS,
          f"killed state: {len(before)} blocks, {len(done_before)} trained")
    run(LEARNER, "run", "--state", killed, "--config", slow, "-q")
    after = {b["index"]: b for b in state(killed)["blocks"]}
    check(all(b["status"] == "trained" for b in after.values()),
          "every block trained after the restart")
    check(all(after[i]["version"] == before[i]["version"] for i in done_before),
          "published blocks were not retrained")
    check(sorted(b["version"] for b in after.values()) ==
          list(range(1, N_BLOCKS + 1)), "one version per block")

    # DP: refused without a public model; with one, epsilon per block
    # matches the accountant's CLI and the budget holds
    dpcfg = os.path.join(tmp, "dp.json")
    config(dpcfg, enabled=1, noise_multiplier=1.0, clip=1.0,
           epsilon_budget=0)
    p = run(LEARNER, "run", "--state", os.path.join(tmp, "dp0"), "--input",
            trace, "--config", dpcfg, ok=False)
    check(p.returncode == 2 and "--public" in p.stderr,
          f"DP without --public: {p.returncode} {p.stderr}")
    public = os.path.join(tmp, "public.bin")
    pub_trace = os.path.join(tmp, "public.csv")
    write_flows(pub_trace, 99, t0_us=1_400_000_000_000_000)
    run(TRAIN, "--input", pub_trace, "--out", public, "--config", cfg,
        "--iterations", "20", "-q")
    dp1 = os.path.join(tmp, "dp1")
    run(LEARNER, "run", "--state", dp1, "--input", trace, "--config", dpcfg,
        "--public", public, "-q")
    st = state(dp1)
    check(st["seed_model"] == public and st["seed_block"] == -1,
          f"public seed: {st['seed_model']}")
    eps_blocks = []
    for b in st["blocks"]:
        check(b["status"] == "trained" and b["iterations"] == 6,
              f"DP block: {b}")
        q = 20 / b["flows"]
        steps = b["iterations"] * 3 * 2  # d_rounds 3, D and D_a
        p = run(LEARNER, "privacy", "--noise", "1", "--sample-rate", str(q),
                "--steps", str(steps), "--delta", "1e-5", "--count-releases",
                "1", "--count-noise", "1", "--json")
        want = json.loads(p.stdout)["epsilon"]
        check(abs(b["epsilon"] - want) <= 1e-6 * want,
              f"block {b['index']} epsilon {b['epsilon']} vs CLI {want}")
        eps_blocks.append(b["epsilon"])
        with open(os.path.join(dp1, "models",
                               f"block-{b['index']:010d}.privacy.json")) as f:
            side = json.load(f)
        check(side["dp"] and side["claimed"] and side["epsilon_block"] ==
              b["epsilon"], f"privacy sidecar: {side}")
    with open(os.path.join(dp1, "reports",
                           f"block-{st['blocks'][-1]['index']:010d}.json")) as f:
        last = json.load(f)
    total = last["epsilon_total"]
    check(max(eps_blocks) < total <= sum(eps_blocks) + 1e-9,
          f"total epsilon {total} between max and sum of {eps_blocks}")

    # a budget that fits about half the blocks
    budget = total * 0.5
    config(dpcfg, enabled=1, noise_multiplier=1.0, clip=1.0,
           epsilon_budget=budget)
    dp2 = os.path.join(tmp, "dp2")
    p = run(LEARNER, "run", "--state", dp2, "--input", trace, "--config", dpcfg,
            "--public", public)
    st = state(dp2)
    trained = [b for b in st["blocks"] if b["status"] == "trained"]
    skipped = [b for b in st["blocks"] if b["status"] == "skipped"]
    check(trained and skipped and all("budget" in b.get("note", "")
                                       for b in skipped),
          f"budget: {len(trained)} trained, {len(skipped)} skipped")
    check(f"privacy spent: epsilon" in p.stderr, "epsilon printed")
    spent = float(p.stderr.split("privacy spent: epsilon ")[1].split()[0])
    check(spent <= budget + 1e-3, f"spent {spent} > budget {budget}")

    # --dp-unclaimed trains with noise and claims nothing
    dp3 = os.path.join(tmp, "dp3")
    run(LEARNER, "run", "--state", dp3, "--input", trace, "--config", dpcfg,
        "--dp-unclaimed", "-q")
    st = state(dp3)
    check(all(b["status"] == "trained" for b in st["blocks"]),
          "unclaimed DP run trains every block")
    with open(os.path.join(dp3, "reports",
                           f"block-{st['blocks'][1]['index']:010d}.json")) as f:
        rep = json.load(f)
    check(rep["dp"] and not rep["dp_claimed"] and rep["epsilon_block"] is None,
          f"unclaimed report: {rep}")

    if failures:
        sys.exit(f"{len(failures)} failures")
    print("ok")


main()
