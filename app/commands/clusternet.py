"""ClusterNet commands: train (or fine-tune) the network and evaluate it against the clusterers."""
from __future__ import annotations

from pathlib import Path

from app.errors import UserError

# A development checkout keeps the human-labelled benchmarks beside it, in ../shared; an
# installed package has none there, and then wut is scored only when --wut is given.
WUT_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data" / "clustering-benchmarks" / "wut"


def register_train(sub):
    """`visclust train clusternet`."""
    p = sub.add_parser("clusternet", help="train ClusterNet on generated plots labelled by simulated observers",
                       description="Trains on data.generate.random_plot and random_scene plots labelled by "
                       "perception.observers.simulate_crowd (cached under OUT/data). With --annotations, "
                       "fine-tunes the shipped weights on human labelings (see models/annotated.py). "
                       "Writes OUT/checkpoint.pt every epoch and the best epoch to OUT/clusternet.pt; "
                       "copy that to assets/clusternet.pt to ship it.")
    p.add_argument("--annotations", metavar="PATH_OR_DB_URL",
                   help="folder of PLOT.npz/PLOT.csv, an annotation export (.csv/.parquet/.json) or a database URL")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--plots", type=int, default=4000, help="generated training plots")
    p.add_argument("--val-plots", type=int, default=150, help="generated validation plots")
    p.add_argument("--scene-share", type=float, default=0.35,
                   help="share of composite scenes (rings, frames, stripes) among the generated plots")
    p.add_argument("--size-share", type=float, default=0.5,
                   help="share of generated plots with 100 to 30,000 points (log-uniform) instead of the "
                   "generators' usual 300 to 5,000")
    p.add_argument("--many-share", type=float, default=0.0,
                   help="share of generated plots replaced by 10-100 compact blobs (0 = the shipped recipe)")
    p.add_argument("--no-continuity", action="store_true",
                   help="label the scenes' thin curves, rings and frames by the density observers alone, "
                   "as networks before 2026-11-27 were trained (default: each is seen whole)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--out", default="runs/clusternet", help="output folder (checkpoints, cached data, weights)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)


def register_evaluate(sub):
    """`visclust evaluate clusternet` and `visclust evaluate crossval`."""
    p = sub.add_parser("clusternet", help="score ClusterNet, clusterers and the observers on the "
                       "development benchmark and wut",
                       description="Scores each method on the development benchmark (perception.devbench: per "
                       "group, AMI with the simulated crowd's majority and with the generator's components, "
                       "clusters found against k) and on the human-labelled wut sets (the observers also "
                       "leave-one-out). Writes OUT/clusternet_eval.csv and .md and OUT/devbench_plots.csv.")
    p.add_argument("--out", default="runs/clusternet-eval")
    p.add_argument("--plots", type=int, default=30, help="plots per benchmark group")
    p.add_argument("--max-points", type=int, help="cap on points per plot (quick runs)")
    p.add_argument("--groups", nargs="*", help="subset of benchmark groups (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wut", help="clustering-benchmarks wut folder (default: ../shared/data/clustering-benchmarks/wut "
                   "beside the checkout, when present)")
    p.add_argument("--methods", nargs="*", help="registry names, 'observers', 'grouping-only' and tuned rows "
                   "'<method>:tuned' (default: clusternet, hdbscan, observers)")
    p.add_argument("--tuned", action="store_true", help="add each listed classical method's tuned row: its best "
                   "hyperparameters on each plot, chosen on the reference it is scored against (an upper bound)")
    p.add_argument("--weights", help="ClusterNet weights to evaluate (default: the shipped assets/clusternet.pt)")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("crossval", help="cross-validate fine-tuning ClusterNet on human labels",
                       description="Deals the human-labelled plots into folds; for each fold, fine-tunes the shipped "
                       "weights on the other folds (OUT/fold<k>) and scores the fold's plots by mean AMI with "
                       "their annotators, beside the shipped weights and the baseline clusterers. Writes "
                       "OUT/crossval.csv; a rerun reuses finished folds.")
    p.add_argument("--annotations", metavar="PATH_OR_DB_URL", required=True,
                   help="folder of PLOT.npz/PLOT.csv, an annotation export (.csv/.parquet/.json) or a database URL")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs per fold (the best is kept)")
    p.add_argument("--plots", type=int, default=200, help="generated plots to mix into each fine-tune")
    p.add_argument("--baselines", nargs="*", default=["spectral", "hdbscan"], help="classical clusterers to score")
    p.add_argument("--out", default="runs/clusternet-cv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(run=_crossval)


def _train(args):
    from perception.clusternet_train import train

    if args.epochs < 1 or args.plots < 1:
        raise UserError("--epochs and --plots must be at least 1")
    for flag, share in (("--scene-share", args.scene_share), ("--size-share", args.size_share),
                        ("--many-share", args.many_share)):
        if not 0 <= share <= 1:
            raise UserError(f"{flag} must be between 0 and 1")
    if args.annotations and "://" not in args.annotations and not Path(args.annotations).exists():
        raise FileNotFoundError(f"annotations not found: {args.annotations}")
    result = train(out=args.out, epochs=args.epochs, n_plots=args.plots, n_val=args.val_plots, seed=args.seed,
                   batch_size=args.batch_size, lr=args.lr, annotations=args.annotations, resume=args.resume,
                   threads=args.threads, progress=not args.no_progress, scene_share=args.scene_share,
                   size_share=args.size_share, continuity=not args.no_continuity, many_share=args.many_share)
    last = result["history"][-1] if result["history"] else {}
    print(f"weights: {result['weights']} (checkpoint {result['checkpoint']}); last epoch: {last}")


def _crossval(args):
    from models import CLASSICAL
    from perception.clusternet_crossval import crossval_finetune

    if unknown := sorted(set(args.baselines) - set(CLASSICAL)):
        raise UserError(f"unknown baseline(s) {unknown}; choose from {sorted(CLASSICAL)}")
    if args.epochs < 1 or args.plots < 1:
        raise UserError("--epochs and --plots must be at least 1")
    table = crossval_finetune(args.annotations, args.out, folds=args.folds, seed=args.seed, epochs=args.epochs,
                              n_plots=args.plots, baselines=args.baselines, threads=args.threads)
    print(table.round(3).to_string(index=False))
    print("mean AMI: " + ", ".join(f"{m} {v:.3f}" for m, v in table.drop(columns=["fold", "n", "annotators"])
                                   .mean(numeric_only=True).items()))


def _evaluate(args):
    from perception.clusternet_eval import run_evaluation

    if args.weights and not Path(args.weights).is_file():
        raise FileNotFoundError(f"weights not found: {args.weights}")
    if args.wut and not Path(args.wut).is_dir():
        raise FileNotFoundError(f"wut folder not found: {args.wut}")
    wut = args.wut or (WUT_DEFAULT if WUT_DEFAULT.is_dir() else None)
    table = run_evaluation(args.out, per_group=args.plots, seed=args.seed, max_points=args.max_points,
                           wut_dir=wut, methods=args.methods, weights=args.weights, groups=args.groups,
                           with_tuned=args.tuned)
    print((Path(args.out) / "clusternet_eval.md").read_text())
