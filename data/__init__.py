"""Scatterplots in and out: the data type, loaders, generators, bundled sets and validation."""
from . import generate
from .gallery import bundled, datasets
from .loaders import benchmark_names, from_array, from_table, load, load_benchmark
from .normalize import display_normalize
from .scatterplot import InvalidScatterplot, Scatterplot
from .validate import InvalidParameter, check_points
from .writers import save, save_labels

__all__ = [
    "Scatterplot", "InvalidScatterplot", "InvalidParameter", "check_points", "load", "load_benchmark", "benchmark_names", "from_array",
    "from_table", "datasets", "bundled", "generate", "display_normalize", "save", "save_labels",
]
