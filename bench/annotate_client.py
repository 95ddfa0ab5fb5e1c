"""Annotators driving the served Annotate page over its websocket, as a browser does.

Each :class:`Annotator` opens a Bokeh client session on ``app/main.py?page=annotate&study=..&token=..``
(the same protocol BokehJS speaks: the document is pulled, UI events are sent as document
patches), lassos every point of the plot it is shown and clicks *Submit*; the time from the
click to the next plot's points arriving is one submission's round trip, which covers the
server's lasso, the store's durable commit, routing to the next plot and sending it.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

LOAD_TIMEOUT_S = 120.0


def _events():
    """Bokeh's event classes, with a lasso that carries its polygon (BokehJS sends it; Python's
    SelectionGeometry.event_values leaves it out, as the server never sends one)."""
    from bokeh.events import ButtonClick, DocumentReady, SelectionGeometry

    class Lasso(SelectionGeometry):
        def event_values(self):
            return {**super().event_values(), "geometry": self.geometry, "final": self.final}

    return ButtonClick, DocumentReady, Lasso


class Annotator:
    """One annotator's tab: ``submit_all(n)`` lassos and submits up to n plots; returns round trips (s)."""

    def __init__(self, url: str, study_id: int, token: str):
        self.url, self.arguments = url, {"page": "annotate", "study": str(study_id), "token": token}

    def submit_all(self, n: int) -> list[float]:
        import panel.models  # noqa: F401 - Panel's models must be known to decode the document
        from bokeh.client import pull_session
        from bokeh.models import Button, ColumnDataSource, Plot
        from tornado.ioloop import IOLoop

        button_click, document_ready, lasso = _events()
        asyncio.set_event_loop(asyncio.new_event_loop())  # each annotator's thread runs its own loop
        session = pull_session(url=self.url, arguments=self.arguments, io_loop=IOLoop.current())
        try:
            doc = session.document
            doc.callbacks.send_event(document_ready())  # what the page sends once loaded
            models = list(doc.models)
            submit = next(m for m in models if isinstance(m, Button) and "vc-submit" in m.css_classes)
            figure = next(m for m in models if isinstance(m, Plot))
            source = next(m for m in models if isinstance(m, ColumnDataSource) and "color" in m.data)
            progress = next(m for m in models if "vc-progress" in getattr(m, "css_classes", ()))

            def wait(changed, what: str):
                # The client's (private) loop runner: receive patches until the condition holds.
                deadline = time.perf_counter() + LOAD_TIMEOUT_S
                session._connection._loop_until(lambda: changed() or time.perf_counter() > deadline)
                if not changed():
                    raise TimeoutError(f"{what} did not arrive within {LOAD_TIMEOUT_S:.0f} s")

            times = []
            for _ in range(n):
                if progress.value >= progress.max:
                    break  # all of this annotator's plots are done
                xs, ys = np.asarray(source.data["x"], float), np.asarray(source.data["y"], float)
                (x0, x1), (y0, y1) = (xs.min() - 1, xs.max() + 1), (ys.min() - 1, ys.max() + 1)
                colours = source.data["color"]
                doc.callbacks.send_event(lasso(figure, geometry={
                    "type": "poly", "x": [x0, x1, x1, x0], "y": [y0, y0, y1, y1], "sx": [0] * 4, "sy": [0] * 4}))
                wait(lambda: source.data["color"] is not colours, "the lassoed cluster's colours")
                done, shown = progress.value, source.data["x"]
                start = time.perf_counter()
                doc.callbacks.send_event(button_click(submit))
                # The count goes up first, then the next plot's points arrive (none after the last).
                wait(lambda: progress.value > done and (source.data["x"] is not shown or progress.value >= progress.max),
                     "the next plot")
                times.append(time.perf_counter() - start)
            return times
        finally:
            session.close()


def _annotate(url: str, study_id: int, token: str, submissions: int, ready, start) -> list[float]:
    import bokeh.client  # noqa: F401 - imported before the start, so that all begin together
    import panel.models  # noqa: F401

    ready.release()
    start.wait()
    return Annotator(url, study_id, token).submit_all(submissions)


def run_annotators(url: str, study_id: int, tokens: list[str], submissions: int) -> tuple[list[list[float]], float]:
    """All annotators at once, one process each (as browsers are), started together.

    Returns each annotator's round trips and the wall time from the start to the last submission.
    """
    import multiprocessing as mp

    context = mp.get_context("spawn")  # no inherited threads or sockets
    with context.Manager() as manager, ProcessPoolExecutor(len(tokens), mp_context=context) as pool:
        ready, start = manager.Semaphore(0), manager.Event()
        futures = [pool.submit(_annotate, url, study_id, token, submissions, ready, start) for token in tokens]
        for _ in tokens:
            ready.acquire()
        began = time.perf_counter()
        start.set()
        times = [future.result() for future in futures]
        return times, time.perf_counter() - began
