"""`visclust bench`: run the benchmarks of the source checkout and write results.json plus a markdown table.

bench/ is not packaged and the product imports nothing of it: this command starts
``python -m bench`` in a subprocess, in the checkout that holds this module.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.errors import UserError

CHECKOUT = Path(__file__).resolve().parents[2]


def register(sub):
    p = sub.add_parser("bench", help="run the benchmarks (ratios against baselines measured in the same run)")
    p.add_argument("--quick", action="store_true", help="smaller sizes; finishes in about two minutes")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only bench_NAME.py (repeatable)")
    p.add_argument("--out", default="bench-results", help="folder for results.json and results.md")
    p.set_defaults(run=_bench)


def _bench(args) -> int:
    if not (CHECKOUT / "bench" / "__main__.py").is_file():
        raise UserError("the benchmarks live in a source checkout (bench/ beside app/); "
                        f"this installation at {CHECKOUT} has none")
    cmd = [sys.executable, "-m", "bench", "--out", str(Path(args.out).resolve())]
    cmd += ["--quick"] * args.quick + [arg for name in args.only for arg in ("--only", name)]
    return subprocess.run(cmd, cwd=CHECKOUT).returncode
