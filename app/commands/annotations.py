"""Annotation studies: create one with annotator links, export and import the annotations."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from app.errors import UserError

APP_URL = "http://localhost:5006/main"


def register(sub):
    study = sub.add_parser("study", help="create annotation studies")
    study_sub = study.add_subparsers(dest="study_command", metavar="ACTION")
    study_sub.required = True
    p = study_sub.add_parser("create", help="create a study and print its admin token and annotator links")
    p.add_argument("name")
    p.add_argument("--plots", nargs="+", required=True, metavar="PLOT",
                   help="bundled data set names (see `visclust datasets`) or data files")
    p.add_argument("--per-annotator", type=int, help="plots each annotator labels (default: all)")
    p.add_argument("--annotators", type=int, default=0, help="annotator tokens to create now")
    p.add_argument("--seed", type=int, default=0, help="seeds plot orders and subsamples")
    p.add_argument("--app-url", default=APP_URL, help=f"dashboard address for the links (default {APP_URL})")
    p.add_argument("--attention-rate", type=float, default=0.0,
                   help="share of each annotator's items that are attention checks (default 0)")
    p.add_argument("--policy", choices=["balanced", "ambiguity"], default="balanced",
                   help="which plot an annotator gets next (default balanced)")
    p.add_argument("--target-width", type=float, default=0.1,
                   help="ambiguity policy: stop a plot once its 90%% ambiguity interval is narrower (default 0.1)")
    p.add_argument("--render", action="append", default=[], metavar="JSON",
                   help='a render variant, e.g. \'{"name": "small", "point_size": 3, "opacity": 0.5}\' (repeatable)')
    _db_option(p)
    p.set_defaults(run=_create)
    p = study_sub.add_parser("simulate", help="run a whole study with simulated observers and report its cost")
    p.add_argument("--policy", choices=["balanced", "ambiguity"], default="ambiguity")
    p.add_argument("--observers", type=int, default=60, help="simulated annotators available")
    p.add_argument("--plots", type=int, default=12, help="generated plots, half of them ambiguous")
    p.add_argument("--target-width", type=float, default=0.15, help="stopping rule: 90%% interval width")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_simulate)

    ann = sub.add_parser("annotations", help="export or import study annotations")
    ann_sub = ann.add_subparsers(dest="annotations_command", metavar="ACTION")
    ann_sub.required = True
    p = ann_sub.add_parser("export", help="write a study's points and labels (.csv, .parquet or .json)")
    p.add_argument("study", type=int, help="study id")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--exclude-flagged", action="store_true", help="leave out annotators who failed an attention check")
    _db_option(p)
    p.set_defaults(run=_export)
    p = ann_sub.add_parser("replay", help="redraw a plot exactly as an annotator saw it, with their labels (PNG)")
    p.add_argument("source", metavar="EXPORT_OR_DB", help="an exported file or a database URL")
    p.add_argument("--study", type=int, help="study id (needed with a database)")
    p.add_argument("--plot", type=int, required=True, help="plot id")
    p.add_argument("--annotator", required=True, help="annotator name (or id, with a database)")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.set_defaults(run=_replay)
    p = ann_sub.add_parser("import", help="create a new study from an exported file")
    p.add_argument("file")
    _db_option(p)
    p.set_defaults(run=_import)


def _db_option(p):
    p.add_argument("--db", metavar="URL",
                   help="database URL (default: $VISCLUST_DB_URL, else a SQLite file in the user data dir)")


def _open(args):
    from perception.study import open_store

    return open_store(args.db)


def _user_errors(fn):
    """Store validation errors become one-line user errors."""
    def run(args):
        from data.store import StoreError

        try:
            return fn(args)
        except StoreError as exc:
            raise UserError(str(exc)) from None
    return run


def annotate_link(app_url: str, study: int, **params) -> str:
    return f"{app_url}?{urlencode({'page': 'annotate', 'study': study, **params})}"


@_user_errors
def _create(args):

    if args.annotators < 0:
        raise UserError("--annotators must be >= 0")
    try:
        variants = [json.loads(text) for text in args.render] or None
    except json.JSONDecodeError as exc:
        raise UserError(f"--render takes JSON: {exc}") from None
    with _open(args) as store:
        info = store.create_study(args.name, args.plots, per_annotator=args.per_annotator, seed=args.seed,
                                  render_variants=variants, attention_rate=args.attention_rate,
                                  policy=args.policy, target_width=args.target_width)
        tokens = [store.add_annotator(info) for _ in range(args.annotators)]
    print(f"study id: {info.id}")
    print(f"admin token: {info.admin_token}")
    print(f"admin page: {annotate_link(args.app_url, info.id, admin=info.admin_token)}")
    for i, token in enumerate(tokens, 1):
        print(f"annotator {i}: {token}  {annotate_link(args.app_url, info.id, token=token)}")


@_user_errors
def _export(args):
    with _open(args) as store:
        path = store.export(args.study, args.output, exclude_flagged=args.exclude_flagged)
        n = len(store.annotations(args.study, exclude_flagged=args.exclude_flagged))
    print(f"wrote {n} annotations of study {args.study} to {path}")


@_user_errors
def _import(args):
    with _open(args) as store:
        info = store.import_(args.file)
        n = len(store.annotations(info))
    print(f"imported study {info.id} ({info.name}): {info.n_plots} plots, {n} annotations")
    print(f"admin token: {info.admin_token}")


@_user_errors
def _replay(args):
    from data.store import AnnotationStore
    from data.store_io import replay_export

    source = Path(args.source)
    if source.suffix.lower() in (".csv", ".parquet", ".json") and source.exists():
        png = replay_export(source, args.plot, args.annotator)
    else:
        if args.study is None:
            raise UserError("--study is needed when replaying from a database")
        with AnnotationStore(args.source) as store:
            who = next((a for a in store.annotators(args.study)
                        if a.name == args.annotator or str(a.id) == args.annotator), None)
            if who is None:
                raise UserError(f"study {args.study} has no annotator {args.annotator!r}")
            png = store.replay(args.study, args.plot, who)
    Path(args.output).write_bytes(png)
    print(f"wrote {args.output}")


def simulation_plots(n: int, seed: int = 0):
    """Generated plots for simulated studies: alternately well separated and touching blobs."""
    from data import generate

    return [generate.blobs(300, k=2 + i % 3, separation=12 if i % 2 == 0 else 2.5 + 0.25 * (i % 4),
                           seed=seed * 1000 + i).xy for i in range(n)]


def _simulate(args):
    from perception.study import clams_prior
    from perception.routing import simulate_study

    if args.observers < 3 or args.plots < 1:
        raise UserError("--observers must be >= 3 and --plots >= 1")
    plots = simulation_plots(args.plots, args.seed)
    priors = [clams_prior(xy) for xy in plots] if args.policy == "ambiguity" else None
    result = simulate_study(plots, args.policy, args.observers, args.target_width, args.seed, priors=priors,
                            reference=True)
    print(f"policy {args.policy}: {result.annotations} annotations from up to {args.observers} observers "
          f"on {args.plots} plots")
    print(f"precision: {result.reached} of {args.plots} plots have a 90% ambiguity interval narrower than "
          f"{args.target_width} (widest {result.max_width:.3f})")
    errors = result.errors
    print(f"error against the ambiguity among all {args.observers} observers: "
          f"mean {sum(errors) / len(errors):.3f}, max {max(errors):.3f}")
    print("annotations per plot: " + " ".join(map(str, result.per_plot)))
