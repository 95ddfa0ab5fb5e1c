"""Shipped model files, read with ``importlib.resources.files("assets")``.

clusternet.pt (ClusterNet weights), separability.json (the CLAMS pair model), the evaluation
tables shown on the Models page and MODEL_CARD.md; pyproject.toml ships them as package data.
"""
