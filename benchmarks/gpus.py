"""The Iris trainings on a real GPU with ``gpus=0.25`` (four jobs share it) against the CPU.

A figure-printing script, not a test: run it once on a machine with a GPU,

    python benchmarks/gpus.py                 # the real devices (nvidia-smi -L, or PHYPER_GPUS)
    python benchmarks/gpus.py --fake          # no GPU: PHYPER_GPUS=0, checks the script itself

It copies ``examples/iris`` twice into a temporary folder and runs ``doit -n 4
train_model`` (the 90 trainings in 8 batch jobs, plus the data steps they need) in each:
once as by default (CPU), once with ``PHYPER_STEP_GPUS=train_model=0.25``. It prints
whether torch sees CUDA, the wall time of both runs and their ratio, the devices the
training jobs were given (from the job log), and the most batch jobs that held each
device at once (from the log's start and end times per job process; at most 4 for a
quarter share). ``--epochs N`` sets ``n_epochs`` (default: the example's 2000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IRIS = REPO / "examples" / "iris"
BIN = Path(sys.executable).parent


def run_iris(folder: Path, epochs: int | None, extra: dict[str, str]) -> tuple[float, list[dict[str, object]]]:
    shutil.copytree(IRIS, folder, ignore=shutil.ignore_patterns("derived_data", ".snakemake", ".doit.db*"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}
    if epochs is not None:
        env["PHYPER_NON_KEYS"] = f"n_epochs={epochs},log_interval={max(1, epochs // 10)}"
    started = time.perf_counter()
    subprocess.run([str(BIN / "doit"), "-n", "4", "train_model"], cwd=folder, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    log = folder / "derived_data" / ".phyper" / "jobs.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return elapsed, [e for e in entries if e.get("step") == "train_model" and e.get("status") == "done"]


def most_at_once(entries: list[dict[str, object]]) -> dict[str, int]:
    """Device -> the most job processes (batch jobs) that held it at the same moment."""
    spans: dict[tuple[object, str], list[float]] = {}
    for entry in entries:
        for device in entry.get("devices") or []:  # type: ignore[attr-defined]
            span = spans.setdefault((entry["pid"], str(device)), [float("inf"), 0.0])
            span[0] = min(span[0], float(entry["started"]))  # type: ignore[arg-type]
            span[1] = max(span[1], float(entry["finished"]))  # type: ignore[arg-type]
    most: dict[str, int] = {}
    for (_, device), (start, _end) in spans.items():
        holding = sum(1 for (_, d), (s, e) in spans.items() if d == device and s <= start < e)
        most[device] = max(most.get(device, 0), holding)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fake", action="store_true", help="no GPU: PHYPER_GPUS=0 (checks the script)")
    parser.add_argument("--epochs", type=int, default=None, help="n_epochs (default: the example's)")
    arguments = parser.parse_args()
    probe = "import torch; print(torch.cuda.is_available(), torch.cuda.device_count())"
    print("torch sees CUDA, devices:", subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                                      text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        gpu_env = {"PHYPER_STEP_GPUS": "train_model=0.25", "PHYPER_DEVICE_POOL": str(root / "pool")}
        if arguments.fake:
            gpu_env["PHYPER_GPUS"] = "0"
        cpu_s, cpu_jobs = run_iris(root / "cpu", arguments.epochs, {})
        gpu_s, gpu_jobs = run_iris(root / "gpu", arguments.epochs, gpu_env)
    print(f"CPU run: {len(cpu_jobs)} trainings in {cpu_s:.1f} s; devices {Counter(str(e.get('devices')) for e in cpu_jobs)}")
    print(f"GPU run (gpus=0.25): {len(gpu_jobs)} trainings in {gpu_s:.1f} s; devices "
          f"{dict(Counter(','.join(e.get('devices') or ['-']) for e in gpu_jobs))}")  # type: ignore[arg-type]
    print(f"most batch jobs on a device at once: {most_at_once(gpu_jobs)} (a quarter share: at most 4)")
    print(f"GPU / CPU wall time: {gpu_s / cpu_s:.2f}")


if __name__ == "__main__":
    main()
