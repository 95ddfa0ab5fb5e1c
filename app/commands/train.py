"""`visclust train clusternet|separability`: every training run, one group."""
from __future__ import annotations

from app.commands import clusternet, perception


def register(sub):
    p = sub.add_parser("train", help="train ClusterNet or CLAMS' pair regressor (generated plots or human labels)")
    group = p.add_subparsers(dest="model", metavar="MODEL")
    group.required = True
    clusternet.register_train(group)
    perception.register_train(group)
