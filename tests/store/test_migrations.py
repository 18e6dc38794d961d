from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from store.db import downgrade, engine_for, migrate
from store.models import Base

TABLES = {"users", "api_keys", "blobs", "blob_chunks", "datasets", "jobs", "job_logs", "models", "eval_results"}


def test_upgrade_matches_the_models_and_downgrade_removes_everything(database_url):
    engine = engine_for(database_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []  # the migrations build exactly the schema the models describe
    downgrade(database_url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(database_url)  # and up again
    assert set(inspect(engine).get_table_names()) >= TABLES
