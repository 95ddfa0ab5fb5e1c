"""Perception commands: cluster ambiguity (CLAMS), retraining its regressor, its evaluation."""
from __future__ import annotations

import json
from pathlib import Path

from app.errors import UserError


def register(sub):
    p = sub.add_parser("ambiguity", help="cluster ambiguity of a scatterplot (CLAMS, 0 = unambiguous)")
    p.add_argument("input", help="file, benchmark DIR/NAME or bundled data set name; a folder with --many")
    p.add_argument("-x", help="x column (name or index)")
    p.add_argument("-y", help="y column (name or index)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", help="separability model JSON (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print JSON with components and pair probabilities")
    p.add_argument("--many", action="store_true", help="score every plot file in the INPUT folder in parallel "
                   "on a Dask cluster and print a table ranked by ambiguity")
    p.add_argument("--scheduler", help="Dask scheduler address (default: $VISCLUST_DASK_SCHEDULER or a "
                   "local cluster)")
    p.add_argument("-o", "--output", help="with --many: write the table here (.csv or .parquet)")
    p.set_defaults(run=_ambiguity)


def register_train(sub):
    """`visclust train separability`."""
    p = sub.add_parser("separability", help="retrain CLAMS' pairwise p(one cluster) regressor",
                       description="Without --judgments: two-Gaussian plots labelled by simulated observers. "
                       "A judgments CSV has a probSingle column and either a 'file' column (point files) or "
                       "the columns distance, sigma_x1, sigma_y1, sigma_x2, sigma_y2, rotation1, rotation2, "
                       "size_ratio (optional n, seed); see docs/perception.md.")
    p.add_argument("--judgments", help="CSV of human judgments (probSingle per plot)")
    p.add_argument("--plots", type=int, default=2000, help="simulated two-Gaussian training plots (without --judgments)")
    p.add_argument("--context-plots", type=int, default=0, help="simulated many-component plots whose CLAMS "
                   "component pairs join the training set (without --judgments; the shipped model has none)")
    p.add_argument("--link", choices=("identity", "logit"), default="identity",
                   help="regress p(one cluster) itself (the shipped model) or its log-odds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="model file (default: assets/separability.json)")
    p.set_defaults(run=_train)


def register_evaluate(sub):
    """`visclust evaluate clams`."""
    p = sub.add_parser("clams", help="Spearman rho of CLAMS and baselines on a held-out suite")
    p.add_argument("--plots", type=int, default=300)
    p.add_argument("--seed", type=int, default=None, help="suite seed (default: the documented held-out seed)")
    p.add_argument("--out", default="clams-eval", help="output folder (results.csv, blob_counts.csv, summary.md)")
    p.add_argument("--blob-ks", type=int, nargs="*", default=[1, 2, 5, 10, 20, 35, 50, 75, 100],
                   help="k of the separated-blob component count (3 plots each)")
    p.add_argument("--wut", help="clustering-benchmarks wut folder for the component counts "
                   "(default: ../shared/... when present; 'none' to skip)")
    p.set_defaults(run=_evaluate)


def ambiguity_file(path, seed: int = 0, model=None) -> dict:
    """CLAMS on one plot file (a Dask task of `visclust ambiguity --many`)."""
    import data
    from perception.clams import CLAMS

    plot = data.load(path)
    est = CLAMS(model=model, random_state=seed).fit(plot)
    return {"n": len(plot), "ambiguity": est.ambiguity_,
            "components": est.n_components_, "seconds": round(est.runtime_, 3)}


def _ambiguity_many(args):
    from functools import partial

    from data.batch import map_plots, plot_files

    table = map_plots(partial(ambiguity_file, seed=args.seed, model=args.model), plot_files(args.input),
                      scheduler=args.scheduler)
    if "ambiguity" in table:
        table = table.sort_values("ambiguity", na_position="last", kind="stable")
    print(table.to_string(index=False))
    if args.output:
        out = Path(args.output)
        (table.to_parquet if out.suffix in (".parquet", ".pq") else table.to_csv)(out, index=False)


def _ambiguity(args):
    import data
    from perception.clams import CLAMS

    if args.many:
        return _ambiguity_many(args)
    plot = data.load(args.input, x=args.x, y=args.y)
    est = CLAMS(model=args.model, random_state=args.seed).fit(plot)
    if not args.json:
        print(f"{est.ambiguity_:.4f}")
        return
    print(json.dumps(dict(
        name=plot.name, n=len(plot), ambiguity=est.ambiguity_, n_components=est.n_components_,
        components=[dict(mean=m.tolist(), covariance=c.tolist(), weight=float(w))
                    for m, c, w in zip(est.means_, est.covariances_, est.weights_)],
        pairs=[dict(components=[int(i), int(j)], p_one_cluster=float(p))
               for (i, j), p in zip(est.pairs_, est.pair_probabilities_)],
        runtime_s=est.runtime_,
    ), indent=2))


def _train(args):
    from perception import separability, separability_train

    if args.judgments and not Path(args.judgments).is_file():
        raise UserError(f"no judgments file at {args.judgments}")
    if args.plots < 10:
        raise UserError("--plots must be at least 10")
    model = separability_train.train_separability(args.plots, args.seed, judgments=args.judgments,
                                                 context_plots=args.context_plots, link=args.link)
    path = separability.save(model, args.out or separability.DEFAULT_MODEL_PATH)
    val = model.info["validation"]
    print(f"wrote {path}: held-out MAE {val['mae']:.3f}, Spearman {val['spearman']:.3f} "
          f"({model.info['n_validation']} held-out pairs)")


def _evaluate(args):
    from perception import clams_eval

    seed = clams_eval.EVAL_SEED if args.seed is None else args.seed
    from app.commands.clusternet import WUT_DEFAULT

    wut = None if args.wut == "none" else Path(args.wut) if args.wut else WUT_DEFAULT if WUT_DEFAULT.is_dir() else None
    clams_eval.run_evaluation(args.out, n_plots=args.plots, seed=seed, blob_ks=tuple(args.blob_ks), wut_dir=wut,
                              progress=True)
    print((Path(args.out) / "summary.md").read_text(), end="")
