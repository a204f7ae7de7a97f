"""Split one new batch of labelled items into the development and held-out parts.

Usage: python data/eval/split.py BATCH.jsonl BATCH_NAME

Each batch is split on its own, so that items already in dev.jsonl or heldout.jsonl never
move when a batch is added. Within a batch, items are grouped by stratum (language, kind,
and whether they come from the EU portal), each group is shuffled with a seed derived from
the batch name, and the first 60 % (rounded) of every group go to dev.jsonl, the rest to
heldout.jsonl.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV_SHARE = 0.6
SEED = 20261201


def stratum(item: dict) -> tuple[str, str, bool]:
    return (item["language"], item.get("kind", "call"), item.get("source") == "eu-sedia")


def split(items: list[dict], batch_name: str) -> tuple[list[dict], list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for item in items:
        groups[stratum(item)].append(item)
    rng = random.Random(f"{SEED}:{batch_name}")
    dev: list[dict] = []
    heldout: list[dict] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda item: item["external_id"])
        rng.shuffle(group)
        cut = round(len(group) * DEV_SHARE)
        dev.extend(group[:cut])
        heldout.extend(group[cut:])
    return dev, heldout


def main(argv: list[str]) -> None:
    batch_path, batch_name = Path(argv[1]), argv[2]
    items = [
        json.loads(line)
        for line in batch_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    dev, heldout = split(items, batch_name)
    for name, part in (("dev.jsonl", dev), ("heldout.jsonl", heldout)):
        with (HERE / name).open("a", encoding="utf-8") as handle:
            for item in part:
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{batch_name}: {len(dev)} to dev.jsonl, {len(heldout)} to heldout.jsonl")


if __name__ == "__main__":
    main(sys.argv)
