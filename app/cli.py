"""The `visclust` command line. Each module in app.commands with a `register` adds its top-level
commands; the others lend their subcommands to a group (`evaluate`, `train`)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from data import InvalidParameter, InvalidScatterplot

from app import commands
from app.errors import UserError

__all__ = ["main", "build_parser", "UserError"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visclust",
        description="Visual clustering: perceived clusters, cluster ambiguity and classical clusterers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except (InvalidScatterplot, InvalidParameter, UserError, FileNotFoundError, PermissionError) as exc:
        print(f"visclust: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("visclust: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
