"""How phyper-core scales with the number of instances (a benchmark, not a test).

The Iris grid of the seed (90 instances) is multiplied by listing many values of the
``seed`` key: 1000 seeds give 90,000 instances, 11,112 seeds about a million. Each
size runs in its own subprocess so that its peak memory (``ru_maxrss``) is its own.

For each size it prints:

* build: ``parser.get_instances_from_dictionary(grid)``;
* hashes: every instance's hash for the 3 resources and its full hash;
* total: build + hashes, wall clock, and (cpu s) the CPU time of the process for
  both, which moves less when other processes share the machine;
* lookup first: the first ``get_instance_from_hash`` on the list, which builds the
  hash index (the full hashes are already memoised by then);
* lookup median: the median of 1000 later lookups of random hashes;
* peak RSS of the subprocess, and the same figure for an import-only subprocess.

Usage::

    python benchmarks/core_scaling.py                 # 90k and ~1M
    python benchmarks/core_scaling.py --seeds 100 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import phyper

RESOURCES = ("transformed_data", "preprocessed_data", "cross_validated_model")
LOOKUPS = 1000


class NonKeys:
    n_epochs = 2000
    batch_size = 32
    learning_rate = 0.001
    log_interval = 200


class Instance(phyper.Parser, NonKeys):
    seed = 0
    n_hidden_layers = 3
    cv_k = 5
    cv_fold = 0
    transformation = "identity"
    centering = False


def make_parser() -> Instance:
    parser = Instance(hashed_resources_folder="derived_data")
    parser.register_new_resource(name="transformed_data", dependencies=["transformation"])
    parser.register_new_resource(name="preprocessed_data", dependencies=["transformation", "centering"])
    parser.register_new_resource(
        name="cross_validated_model",
        dependencies=parser.get_dependencies_for_resources("preprocessed_data") + ["n_hidden_layers"],
    )
    return parser


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n_seeds: int) -> dict[str, Any]:
    """Run every measurement for one size in this process."""
    parser = make_parser()
    grid: dict[str, list[Any]] = {
        "transformation": ["identity", "log", "square"],
        "centering": [True, False],
        "n_hidden_layers": [1, 2, 3],
        "cv_fold": list(range(5)),
        "seed": list(range(n_seeds)),
    }
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    instances = parser.get_instances_from_dictionary(grid)
    build = time.perf_counter() - start

    start = time.perf_counter()
    distinct = {}
    for resource_name in (*RESOURCES, None):
        hashes = [instance.get_instance_hash(resource_name) for instance in instances]
        distinct[resource_name or "all"] = len(set(hashes))
    hashing = time.perf_counter() - start
    total_cpu = time.process_time() - start_cpu

    full_hashes = hashes
    start = time.perf_counter()
    first = parser.get_instance_from_hash(full_hashes[-1], instances)
    lookup_first = time.perf_counter() - start
    assert first is instances[-1]

    rng = random.Random(0)
    timings = []
    for _ in range(LOOKUPS):
        position = rng.randrange(len(instances))
        wanted = full_hashes[position]
        start = time.perf_counter()
        found = parser.get_instance_from_hash(wanted, instances)
        timings.append(time.perf_counter() - start)
        assert found is instances[position]
    return {
        "seeds": n_seeds,
        "instances": len(instances),
        "distinct": distinct,
        "build_s": build,
        "hashes_s": hashing,
        "total_cpu_s": total_cpu,
        "lookup_first_s": lookup_first,
        "lookup_median_s": statistics.median(timings),
        "peak_rss_mib": peak_rss_mib(),
    }


def run_in_subprocess(arguments: list[str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, *arguments], check=True, capture_output=True, text=True
    )
    return json.loads(completed.stdout)


def main() -> None:
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--seeds", type=int, nargs="+", default=[1000, 11112])
    command_line.add_argument("--child", type=int, help=argparse.SUPPRESS)
    command_line.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    arguments = command_line.parse_args()
    if arguments.baseline:
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return
    if arguments.child is not None:
        print(json.dumps(measure(arguments.child)))
        return

    baseline = run_in_subprocess(["--baseline"])["peak_rss_mib"]
    results = [run_in_subprocess(["--child", str(n)]) for n in arguments.seeds]
    print(f"python {sys.version.split()[0]}, phyper {phyper.__version__}; "
          f"peak RSS after `import phyper` alone: {baseline:.1f} MiB")
    header = (f"{'instances':>10} {'build s':>8} {'hashes s':>9} {'total s':>8} {'(cpu s)':>8} "
              f"{'1st lookup ms':>14} {'lookup us':>10} {'peak MiB':>9} {'distinct (td/pd/cvm/all)':>26}")
    print(header)
    for r in results:
        d = r["distinct"]
        distinct = f"{d['transformed_data']}/{d['preprocessed_data']}/{d['cross_validated_model']}/{d['all']}"
        print(f"{r['instances']:>10,} {r['build_s']:>8.3f} {r['hashes_s']:>9.3f} "
              f"{r['build_s'] + r['hashes_s']:>8.3f} {r['total_cpu_s']:>8.3f} {r['lookup_first_s'] * 1e3:>14.1f} "
              f"{r['lookup_median_s'] * 1e6:>10.2f} {r['peak_rss_mib']:>9.1f} {distinct:>26}")
    for small, large in zip(results, results[1:]):
        ratio = large["instances"] / small["instances"]
        memory = (large["peak_rss_mib"] - baseline) / (small["peak_rss_mib"] - baseline)
        print(f"{large['instances']:,} / {small['instances']:,}: instances x{ratio:.1f}, "
              f"build x{large['build_s'] / small['build_s']:.1f}, "
              f"hashes x{large['hashes_s'] / small['hashes_s']:.1f}, "
              f"1st lookup x{large['lookup_first_s'] / small['lookup_first_s']:.1f}, "
              f"lookup median x{large['lookup_median_s'] / small['lookup_median_s']:.2f}, "
              f"peak memory above baseline x{memory:.1f}")


if __name__ == "__main__":
    main()
