"""The child side of :func:`bench.harness.run_child`: ``python -m bench.worker`` reads
``{"task": "module:function", "args": {...}, "answer": path}`` on stdin, calls the function
with ``args`` and writes its dict (plus ``_maxrss_kb``) as JSON to ``answer``."""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path


def main() -> int:
    job = json.loads(sys.stdin.read())
    module_name, _, func_name = job["task"].partition(":")
    answer_path = Path(job["answer"])
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        answer = func(**job["args"]) or {}
        code = 0
    except Exception as exc:  # reported to the harness
        traceback.print_exc()
        answer = {"error": f"{exc.__class__.__name__}: {exc}"}
        code = 1
    from bench.harness import maxrss_kb

    answer["_maxrss_kb"] = maxrss_kb()
    answer_path.write_text(json.dumps(answer, default=str), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
