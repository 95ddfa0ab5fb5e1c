"""`visclust evaluate clams|clusternet`: one entry point for the models' evaluations."""
from __future__ import annotations

from argparse import Namespace

DEFAULTS = {"clams": {"out": "clams-eval", "plots": 200, "seed": None},
            "clusternet": {"out": "runs/clusternet-eval", "plots": 30, "seed": 0}}


def register(sub):
    p = sub.add_parser("evaluate", help="evaluate CLAMS or ClusterNet against (simulated and human) labels",
                       description="clams: Spearman rho of CLAMS and clusterer-variability baselines with the "
                       "simulated crowd's ambiguity on a held-out suite. clusternet: the development benchmark "
                       "per group and wut (same as evaluate-clams / evaluate-clusternet).")
    p.add_argument("model", choices=sorted(DEFAULTS))
    p.add_argument("--out", help="output folder")
    p.add_argument("--plots", type=int, help="held-out plots (default: 200 for clams; "
                   "clusternet: 30 per benchmark group)")
    p.add_argument("--seed", type=int, help="suite seed (default: the documented held-out seed)")
    p.add_argument("--wut", help="clusternet: clustering-benchmarks wut folder (default: "
                   "../shared/data/clustering-benchmarks/wut beside the checkout, when present)")
    p.add_argument("--methods", nargs="*", help="clusternet: subset of methods")
    p.add_argument("--weights", help="clusternet: weights to evaluate (default: the shipped ones)")
    p.add_argument("--max-points", type=int, help="clusternet: cap on points per benchmark plot (quick runs)")
    p.add_argument("--groups", nargs="*", help="clusternet: subset of benchmark groups")
    p.add_argument("--tuned", action="store_true", default=None, help="clusternet: add each classical method's "
                   "tuned row (best hyperparameters chosen on the reference itself: an upper bound)")
    p.set_defaults(run=_evaluate)


def _evaluate(args):
    given = {k: v for k, v in vars(args).items() if v is not None}
    options = Namespace(**{**DEFAULTS[args.model], "wut": None, "methods": None, "weights": None,
                           "max_points": None, "groups": None, "tuned": False, **given})
    if args.model == "clams":
        from app.commands.perception import _evaluate as run
    else:
        from app.commands.clusternet import _evaluate as run
    return run(options)
