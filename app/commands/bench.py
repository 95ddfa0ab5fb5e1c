"""`visclust bench`: run every benchmark in bench/ and write results.json plus a markdown table."""
from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from app.errors import UserError

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def register(sub):
    p = sub.add_parser("bench", help="run the benchmarks (ratios against baselines measured in the same run)")
    p.add_argument("--quick", action="store_true", help="smaller sizes; finishes in about two minutes")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only bench_NAME.py (repeatable)")
    p.add_argument("--out", default="bench-results", help="folder for results.json and results.md")
    p.set_defaults(run=_bench)


def modules(only=()) -> list[str]:
    if not BENCH_DIR.is_dir():
        raise UserError(f"the benchmarks live in the source checkout ({BENCH_DIR} is missing)")
    names = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    if only:
        missing = [n for n in only if f"bench_{n}" not in names]
        if missing:
            raise UserError(f"no benchmark(s) {missing}; there are {[n[6:] for n in names]}")
        names = [f"bench_{n}" for n in only]
    return names


def markdown(rows: list[dict], info: dict) -> str:
    lines = [f"Machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}; "
             + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v), "",
             "| benchmark | seconds | baseline | baseline s | ratio | target | met |",
             "|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r.get("passed")]
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.3g}"
        base = "" if r.get("baseline_seconds") is None else f"{r['baseline_seconds']:.3g}"
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(f"| {r['benchmark']}{note} | {r['seconds']:.3g} | {r.get('baseline', '')} | {base} | "
                     f"{ratio} | {r.get('target', '')} | {met} |")
    return "\n".join(lines) + "\n"


def _bench(args):
    sys.path.insert(0, str(BENCH_DIR.parent))
    from bench.common import machine

    rows, started = [], time.time()
    for name in modules(args.only):
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += module.run(quick=args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            rows.append({"benchmark": name, "seconds": float("nan"), "note": f"failed: {exc}", "passed": False})
    info = machine()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "visclust bench" + (" --quick" if args.quick else "") + "".join(f" --only {n}" for n in args.only)
    (out / "results.json").write_text(json.dumps({"machine": info, "command": command, "rows": rows,
                                                  "seconds": round(time.time() - started, 1)}, indent=1))
    table = markdown(rows, info)
    (out / "results.md").write_text(f"Command: `{command}`\n\n{table}")
    print(table)
