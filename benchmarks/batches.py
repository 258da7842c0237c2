"""Batch sizes and members moved by grid changes: phyper's membership against the one before.

Prints, for grids of 12, 100 and 10,000 instances (real instance hashes of a one-key
grid), the batch sizes of ``group_into_batches`` and of the membership phyper had up to
issue 25 (2**k batches chosen by the first bits of the hash), then how many members
change batch when instances are added or removed. A member *moves* when it ends up in
another batch: the batches of the two groupings are paired so that as many members as
possible keep their batch, and the others are counted.

    python benchmarks/batches.py [--trials 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Iterable

import phyper
from phyper._planning.keys import batch_key, group_into_batches

CASES = ((12, 3), (100, 10), (10_000, 100), (10_000, 10))
"""(instances, batch=) pairs measured."""


class Instance(phyper.Parser):
    seed = 0


def grid_hashes(count: int, start: int = 0) -> list[str]:
    """The hashes of ``Instance(seed=i)`` for ``start <= i < start + count``."""
    instances = Instance().get_instances_from_dictionary({"seed": list(range(start, start + count))})
    return [instance.get_instance_hash() for instance in instances]


def hash_prefix_batches(keys: Iterable[str], batch_size: int) -> dict[str, list[str]]:
    """The membership before issue 25: 2**k batches (ceil(n / N) rounded up), by the hash's first bits."""
    given = list(keys)
    count = 1
    while count * batch_size < len(given):
        count *= 2
    bits = count.bit_length() - 1
    groups: dict[int, list[str]] = {}
    for key in given:
        groups.setdefault(int(key[:16], 16) >> (64 - bits) if bits else 0, []).append(key)
    return {batch_key(index, count): groups[index] for index in sorted(groups)}


def moved(before: dict[str, list[str]], after: dict[str, list[str]]) -> int:
    """Members of both groupings that change batch (batches paired to keep the most in place)."""
    kept = set().union(*before.values()) & set().union(*after.values())
    old_of = {key: name for name, members in before.items() for key in members if key in kept}
    overlaps: dict[tuple[str, str], int] = {}
    for name, members in after.items():
        for key in members:
            if key in kept:
                pair = (old_of[key], name)
                overlaps[pair] = overlaps.get(pair, 0) + 1
    used_old: set[str] = set()
    used_new: set[str] = set()
    staying = 0
    for (old, new), count in sorted(overlaps.items(), key=lambda item: -item[1]):
        if old not in used_old and new not in used_new:
            used_old.add(old)
            used_new.add(new)
            staying += count
    return len(kept) - staying


def sizes(groups: dict[str, list[str]]) -> str:
    counts = [len(members) for members in groups.values()]
    shown = "/".join(map(str, counts)) if len(counts) <= 12 else (
        f"{len(counts)} batches, min {min(counts)}, median {statistics.median(counts):g}, max {max(counts)}"
    )
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="random adds/removes measured per case")
    arguments = parser.parse_args()
    rng = random.Random(25)
    schemes = {"hash prefix (before)": hash_prefix_batches, "runs of sorted hashes (now)": group_into_batches}
    print("batch sizes")
    for instances, size in CASES:
        keys = grid_hashes(instances)
        for label, scheme in schemes.items():
            print(f"  {instances:>6} instances, batch={size:<4} {label:<28} {sizes(scheme(keys, size))}")
    print(f"members moved (mean and max over {arguments.trials} trials; the added/removed ones not counted)")
    for instances, size in CASES:
        keys = grid_hashes(instances)
        extra = grid_hashes(max(100, instances // 10), start=instances)
        for change in sorted({1, 10, instances // 10} - {0}):
            for label, scheme in schemes.items():
                before = scheme(keys, size)
                adds, removes = [], []
                for _ in range(arguments.trials):
                    adds.append(moved(before, scheme([*keys, *rng.sample(extra, change)], size)))
                    dropped = set(rng.sample(keys, change))
                    removes.append(moved(before, scheme([key for key in keys if key not in dropped], size)))
                print(
                    f"  {instances:>6} instances, batch={size:<4} {change:>5} added: {statistics.mean(adds):7.1f}"
                    f" (max {max(adds):>5}), removed: {statistics.mean(removes):7.1f} (max {max(removes):>5})"
                    f"  {label}"
                )


if __name__ == "__main__":
    main()
