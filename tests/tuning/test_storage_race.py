"""Several processes opening one fresh PostgreSQL study database at once (a team's first
runs, a killed run's resume beside a progress poller): each creates the schema if it is
missing, and PostgreSQL lets only one ``CREATE TABLE`` of a name win; the others must
find the tables the winner made rather than fail."""

import threading
import uuid

import optuna
import sqlalchemy

from spinerisk.tuning.study import open_storage

OPENERS = 8


def _fresh_database(url: str) -> str:
    """A new, empty database on the session's server; its URL."""
    name = f"race_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def test_openers_racing_on_a_fresh_database_all_get_the_storage(postgres_url):
    for _ in range(3):  # the race is lost only now and then: several fresh databases
        url = _fresh_database(postgres_url)
        start, errors = threading.Barrier(OPENERS), []

        def open_it(url=url, start=start, errors=errors):
            start.wait()
            try:
                with open_storage(url) as rdb:
                    optuna.create_study(study_name="shared", storage=rdb,
                                        load_if_exists=True)
            except Exception as err:  # noqa: BLE001 -- collected for the assertion
                errors.append(f"{type(err).__name__}: {str(err)[:200]}")

        openers = [threading.Thread(target=open_it) for _ in range(OPENERS)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        assert not errors, errors
        with open_storage(url) as rdb:
            assert [s.study_name for s in optuna.get_all_study_summaries(rdb)] == ["shared"]
