"""Every benchmark ``bench/bench_*.py`` in one run: results.json plus a markdown table (`visclust bench`)."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from bench.common import machine

BENCH_DIR = Path(__file__).resolve().parent


def modules(only=()) -> list[str]:
    names = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    if only:
        missing = [n for n in only if f"bench_{n}" not in names]
        if missing:
            sys.exit(f"visclust bench: no benchmark(s) {missing}; there are {[n[6:] for n in names]}")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args(argv)
    rows, started = [], time.time()
    for name in modules(args.only):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += importlib.import_module(f"bench.{name}").run(quick=args.quick)
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


if __name__ == "__main__":
    main()
