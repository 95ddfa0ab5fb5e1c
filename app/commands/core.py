"""Core commands: list and generate data sets, run a classical clusterer, serve the app."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import data
from app.errors import UserError
from data import generate as gen


def register(sub):
    p = sub.add_parser("datasets", help="list bundled data sets")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(run=_datasets)

    p = sub.add_parser("generate", help="write a synthetic scatterplot with its ground-truth labels",
                       description="Generators: " + ", ".join(gen.GENERATORS)
                       + ". Parameters as KEY=VALUE, e.g. `visclust generate blobs k=5 separation=3 -o b.csv`.")
    p.add_argument("kind", choices=sorted(gen.GENERATORS))
    p.add_argument("params", nargs="*", metavar="KEY=VALUE", help="generator parameters (see the Python docs)")
    p.add_argument("-o", "--output", required=True, help="output file (.csv, .tsv, .parquet, .json, .npy, .npz)")
    p.set_defaults(run=_generate)

    p = sub.add_parser("cluster", help="cluster a scatterplot with a classical method")
    p.add_argument("input", help="file, benchmark DIR/NAME or bundled data set name; a folder with --many")
    p.add_argument("--method", default="hdbscan", help="clusterer name: " + ", ".join(_methods()))
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter")
    p.add_argument("-x", help="x column (name or index)")
    p.add_argument("-y", help="y column (name or index)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", help="labels file (.csv or .parquet); with --many a folder")
    p.add_argument("--many", action="store_true", help="cluster every plot file in the INPUT folder in "
                   "parallel on a Dask cluster; prints a table (and writes labels and summary.csv to -o)")
    p.add_argument("--dask", action="store_true", help="INPUT is a Parquet file or folder of any size: "
                   "cluster a seeded subsample (--sample points), give every point its nearest sample "
                   "point's label, partition by partition, and write a Parquet folder (x, y, label) to -o")
    p.add_argument("--sample", type=int, default=100_000, help="subsample size with --dask (default 100000)")
    p.add_argument("--scheduler", help="Dask scheduler address (default: $VISCLUST_DASK_SCHEDULER or a "
                   "local cluster)")
    p.set_defaults(run=_cluster)

    p = sub.add_parser("render", help="render a Parquet point set of any size to PNG through Dask",
                       description="Reads the Parquet file or folder lazily and bins it partition by "
                       "partition with datashader's Dask backend, so memory stays far below the data's size.")
    p.add_argument("input", help="Parquet file or folder with columns x and y")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.add_argument("-x", default="x", help="x column")
    p.add_argument("-y", default="y", help="y column")
    p.add_argument("--size", type=int, default=800, help="image width and height in pixels")
    p.add_argument("--scheduler", help="Dask scheduler address (default: $VISCLUST_DASK_SCHEDULER or local)")
    p.set_defaults(run=_render)

    p = sub.add_parser("serve", help="serve the dashboard (panel serve app/main.py)")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--address", default="localhost")
    p.add_argument("--num-procs", type=int, default=1, help="worker processes (use a PostgreSQL store)")
    p.add_argument("--show", action="store_true", help="open a browser")
    p.set_defaults(run=_serve)


def parse_params(pairs: list[str]) -> dict:
    """KEY=VALUE strings to a dict, values parsed as JSON where possible (numbers, lists)."""
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"parameter '{pair}' must look like KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _datasets(args):
    names = data.datasets()
    print(json.dumps(names) if args.json else "\n".join(names))


def _generate(args):
    try:
        plot = gen.generate(args.kind, **parse_params(args.params))
    except TypeError as exc:
        raise UserError(f"bad parameter for {args.kind}: {exc}") from None
    path = data.save(plot, args.output)
    print(f"wrote {len(plot)} points to {path}")


def _methods():
    from models import METHODS

    return list(METHODS)


def _cluster(args):
    from models import get_method

    method = get_method(args.method)
    params = parse_params(args.param)
    if args.many:
        return _cluster_many(args, params)
    if args.dask:
        return _cluster_lazy(args, method, params)
    plot = data.load(args.input, x=args.x, y=args.y)
    model = method.make(random_state=args.seed, **params).fit(plot.xy)
    note = f" (clustered a subsample of {model.subsample_size_} points, others by nearest neighbour)" \
        if model.subsample_size_ else ""
    summary = (f"{args.method}: {model.n_clusters_} clusters, {(model.labels_ < 0).sum()} noise points, "
               f"{model.runtime_:.2f} s{note}")
    if dropped := plot.meta.get("dropped_nonfinite", 0):
        where = f"; {args.output} keeps their rows with an empty label, marked in its 'dropped' column" \
            if args.output else ""
        print(f"visclust: {dropped} of {len(plot) + dropped} rows have missing or infinite coordinates and "
              f"were not clustered{where}", file=sys.stderr)
    if args.output:
        data.save_labels({args.method: model.labels_}, args.output, plot=plot)
        print(f"{summary}; labels written to {args.output}")
    else:
        print(summary)


def _cluster_lazy(args, method, params):
    from data.large import LazyPlot, dask_client

    if not args.output:
        raise UserError("--dask writes a labelled Parquet folder: name it with -o")
    with dask_client(args.scheduler, processes=False):
        lazy = LazyPlot(args.input, args.x or "x", args.y or "y")
        sample = lazy.sample(args.sample, seed=args.seed)
        model = method.make(random_state=args.seed, **params).fit(sample.xy)
        lazy.propagate(sample.xy, model.labels_, args.output)
    print(f"{args.method}: {model.n_clusters_} clusters on a seeded subsample of {len(sample):,} of "
          f"{len(lazy):,} points ({model.runtime_:.2f} s); every point labelled by its nearest sample point "
          f"in {args.output}")


def cluster_file(path, method, params, seed, out_dir=None) -> dict:
    """Cluster one plot file (a Dask task of `visclust cluster --many`)."""
    from models import make_clusterer

    plot = data.load(path)
    model = make_clusterer(method, random_state=seed, **params).fit(plot.xy)
    if out_dir is not None:
        data.save_labels({method: model.labels_}, Path(out_dir) / f"{Path(path).stem}.labels.{method}.csv",
                         plot=plot, points=False)
    return {"n": len(plot), "dropped": plot.meta.get("dropped_nonfinite", 0), "clusters": model.n_clusters_,
            "noise": int((model.labels_ < 0).sum()), "seconds": round(model.runtime_, 3)}


def _cluster_many(args, params):
    from functools import partial

    from data.batch import map_plots, plot_files

    files = plot_files(args.input)
    out = Path(args.output) if args.output else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    task = partial(cluster_file, method=args.method, params=params, seed=args.seed, out_dir=out)
    table = map_plots(task, files, scheduler=args.scheduler)
    print(table.to_string(index=False))
    if out is not None:
        table.to_csv(out / "summary.csv", index=False)


def _render(args):
    import time

    from data.large import aggregate, dask_client, open_points, shade_png

    start = time.perf_counter()
    with dask_client(args.scheduler, processes=False):
        counts = aggregate(open_points(args.input, args.x, args.y), args.size, args.size)
    shade_png(counts, args.output)
    print(f"rendered {int(counts.sum()):,} points to {args.output} in {time.perf_counter() - start:.1f} s")


# Uploads travel in one websocket message; Bokeh's default cap (20 MB) would drop the
# connection on a larger file, so `visclust serve` raises it.
MAX_MESSAGE_BYTES = 256 * 2**20


def _serve(args):
    main = Path(__file__).resolve().parents[1] / "main.py"
    cmd = [sys.executable, "-m", "panel", "serve", str(main), "--port", str(args.port),
           "--address", args.address, "--allow-websocket-origin", f"{args.address}:{args.port}",
           "--allow-websocket-origin", f"localhost:{args.port}",
           "--websocket-max-message-size", str(MAX_MESSAGE_BYTES)]
    if args.num_procs > 1:
        cmd += ["--num-procs", str(args.num_procs)]
    if args.show:
        cmd.append("--show")
    return subprocess.call(cmd, env=os.environ.copy())
