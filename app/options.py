"""What the dashboard offers to choose from: pages, colourings, methods, generator sliders."""
from __future__ import annotations

from models import CLASSICAL, METHODS, PERCEPTUAL

PAGES = {"explore": "Explore", "compare": "Compare", "embed": "Embed", "annotate": "Annotate", "models": "Models"}
COLOR_CHOICES = {
    "density": "Nothing (density)",
    "reference": "Reference labels",
    **{name: f"{METHODS[name].display_name} labels" for name in PERCEPTUAL},
    "agreement": "ClusterNet agreement",
    **{name: METHODS[name].display_name for name in CLASSICAL},
}
METHOD_NAMES = {name: method.display_name for name, method in METHODS.items()}
DEFAULT_METHODS = ["clusternet", "hdbscan", "gmm", "kmeans", "dbscan", "agglomerative-single"]

# Generator sliders: name -> (generator kind, {param: (default, low, high, step)}).
GENERATORS = {
    "two_gaussians": {"n": (800, 50, 50_000, 50), "distance": (3.0, 0.0, 10.0, 0.1),
                      "sigma_ratio": (1.0, 0.2, 3.0, 0.1), "rotation": (0.0, 0.0, 180.0, 5.0),
                      "elongation": (1.0, 1.0, 6.0, 0.5), "seed": (0, 0, 99, 1)},
    "blobs": {"n": (1500, 50, 50_000, 50), "k": (4, 1, 20, 1), "separation": (5.0, 0.5, 12.0, 0.5),
              "density_range": (1.0, 1.0, 5.0, 0.5), "elongation": (1.0, 1.0, 8.0, 0.5),
              "noise": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "shapes": {"n": (1000, 50, 50_000, 50), "noise": (0.05, 0.0, 0.3, 0.01),
               "background": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "scene": {"n": (2000, 50, 50_000, 50), "k": (4, 1, 12, 1), "gap": (0.03, 0.0, 0.1, 0.005),
              "overlap": (0.0, 0.0, 1.0, 0.1), "noise": (0.0, 0.0, 0.5, 0.05), "seed": (0, 0, 99, 1)},
    "noise": {"n": (800, 50, 50_000, 50), "seed": (0, 0, 99, 1)},
}
SHAPE_KINDS = ["moons", "rings", "spirals", "line"]

SIMULATED_NOTE = ("ClusterNet and CLAMS were trained on generated plots labelled by *simulated observers*, "
                  "not by people: read their outputs as a model of perception, not as human judgement.")
