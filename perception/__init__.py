"""Models of human cluster perception: simulated observers, agreement metrics, CLAMS, ClusterNet."""
from models import ClusterNet

from .agreement import ami_matrix, ari_matrix, human_ambiguity, kappa_alpha, krippendorff_alpha
from .clams import CLAMS
from .observers import simulate_crowd, simulate_observer

__all__ = ["CLAMS", "ClusterNet", "ami_matrix", "ari_matrix", "human_ambiguity", "kappa_alpha", "krippendorff_alpha",
           "simulate_crowd", "simulate_observer"]
