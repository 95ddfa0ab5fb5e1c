"""The dashboard, the `visclust` command line and the notebook API (``from app import Explorer``)."""


def __getattr__(name):
    # Imported on use: the command line must not pay for Panel and HoloViews.
    if name == "Explorer":
        from .explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'app' has no attribute {name!r}")
