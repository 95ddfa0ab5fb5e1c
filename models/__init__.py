"""Networks, classical clusterers, the method registry and training."""
from .clusternet_estimator import ClusterNet
from .registry import CLASSICAL, METHODS, PERCEPTUAL, Method, get_method, make_clusterer

__all__ = ["CLASSICAL", "METHODS", "PERCEPTUAL", "ClusterNet", "Method", "get_method", "make_clusterer"]
