"""Study design: render settings and replays, attention checks, routing by ambiguity."""
from __future__ import annotations

import numpy as np
import pytest

from app.pages.annotate import AnnotatorSession, admin_view, annotator_table, routing_summary, variant_table
from data import generate
from data.render import RenderSettings, render_png
from data.store import AnnotationStore, InvalidStudy, StoreError
from data.store_io import replay_export
from perception.routing import MIN_ANNOTATIONS, simulate_study
from perception.study import annotator_stats, open_store


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'studies.sqlite3'}") as s:
        yield s


def blob_plots(k: int) -> list[np.ndarray]:
    return [generate.blobs(60, k=2, separation=10, seed=i).xy for i in range(k)]


def person(store, info, name):
    return store.annotator_for_token(info, store.add_annotator(info, name=name))


def lasso_left_half(session: AnnotatorSession):
    xy = session.xy
    mid = np.median(xy[:, 0])
    lo, hi = xy.min(axis=0) - 1, xy.max(axis=0) + 1
    session.lasso([lo[0], mid, mid, lo[0]], [lo[1], lo[1], hi[1], hi[1]])


def test_replay_reproduces_the_png_byte_for_byte(store, tmp_path):
    zoomed = RenderSettings(name="zoomable", point_size=7, opacity=0.5, width=400, height=300, zoom=True)
    info = store.create_study("replay", blob_plots(1), render_variants=[zoomed], seed=3)
    who = person(store, info, "ann")
    session = AnnotatorSession(store, info.id, who)
    lasso_left_half(session)
    session.figure.x_range.start += 0.5  # the annotator zoomed in a little
    session.submit()
    [record] = store.annotations(info)
    task = store.plot(info, record.plot_id)
    assert record.render == task.render and record.render.width == 400 and record.render.x_range is not None
    assert record.viewport["x"][0] == task.render.x_range[0] + 0.5 and len(record.lassos) == 1
    expected = render_png(task.shown_xy, task.render, labels=record.labels, lassos=record.lassos,
                          viewport=record.viewport)
    png = store.replay(info, record.plot_id, who)
    assert png == expected and png[:8] == b"\x89PNG\r\n\x1a\n"
    path = store.export(info, tmp_path / "replay.parquet")
    assert replay_export(path, record.plot_id, "ann") == png
    from app.cli import main
    out = tmp_path / "replay.png"
    assert main(["annotations", "replay", str(path), "--plot", str(record.plot_id), "--annotator", "ann",
                 "-o", str(out)]) == 0
    assert out.read_bytes() == png
    # and the labels are those the lasso polygon encloses
    assert (record.labels == 0).sum() == (task.shown_xy[:, 0] < np.median(task.shown_xy[:, 0])).sum()


def test_every_annotator_gets_the_stored_settings_and_variants_are_balanced(store):
    variants = [RenderSettings(name="small", point_size=2), RenderSettings(name="large", point_size=9)]
    info = store.create_study("variants", blob_plots(2), render_variants=variants, seed=1)
    assert [v.name for v in info.render_variants] == ["small", "large"]
    tasks = [store.next_plot(info, person(store, info, f"p{i}")) for i in range(4)]
    by_plot = {}
    for t in tasks:
        by_plot.setdefault(t.plot_id, []).append(t)
    for same in by_plot.values():
        assert sorted(t.variant for t in same) == [0, 1]  # each plot shown once under each variant
        assert {t.render.x_range for t in same} == {same[0].render.x_range}  # identical axes for all
    assert {t.render.point_size for t in tasks} == {2, 9}
    with pytest.raises(InvalidStudy):
        store.create_study("bad", blob_plots(1), render_variants=[RenderSettings(name="a")] * 2)
    table = variant_table(store, info.id)
    assert list(table["variant"]) == ["small", "large"]


