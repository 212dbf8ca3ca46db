#!/usr/bin/env python3
"""netshare-learner privacy from the command line: --json prints exactly
{"epsilon": E, "order": A} and reproduces Opacus's docstring example
(q = 0.01, sigma = 1, 300 steps, orders 2,5,10,20,100, delta = 1e-5:
2.39 at order 5); --batch/--records equals --sample-rate; count releases
add to epsilon; bad arguments exit 2 with a message naming the option.

usage: test_learner_privacy.py NETSHARE_LEARNER
"""
import json
import subprocess
import sys

LEARNER = sys.argv[1]
FAILS = []


def run(*args):
    return subprocess.run([LEARNER, *args], capture_output=True, text=True,
                          timeout=60)


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print(f"FAIL: {what}")


def spend(*args):
    p = run("privacy", *args, "--json")
    check(p.returncode == 0, f"{args}: exit {p.returncode}: {p.stderr}")
    out = json.loads(p.stdout)
    check(sorted(out) == ["epsilon", "order"], f"{args}: keys {sorted(out)}")
    check(p.stdout.startswith('{"epsilon": ') and
          p.stdout.count("\n") == 1, f"{args}: stdout {p.stdout!r}")
    return out


def main():
    base = ["--noise", "1.0", "--steps", "300", "--delta", "1e-5",
            "--orders", "2,5,10,20,100"]
    out = spend("--sample-rate", "0.01", *base)
    check(abs(out["epsilon"] - 2.39) < 0.01 and out["order"] == 5,
          f"Opacus example: {out}, want 2.39 at 5")
    print(f"Opacus example: epsilon {out['epsilon']:.4f} at order "
          f"{out['order']}")
    by_batch = spend("--batch", "100", "--records", "10000", *base)
    check(by_batch == out, f"--batch 100 --records 10000 gave {by_batch}")
    classic = spend("--sample-rate", "0.01", *base,
                    "--conversion", "classic")
    check(classic["epsilon"] > out["epsilon"],
          f"classic {classic} is not above balle {out}")
    counted = spend("--sample-rate", "0.01", *base,
                    "--count-releases", "10", "--count-noise", "1")
    check(counted["epsilon"] > out["epsilon"],
          f"count releases did not add: {counted}")
    # TF-Privacy's MNIST example with NetShare's (TF's default) orders
    mnist = spend("--batch", "256", "--records", "60000", "--noise", "1.1",
                  "--steps", "14063", "--delta", "1e-5",
                  "--conversion", "classic")
    check(abs(mnist["epsilon"] - 3.01) < 0.005, f"MNIST: {mnist}")

    p = run("privacy", "--sample-rate", "0.01", *base)
    check(p.returncode == 0 and "epsilon = 2.39" in p.stdout,
          f"text output: {p.stdout!r}")
    for argv in (["privacy", "--help"], ["--help"], ["help"],
                 ["help", "privacy"]):
        p = run(*argv)
        check(p.returncode == 0 and "usage: netshare-learner" in p.stdout,
              f"{argv}: exit {p.returncode}, {p.stdout[:80]!r}")

    ok = ["--noise", "1", "--sample-rate", "0.01", "--steps", "10",
          "--delta", "1e-5"]

    def without(opt):
        i = ok.index(opt)
        return ok[:i] + ok[i + 2:]

    bad = [
        (["privacy", *without("--noise"), "--noise", "-1"], "--noise"),
        (["privacy", *without("--noise"), "--noise", "nan"], "--noise"),
        (["privacy", *without("--noise"), "--noise", "0"], "--noise"),
        (["privacy", *without("--noise")], "--noise is required"),
        (["privacy", *without("--sample-rate"), "--sample-rate", "1.5"],
         "--sample-rate"),
        (["privacy", *without("--sample-rate"), "--sample-rate", "-0.1"],
         "--sample-rate"),
        (["privacy", *without("--sample-rate")], "--sample-rate"),
        (["privacy", *ok, "--batch", "5", "--records", "10"],
         "--sample-rate and --batch"),
        (["privacy", *without("--sample-rate"), "--batch", "20",
          "--records", "10"], "--batch"),
        (["privacy", *without("--sample-rate"), "--batch", "20"],
         "--records"),
        (["privacy", *without("--sample-rate"), "--batch", "-3",
          "--records", "10"], "--batch"),
        (["privacy", *without("--delta"), "--delta", "1"], "--delta"),
        (["privacy", *without("--delta"), "--delta", "0"], "--delta"),
        (["privacy", *without("--delta"), "--delta", "abc"], "--delta"),
        (["privacy", *without("--delta")], "--delta is required"),
        (["privacy", *without("--steps"), "--steps", "-5"], "--steps"),
        (["privacy", *without("--steps"), "--steps", "2.5"], "--steps"),
        (["privacy", *ok, "--orders", "2,0.5"], "--orders"),
        (["privacy", *ok, "--orders", "2,,3"], "--orders"),
        (["privacy", *ok, "--orders", "2,3,2"], "--orders"),
        (["privacy", *ok, "--conversion", "pld"], "--conversion"),
        (["privacy", *ok, "--count-releases", "3"], "--count-noise"),
        (["privacy", *ok, "--count-releases", "3", "--count-noise", "-1"],
         "--count-noise"),
        (["privacy", *ok, "--noise", "2"], "--noise is given twice"),
        (["privacy", *ok, "--frobnicate"], "--frobnicate"),
        (["privacy", *ok, "extra"], "extra"),
        (["privacy", *ok, "--delta"], "--delta"),
        (["train"], "unknown command 'train'"),
        ([], "usage"),
    ]
    for argv, needle in bad:
        p = run(*argv)
        check(p.returncode == 2 and needle in p.stderr and not p.stdout,
              f"{argv}: exit {p.returncode}, stderr {p.stderr!r}, "
              f"wanted exit 2 and {needle!r}")
    print(f"{len(bad)} bad command lines exit 2 naming the option")
    if FAILS:
        sys.exit(f"{len(FAILS)} checks failed")
    print("ok")


if __name__ == "__main__":
    main()
