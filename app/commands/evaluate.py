"""`visclust evaluate clams|clusternet|crossval`: every evaluation of the models, one group."""
from __future__ import annotations

from app.commands import clusternet, perception


def register(sub):
    p = sub.add_parser("evaluate", help="evaluate CLAMS or ClusterNet against simulated and human labels",
                       description="clams: Spearman rho of CLAMS and clusterer-variability baselines with the "
                       "simulated crowd's ambiguity on a held-out suite. clusternet: the development benchmark "
                       "per group and wut. crossval: cross-validated fine-tuning on human labels.")
    group = p.add_subparsers(dest="evaluation", metavar="EVALUATION")
    group.required = True
    perception.register_evaluate(group)
    clusternet.register_evaluate(group)
