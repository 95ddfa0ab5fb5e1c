"""Annotation studies: create one with annotator links, export and import the annotations."""
from __future__ import annotations

from urllib.parse import urlencode

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
    _db_option(p)
    p.set_defaults(run=_create)

    ann = sub.add_parser("annotations", help="export or import study annotations")
    ann_sub = ann.add_subparsers(dest="annotations_command", metavar="ACTION")
    ann_sub.required = True
    p = ann_sub.add_parser("export", help="write a study's points and labels (.csv, .parquet or .json)")
    p.add_argument("study", type=int, help="study id")
    p.add_argument("-o", "--output", required=True)
    _db_option(p)
    p.set_defaults(run=_export)
    p = ann_sub.add_parser("import", help="create a new study from an exported file")
    p.add_argument("file")
    _db_option(p)
    p.set_defaults(run=_import)


def _db_option(p):
    p.add_argument("--db", metavar="URL",
                   help="database URL (default: $VISCLUST_DB_URL, else a SQLite file in the user data dir)")


def _open(args):
    from data.store import AnnotationStore

    return AnnotationStore(args.db)


def _user_errors(fn):
    """Store validation errors become one-line user errors."""
    def run(args):
        from app.cli import UserError
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
    from app.cli import UserError

    if args.annotators < 0:
        raise UserError("--annotators must be >= 0")
    with _open(args) as store:
        info = store.create_study(args.name, args.plots, per_annotator=args.per_annotator, seed=args.seed)
        tokens = [store.add_annotator(info) for _ in range(args.annotators)]
    print(f"study id: {info.id}")
    print(f"admin token: {info.admin_token}")
    print(f"admin page: {annotate_link(args.app_url, info.id, admin=info.admin_token)}")
    for i, token in enumerate(tokens, 1):
        print(f"annotator {i}: {token}  {annotate_link(args.app_url, info.id, token=token)}")


@_user_errors
def _export(args):
    with _open(args) as store:
        path = store.export(args.study, args.output)
        n = len(store.annotations(args.study))
    print(f"wrote {n} annotations of study {args.study} to {path}")


@_user_errors
def _import(args):
    with _open(args) as store:
        info = store.import_(args.file)
        n = len(store.annotations(info))
    print(f"imported study {info.id} ({info.name}): {info.n_plots} plots, {n} annotations")
    print(f"admin token: {info.admin_token}")
