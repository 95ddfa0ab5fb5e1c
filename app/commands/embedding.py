"""`visclust reduce`: search projections of a high-dimensional table for low cluster ambiguity."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from app.errors import UserError


def register(sub):
    p = sub.add_parser("reduce", help="project a table to 2-D and rank the projections by cluster ambiguity",
                       description="Tries BUDGET hyperparameter settings per method (defaults first), "
                       "scores each projection by CLAMS ambiguity, trustworthiness and continuity "
                       "(and by class agreement with --label), and writes one file per projection "
                       "plus ranking.csv.")
    p.add_argument("input", help="CSV/TSV/Parquet table, or a bundled table: digits, wine, iris, "
                   "breast-cancer, penguins")
    p.add_argument("--label", help="class label column (optional)")
    p.add_argument("--methods", default="pca,tsne,umap", help="comma-separated: pca,tsne,umap,isomap,mds")
    p.add_argument("--budget", type=int, default=8, help="settings tried per method (default 8)")
    p.add_argument("--max-rows", type=int, default=None, help="seeded subsample of the rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parallel", action="store_true", help="run the trials as tasks on a Dask cluster "
                   "(the client `--many` batch scoring uses)")
    p.add_argument("--scheduler", help="with --parallel: Dask scheduler address (default: "
                   "$VISCLUST_DASK_SCHEDULER or a local cluster)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(run=_reduce)


def _reduce(args):
    from tqdm import tqdm

    from data.tables import load_table
    from models.embedding import get_reducer
    from perception.projection_search import search_projections

    if args.budget < 1:
        raise UserError("--budget must be at least 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        get_reducer(m)
    table = load_table(args.input, label=args.label, max_rows=args.max_rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=None, unit="projection", desc="searching")

    def progress(done, total, row):
        bar.total = total
        bar.update(1)
        bar.set_postfix(method=row["method"], ambiguity=f"{row['ambiguity']:.3f}")

    if args.parallel:
        from data.large import dask_client

        with dask_client(args.scheduler) as client:
            result = search_projections(table.X, table.labels, methods=methods, budget=args.budget,
                                        seed=args.seed, progress=progress, client=client)
    else:
        result = search_projections(table.X, table.labels, methods=methods, budget=args.budget, seed=args.seed,
                                    progress=progress)
    bar.close()
    files = []
    for _, row in result.ranking.iterrows():
        emb = result.embeddings[int(row["trial"])]
        frame = pd.DataFrame({"x": emb[:, 0], "y": emb[:, 1]})
        if table.labels is not None:
            frame["label"] = table.labels
        path = out / f"rank{int(row['rank']):03d}_{row['method']}_trial{int(row['trial'])}.parquet"
        frame.to_parquet(path, index=False)
        files.append(path.name)
    ranking = result.ranking.assign(file=files)
    ranking.to_csv(out / "ranking.csv", index=False)
    cols = [c for c in ("rank", "method", "params", "ambiguity", "trustworthiness", "continuity",
                        "label_ami", "seconds") if c in ranking]
    print(ranking[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {len(files)} projections and ranking.csv to {out}")
