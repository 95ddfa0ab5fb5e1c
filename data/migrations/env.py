"""Alembic environment of the annotation store.

AnnotationStore runs `upgrade head` itself and hands its open connection over in
``config.attributes["connection"]``; the URL branch serves the `alembic` command line
(``alembic -x url=sqlite:///... upgrade head`` with ``script_location`` pointing here).
"""
from alembic import context
from sqlalchemy import create_engine

from data.store_models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection):
    # render_as_batch lets later migrations alter SQLite tables (which lack ALTER COLUMN).
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
