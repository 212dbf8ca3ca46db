#!/usr/bin/env python3
"""netshare-learner run --mpi under `mpirun -n 2`: rank 0 captures and
trains the seed, the two later blocks go one to each rank, rank 0 gathers
the results; the checkpoints equal a two-thread run's byte for byte, and
state.json lists every block once. Skips (77) without mpirun or when the
learner was built without MPI.

usage: test_learner_mpi.py LEARNER
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

LEARNER = sys.argv[1]
BLOCK_S = 10


def write_flows(path):
    rnd = random.Random(5)
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for b in range(3):
            for _ in range(100):
                ts = 1_500_000_000_000_000 + (b * BLOCK_S +
                                              rnd.uniform(0, 9.9)) * 1e6
                pkt = rnd.randint(1, 20)
                f.write(f"{167772160 + rnd.randint(0, 30)},"
                        f"{3232235520 + rnd.randint(0, 5)},"
                        f"{rnd.choice([443, 40000 + rnd.randint(0, 40)])},"
                        f"{rnd.choice([443, 53])},TCP,{int(ts)},"
                        f"{rnd.randint(0, 900000)},{pkt},"
                        f"{pkt * rnd.randint(40, 1500)},background\n")


def main():
    mpirun = shutil.which("mpirun")
    if not mpirun:
        print("SKIP: mpirun not installed (apt-get install openmpi-bin)")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="ns-learner-mpi-")
    trace, cfg = os.path.join(tmp, "flows.csv"), os.path.join(tmp, "cfg.json")
    write_flows(trace)
    with open(cfg, "w") as f:
        json.dump({"encoding": {"max_flow_len": 6},
                   "model": {"gen_hidden": 24, "disc_hidden": 24,
                             "lstm_units": 12, "batch": 16, "iterations": 16,
                             "sample_len": 2},
                   "continuous": {"block_seconds": BLOCK_S}}, f)
    probe = subprocess.run([LEARNER, "run", "--mpi", "--state",
                            os.path.join(tmp, "probe"), "-q",
                            "--config", "/nonexistent"],
                           capture_output=True, text=True)
    if "built without MPI" in probe.stderr:
        print("SKIP: netshare-learner was built without MPI")
        sys.exit(77)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    mpi_dir, thr_dir = os.path.join(tmp, "mpi"), os.path.join(tmp, "thr")
    p = subprocess.run([mpirun, "-n", "2", LEARNER, "run", "--mpi",
                        "--state", mpi_dir, "--input", trace, "--config", cfg],
                       capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        sys.exit(f"FAIL: mpirun exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    subprocess.run([LEARNER, "run", "--state", thr_dir, "--input", trace,
                    "--config", cfg, "--workers", "2", "-q"], check=True,
                   timeout=600)
    fails = []
    if "from rank 1: published" not in p.stderr:
        fails.append(f"no block came from rank 1:\n{p.stderr}")
    with open(os.path.join(mpi_dir, "state.json")) as f:
        st = json.load(f)
    if (len(st["blocks"]) != 3 or
            any(b["status"] != "trained" for b in st["blocks"]) or
            sorted(b["version"] for b in st["blocks"]) != [1, 2, 3]):
        fails.append(f"state: {st['blocks']}")
    names = sorted(n for n in os.listdir(os.path.join(thr_dir, "models"))
                   if n.endswith(".ckpt"))
    if len(names) != 3:
        fails.append(f"thread run made {names}")
    for n in names:
        with open(os.path.join(thr_dir, "models", n), "rb") as a, \
                open(os.path.join(mpi_dir, "models", n), "rb") as b:
            if a.read() != b.read():
                fails.append(f"{n}: the MPI checkpoint differs from the "
                             "thread run's")
    for n in os.listdir(os.path.join(mpi_dir, "reports")):
        with open(os.path.join(mpi_dir, "reports", n)) as f:
            rep = json.load(f)
        if rep["status"] != "trained" or rep["metrics"]["SA"] is None:
            fails.append(f"report {n}: {rep}")
    if os.listdir(os.path.join(mpi_dir, "blocks")):
        fails.append("spooled blocks left behind")
    if fails:
        sys.exit("FAIL: " + "\n".join(fails))
    print("ok: 3 blocks on 2 ranks, checkpoints equal the thread run's")


main()
