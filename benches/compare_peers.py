#!/usr/bin/env python3
"""The MLP training step of adjoint and its peers, side by side, in one run.

Runs `bench_mlp` (adjoint) and `../shared/peers/mlp_step.py` (JAX, NumPy,
PyTorch) on the issue's five configurations, interleaved over `--rounds`
rounds so that the machine's drift hits every framework alike, and prints a
Markdown table of the medians (steps/s) with adjoint's ratio to each peer.

    cargo build --release --example bench_mlp
    python3 benches/compare_peers.py --python /tmp/peers/bin/python --rounds 3

Standard library only; the peers need the venv of ../shared/peers/README.md.
A framework that is not installed is left out of the table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [  # sizes, batch, threads, adjoint's --steps per timing
    ("784,10,10", 64, 1, 400),
    ("784,128,10", 64, 1, 100),
    ("784,128,10", 128, 1, 60),
    ("784,1024,1024,10", 256, 1, 4),
    ("784,1024,1024,10", 256, 2, 6),
]
PEERS = ["jax", "numpy", "torch"]


def run_json(cmd, env=None):
    """The last JSON line a command prints, or None if it failed."""
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        sys.stderr.write(f"failed: {' '.join(cmd)}\n{out.stderr[-500:]}\n")
        return None
    return json.loads(lines[-1])


def adjoint(sizes, batch, threads, steps):
    exe = os.path.join(ROOT, "target", "release", "examples", "bench_mlp")
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:threads])
    cmd = ["taskset", "-c", cpus, exe, "--sizes", sizes, "--batch", str(batch),
           "--threads", str(threads), "--steps", str(steps), "--repeats", "5"]
    return run_json(cmd)


def peer(python, peers_dir, framework, sizes, batch, threads):
    cmd = [python, os.path.join(peers_dir, "mlp_step.py"), "--framework", framework,
           "--sizes", sizes, "--batch", str(batch), "--threads", str(threads),
           "--repeats", "5"]
    env = dict(os.environ)
    # As ../shared/peers/README.md says: these two slow a current NumPy.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return run_json(cmd, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/tmp/peers/bin/python")
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", default=",".join(str(i) for i in range(len(CONFIGS))),
                    help="which configurations to run, as indices into CONFIGS (e.g. 0,1,2)")
    a = ap.parse_args()
    chosen = [int(i) for i in a.configs.split(",")]
    rates = {}  # (config index, framework) -> [steps/s]
    for r in range(a.rounds):
        for i, (sizes, batch, threads, steps) in enumerate(CONFIGS):
            if i not in chosen:
                continue
            results = {"adjoint": adjoint(sizes, batch, threads, steps)}
            for fw in PEERS:
                results[fw] = peer(a.python, a.peers, fw, sizes, batch, threads)
            for fw, res in results.items():
                if res is not None:
                    rates.setdefault((i, fw), []).append(res["steps_per_s"])
            sys.stderr.write(f"round {r + 1}: {sizes} b{batch} t{threads} done\n")
    fws = ["adjoint"] + [fw for fw in PEERS if any((i, fw) in rates for i in range(len(CONFIGS)))]
    med = {k: statistics.median(v) for k, v in rates.items()}
    head = "| sizes, batch, threads | " + " | ".join(fws) + " | " + " | ".join(
        f"adjoint / {fw}" for fw in fws[1:]) + " |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for i, (sizes, batch, threads, _) in enumerate(CONFIGS):
        if i not in chosen:
            continue
        cells = [f"{med[(i, fw)]:,.1f}" if (i, fw) in med else "—" for fw in fws]
        ratios = [f"{med[(i, 'adjoint')] / med[(i, fw)]:.2f}"
                  if (i, fw) in med and (i, "adjoint") in med else "—" for fw in fws[1:]]
        print(f"| {sizes.replace(',', '-')}, {batch}, {threads} | " + " | ".join(cells)
              + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