def test_careless_annotator_is_flagged_and_can_be_excluded(store, tmp_path):
    info = store.create_study("qc", blob_plots(3), attention_rate=0.25, seed=2)
    careful, careless = person(store, info, "careful"), person(store, info, "careless")
    rng = np.random.default_rng(0)
    checks = {p.plot_id for p in store.plots(info, include_checks=True)} - {p.plot_id for p in store.plots(info)}
    assert len(checks) == 1
    from data.store_models import StudyPlot
    for who in (careful, careless):
        kinds = []
        while (task := store.next_plot(info, who)) is not None:
            kinds.append(task.kind)
            if task.kind == "check":
                with store._sessions() as s:
                    truth = np.frombuffer(s.get(StudyPlot, (info.id, task.plot_id)).truth, "<i4")
            else:
                truth = (task.xy[:, 0] > np.median(task.xy[:, 0])).astype(int)
            labels = rng.integers(-1, 3, len(task.xy)) if who is careless else truth
            store.submit(info, task.plot_id, who, labels, seconds=2.0)
        assert len(kinds) == 4 and kinds.count("check") == 1  # 1 check in 4 items: the rate of 0.25
    assert store.flagged(info) == {careless.id}
    stats = {a.name: a for a in annotator_stats(store, info)}
    assert stats["careful"].attention_score > 0.99 and not stats["careful"].flagged
    assert stats["careless"].attention_score < 0.8 and stats["careless"].flagged
    assert stats["careful"].median_seconds == 2.0
    assert {r.annotator for r in store.annotations(info, exclude_flagged=True)} == {"careful"}
    assert len(store.labelings(info, store.plots(info)[0].plot_id, exclude_flagged=True)) == 1
    from app.cli import main
    out = tmp_path / "clean.csv"
    assert main(["annotations", "export", str(info.id), "-o", str(out), "--exclude-flagged",
                 "--db", str(store.url)]) == 0
    assert "careless" not in out.read_text()
    assert list(annotator_table(store, info.id, exclude_flagged=True)["annotator"]) == ["careful"]


def test_annotators_never_see_other_labels(store):
    info = store.create_study("private", blob_plots(1))
    first = AnnotatorSession(store, info.id, person(store, info, "first"))
    lasso_left_half(first)
    first.submit()
    second = AnnotatorSession(store, info.id, person(store, info, "second"))
    assert set(second.source.data["color"]) == {second.settings.color}  # nothing pre-coloured
    assert set(second.source.data) == {"x", "y", "color"}
    assert not any("label" in name for name in vars(second.task))


def test_ambiguity_policy_reaches_the_same_precision_with_fewer_annotations():
    plots = [generate.blobs(200, k=2 + i % 2, separation=12 if i % 2 == 0 else 2.5, seed=i).xy for i in range(6)]
    results = {policy: simulate_study(plots, policy, n_observers=40, target_width=0.25, seed=0)
               for policy in ("balanced", "ambiguity")}
    for r in results.values():
        assert r.reached == len(plots)  # the same precision: every interval narrower than the target
    assert results["ambiguity"].annotations < 0.8 * results["balanced"].annotations


def test_store_routes_by_ambiguity_and_stops_settled_plots(store):
    info = store.create_study("routed", blob_plots(2), policy="ambiguity", target_width=0.2)
    seen = []
    for i in range(MIN_ANNOTATIONS + 1):
        who = person(store, info, f"p{i}")
        while (task := store.next_plot(info, who)) is not None:
            seen.append(task.plot_id)
            labels = (task.xy[:, 0] > np.median(task.xy[:, 0])).astype(int)  # everyone agrees
            store.submit(info, task.plot_id, who, labels)
    # full agreement: each plot settles after the minimum of annotations; the next person gets nothing
    assert [p.n_annotations for p in store.plots(info)] == [MIN_ANNOTATIONS] * 2
    assert "ambiguity" in routing_summary(store, info.id)
    admin_view(store, info.id)  # renders without a server


def test_routing_and_priors_are_injected_into_the_store(tmp_path):
    """data.store knows no perception: a plain store refuses to route by ambiguity, and the
    priors of an ambiguity study come from the ``prior`` it was given."""
    from data.store_models import StudyPlot

    url = f"sqlite:///{tmp_path / 'plain.sqlite3'}"
    with AnnotationStore(url, prior=lambda xy: 0.25) as plain:
        info = plain.create_study("routed", blob_plots(2), policy="ambiguity")
        who = person(plain, info, "p")
        with pytest.raises(StoreError, match="router"):
            plain.next_plot(info, who)
        with plain._sessions() as s:
            assert [sp.prior for sp in s.query(StudyPlot).filter_by(study_id=info.id)] == [0.25, 0.25]
    with open_store(url) as wired:
        assert wired.next_plot(info, who) is not None
