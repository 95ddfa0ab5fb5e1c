"""Subcommands of `visclust`: every module here defines `register(subparsers)`.

Each subparser sets `run=callable(args) -> int | None` with `set_defaults`.
"""
