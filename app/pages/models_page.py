"""Models: what ships, whether it is usable here, its model card, docs and evaluation tables."""
from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pandas as pd
import panel as pn

from models import CLASSICAL, METHODS

from .. import jobs
from ..options import SIMULATED_NOTE
from ..state import AppState

ASSETS = files("assets")
MODEL_CARD = ASSETS / "MODEL_CARD.md"
# docs/ is not package data: its pages are listed when the app runs from a source checkout.
DOCS = Path(__file__).resolve().parents[2] / "docs"


def clusterer_table() -> pd.DataFrame:
    rows = []
    for name in CLASSICAL:
        method = METHODS[name]
        cap = method.estimator().get_params().get("max_points")
        rows.append({"name": name, "method": method.display_name,
                     "parameters": ", ".join(method.params) or "none",
                     "marks noise": "yes" if method.marks_noise else "no",
                     "largest plot clustered whole": f"{cap:,}" if cap else "any"})
    return pd.DataFrame(rows)


def perception_table() -> pd.DataFrame:
    what = {"clusternet": "ClusterNet: per-point clusters people would see, and their agreement",
            "clams": "CLAMS: ambiguity of the plot from a Gaussian mixture",
            "agreement": "AMI / ARI / kappa-alpha between labelings"}
    return pd.DataFrame([{"component": what[k], "status": "available" if reason is None else f"unavailable: {reason}"}
                         for k, reason in jobs.availability().items()])


def _documents() -> list[tuple[str, Path]]:
    docs = [("Model card", MODEL_CARD)] if MODEL_CARD.is_file() else []
    docs += [(p.stem.replace("_", " ").capitalize(), p) for p in sorted(DOCS.glob("*.md"))]
    return docs


# Summaries of `visclust evaluate clusternet` and `visclust evaluate clams` (see the docs for commands).
EVALUATIONS = {"clusternet_evaluation.csv": "ClusterNet and the clusterers at their defaults: mean AMI with a "
               "simulated crowd's majority over the 18 groups of the development benchmark (5 plots per group, "
               "at most 10,000 points) and with people's labels on the 19 wut sets; 'observers' is another "
               "simulated crowd, a reference row (docs/clusterers.md has the command and the larger run)",
               "clams_evaluation.csv": "CLAMS and clusterer-variability baselines: Spearman rho with the "
               "simulated crowd's ambiguity on 300 held-out plots, with the observers' noise as a class "
               "and ignored (docs/perception.md, section 5)"}


def _evaluation_tables() -> list[tuple[str, Path]]:
    return [(title, ASSETS / name) for name, title in EVALUATIONS.items() if (ASSETS / name).is_file()]


# Relative image links in the docs point into the repository, not at this server.
LOCAL_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!https?:)[^)]+\)")


def _markdown(path: Path) -> str:
    return LOCAL_IMAGE.sub(r"*(figure in the repository: \1)*", path.read_text())


def models_view(app: AppState) -> pn.viewable.Viewable:
    docs = _documents()
    accordion = pn.Accordion(*[(title, pn.pane.Markdown(_markdown(path), width=900)) for title, path in docs],
                             width=920)
    tables = [pn.Column(f"#### {title}", pn.pane.DataFrame(pd.read_csv(path), index=False))
              for title, path in _evaluation_tables()]
    return pn.Column(
        "## What ships",
        pn.pane.Alert(SIMULATED_NOTE, alert_type="info", width=900, css_classes=["vc-simulated-note"]),
        "### Perception models", pn.pane.DataFrame(perception_table(), index=False),
        "### Classical clusterers", pn.pane.DataFrame(clusterer_table(), index=False),
        "### Evaluation", *(tables or [pn.pane.Markdown("*No evaluation tables are shipped in assets/ yet.*")]),
        "### Model card and documentation",
        accordion if docs else pn.pane.Markdown("*No model card (assets/MODEL_CARD.md) or docs/*.md yet.*"),
        name="Models",
    )
