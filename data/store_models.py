"""ORM models of the annotation store. The schema itself is created by the Alembic
migrations in data/migrations; tests check that the two agree."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Only a SHA-256 of the admin token is kept, so a copied database grants nothing.
    admin_token_hash: Mapped[str] = mapped_column(String(64))
    per_annotator: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Share of each annotator's items that are attention checks (0 = none).
    attention_rate: Mapped[float] = mapped_column(Float, server_default="0")
    policy: Mapped[str] = mapped_column(String(20), server_default="balanced")  # see perception.routing
    # Stopping rule of the "ambiguity" policy: width of the 90% interval of human ambiguity.
    target_width: Mapped[float] = mapped_column(Float, server_default="0.1")
    render_variants: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list, as requested

    plots: Mapped[list[StudyPlot]] = relationship(back_populates="study", order_by="StudyPlot.position")


class Plot(Base):
    """Points of one scatterplot, stored once however many studies use it."""

    __tablename__ = "plots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the little-endian float64 bytes
    n_points: Mapped[int] = mapped_column(Integer)
    points: Mapped[bytes] = mapped_column(LargeBinary)  # (n, 2) little-endian float64, C order


class StudyPlot(Base):
    """A plot as part of a study: its name there and, for large plots, the points shown."""

    __tablename__ = "study_plots"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    # Sorted little-endian int32 indices of the displayed subsample; NULL = every point is shown.
    shown: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # JSON list of resolved RenderSettings, one per render variant of the study.
    render: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(10), server_default="plot")  # "plot" or "check"
    truth: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # a check's answer, int32
    prior: Mapped[float | None] = mapped_column(Float, nullable=True)  # CLAMS ambiguity, for routing

    study: Mapped[Study] = relationship(back_populates="plots")
    plot: Mapped[Plot] = relationship()


class Annotator(Base):
    __tablename__ = "annotators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Assignment(Base):
    """A plot handed to an annotator by next_plot; open until the annotation arrives."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("annotator_id", "plot_id", name="uq_assignment_annotator_plot"),
                      Index("ix_assignments_study_plot", "study_id", "plot_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    variant: Mapped[int] = mapped_column(Integer, server_default="0")  # index into the plot's render list


class Annotation(Base):
    """One labelling of one plot by one annotator."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("study_id", "key", name="uq_annotation_key"),
                      UniqueConstraint("annotator_id", "plot_id", name="uq_annotation_annotator_plot"),
                      Index("ix_annotations_study_plot", "study_id", "plot_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))  # idempotency key chosen by the client
    labels: Mapped[bytes] = mapped_column(LargeBinary)  # (n,) little-endian int32, -1 = not lassoed
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    app_version: Mapped[str] = mapped_column(String(50))
    variant: Mapped[int] = mapped_column(Integer, server_default="0")
    render: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON RenderSettings as shown
    viewport: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {"x": [lo, hi], "y": [lo, hi]}
    lassos: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON [{"cluster", "x", "y"}], data coords
