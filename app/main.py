"""Entry point for `panel serve app/main.py`."""
import panel as pn

pn.extension()

pn.Column(
    "# visclust",
    "Visual clustering: which clusters people see in a scatterplot, how ambiguous that is, "
    "and how algorithms compare.",
).servable(title="visclust")
