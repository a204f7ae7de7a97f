"""``python -m bench [NAME ...] [--quick]``: run the benchmarks, print the table, write
bench/results.json.

Names: crawl (also gives recrawl), matching, digests, peer (peer-first and peer-second),
memory. Without names every benchmark runs. Results of benchmarks not run this time are
kept from the previous file (each row says when it was measured and with which
sizes), so one slow benchmark can be re-run alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import Result, machine, table

RESULTS = Path(__file__).resolve().parent / "results.json"
QUICK_RESULTS = RESULTS.with_name("results-quick.json")
GROUPS = {
    "crawl": ("bench.crawl", ["crawl", "recrawl"]),
    "matching": ("bench.matcher", ["matching"]),
    "digests": ("bench.digests", ["digests"]),
    "peer": ("bench.peer", ["peer-first", "peer-second"]),
    "memory": ("bench.memory", ["memory"]),
}
ALIASES = {"recrawl": "crawl", "peer-first": "peer", "peer-second": "peer"}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _load_previous(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return list(data.get("results", [])) if isinstance(data, dict) else list(data)


def markdown(data: dict) -> str:
    """results.json as a Markdown table."""
    from bench.harness import fmt

    lines = [
        "| benchmark | ours | baseline | ratio | target | peak MB | result | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in data.get("results", []):
        verdict = "error" if r.get("error") else ("**pass**" if r.get("passed") else "**miss**")
        ratio_text = "—" if r.get("ratio") is None else f"{r['ratio']:.3f}"
        details = r.get("details", {})
        when = details.get("measured_at", "")[:16].replace("T", " ")
        if details.get("quick"):
            when += " (quick)"
        lines.append(
            f"| {r['name']} | {fmt(r.get('ours'), r.get('unit', ''))} | "
            f"{fmt(r.get('baseline'), r.get('unit', ''))} | {ratio_text} | {r.get('target', '')} | "
            f"{fmt(r.get('peak_memory_mb'))} | {verdict} | {when} |"
        )
    m = data.get("machine", {})
    lines.append("")
    lines.append(
        f"Machine: {m.get('nproc')} × {m.get('cpu')}, {m.get('ram_gb')} GB RAM, "
        f"Python {m.get('python')}, {m.get('platform')}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run ({', '.join(GROUPS)})")
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes (about a minute or two)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the JSON (default bench/results.json; with --quick "
        "bench/results-quick.json, so a quick run never replaces full results)",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print results.json as a Markdown table (for docs/benchmarks.md) and exit",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = QUICK_RESULTS if args.quick else RESULTS
    if args.markdown:
        print(markdown(json.loads(args.output.read_text(encoding="utf-8"))))
        return 0
    wanted = [ALIASES.get(n, n) for n in args.names] or list(GROUPS)
    unknown = [n for n in wanted if n not in GROUPS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    wanted = list(dict.fromkeys(wanted))

    import importlib

    info = machine()
    log(
        f"machine: {info['nproc']} × {info['cpu']}, {info['ram_gb']} GB, Python {info['python']}, load {info['load_average']}"
    )
    fresh: list[Result] = []
    for name in wanted:
        module_name, rows = GROUPS[name]
        started = time.perf_counter()
        try:
            results = importlib.import_module(module_name).run(args.quick, log)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            results = [
                Result(
                    name=row, title=row, ours=None, baseline=None, ratio=None, unit="",
                    target="", passed=False, error=f"{exc.__class__.__name__}: {exc}"[:3000],
                )
                for row in rows
            ]  # fmt: skip
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for result in results:
            result.details.setdefault("quick", args.quick)
            result.details.setdefault("measured_at", stamp)
            result.details.setdefault("load_average_after", machine()["load_average"])
            result.details.setdefault("group_seconds", round(time.perf_counter() - started, 1))
        fresh.extend(results)
        log(f"{name}: done in {time.perf_counter() - started:.1f} s")

    names = {r.name for r in fresh}
    kept = [r for r in _load_previous(args.output) if r.get("name") not in names]
    order = [row for _, rows in GROUPS.values() for row in rows]
    rows = sorted(
        [*kept, *(r.as_dict() for r in fresh)],
        key=lambda r: order.index(r["name"]) if r["name"] in order else len(order),
    )
    args.output.write_text(
        json.dumps(
            {
                "machine": info,
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "results": rows,
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    print(table(fresh))
    if kept:
        print(
            f"\n(kept from the previous run in {args.output.name}: {', '.join(r['name'] for r in kept)})"
        )
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
