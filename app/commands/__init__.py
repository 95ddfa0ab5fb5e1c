"""Subcommands of `visclust`: a module with `register(subparsers)` adds top-level commands;
`evaluate` and `train` group the `register_evaluate`/`register_train` subcommands of the others.

Each subparser sets `run=callable(args) -> int | None` with `set_defaults`.
"""
