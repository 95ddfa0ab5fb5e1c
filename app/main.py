"""Entry point for `panel serve app/main.py`: one template, four pages, state in the URL."""
import holoviews as hv
import panel as pn

from app.pages.compare import compare_view
from app.pages.embed import embed_view
from app.pages.explore import explore_view
from app.pages.models_page import models_view
from app.options import PAGES
from app.state import URL_PARAMS, AppState, two_way

pn.extension("tabulator", notifications=False)
hv.extension("bokeh", logo=False)


def annotate_page(app: AppState) -> pn.viewable.Viewable:
    """The Annotate page reads its study and token from the URL."""
    # Imported on the first visit: the store and its SQL layer add ~36 MB to every server
    # process, and most sessions never annotate.
    from app.pages.annotate import annotate_view

    query = dict(pn.state.location.query_params) if pn.state.location else {}
    return annotate_view(query)


# The Fast design without its Google Fonts link, so the page loads offline with no console
# errors. It keeps the class name "Fast" because Panel finds a design's bundled files by it.
OfflineFast = type("Fast", (pn.theme.Fast,), {"_resources": {**pn.theme.Fast._resources, "font": {}}})


BUILDERS = {"explore": explore_view, "compare": compare_view, "embed": embed_view, "annotate": annotate_page,
            "models": models_view}


def build() -> pn.template.FastListTemplate:
    app = AppState()
    if pn.state.location is not None:
        pn.state.location.sync(app, URL_PARAMS)
    app.load_now()
    views: dict[str, pn.viewable.Viewable] = {}

    def page_view(page: str):
        # Pages are built on first visit and kept, so switching back keeps their state.
        if page not in views:
            views[page] = BUILDERS[page](app)
        return views[page]

    nav = pn.widgets.RadioBoxGroup(options={label: key for key, label in PAGES.items()}, css_classes=["vc-nav"])
    two_way(nav, app, "page")
    about = pn.pane.Markdown("Which clusters do people see in a scatterplot, how ambiguous is that, "
                             "and how do algorithms compare? The URL keeps the plot and methods: share it.")
    return pn.template.FastListTemplate(
        title="visclust", sidebar=["### Pages", nav, about], main=[pn.panel(pn.bind(page_view, app.param.page))],
        sidebar_width=220, accent="#2f6690", design=OfflineFast,
    )


build().servable(title="visclust")
