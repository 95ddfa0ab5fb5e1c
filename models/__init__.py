"""Networks, classical clusterers and training."""
from .classical import CLUSTERERS, Clusterer, make_clusterer

__all__ = ["CLUSTERERS", "Clusterer", "make_clusterer"]
