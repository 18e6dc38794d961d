import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from store.db import downgrade, engine_for, migrate
from store.models import Base

TABLES = {"users", "api_keys", "blobs", "blob_chunks", "datasets", "jobs", "job_logs", "models", "eval_results",
          "workers"}  # fmt: skip


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


def test_stored_specs_of_before_the_typed_specs_are_rewritten_and_read_back(database_url):
    """0003: an evaluation's transfer source was a bare model id (or "sweep"), a sweep stored its request; after the
    upgrade both read back as typed specs, the sweep's base taken from its first training."""
    from sqlalchemy import text

    from sthlib.evalspecs import SWEEP_SOURCE, SourceRef
    from sthlib.jobkinds import read_spec
    from sthlib.specs import preset
    from store.db import session_scope
    from store.keys import create_user
    from store.models import Job, JobKind, Role

    downgrade(database_url, "0002")
    child = preset("smoke", seed=4, **{"reg.alpha": 1.0}).to_dict()
    old_eval = {"model_id": "m1", "evaluators": [{"name": "gaussian", "params": {"n_images": 10}},
                                                 {"name": "transfer_fgsm", "params": {"source": "m0"}}]}  # fmt: skip
    old_sweep = {"preset": "smoke", "spec": {"epochs": 1}, "grid": {"reg.alpha": [1.0]}, "seeds": [4],
                 "evaluators": [{"name": "transfer_fgsm", "params": {"source": "sweep"}}], "select_by": "transfer_fgsm",
                 "min_r0_u0": 0.9, "source_seed": 5}  # fmt: skip
    with session_scope(database_url) as session:
        owner = create_user(session, "old", Role.member)
        for ident, kind, spec, parent in (("e1", "evaluate", old_eval, None), ("s1", "sweep", old_sweep, None),
                                          ("t1", "train", child, "s1")):  # fmt: skip
            session.execute(text("INSERT INTO jobs (id, kind, owner_id, status, spec, spec_hash, progress, attempts, "
                                 "cancel_requested, parent_id, created_at, updated_at) VALUES (:id, :kind, :owner, "
                                 "'queued', :spec, 'h', '{}', 0, false, :parent, CURRENT_TIMESTAMP, "
                                 "CURRENT_TIMESTAMP)"),
                            {"id": ident, "kind": kind, "owner": owner.id, "spec": json.dumps(spec),
                             "parent": parent})  # fmt: skip
    migrate(database_url)
    with session_scope(database_url) as session:
        specs = {job.id: read_spec(job.kind.value, job.spec) for job in session.query(Job)}
        assert session.get(Job, "s1").kind is JobKind.sweep
    assert specs["e1"].evaluators[1].source == SourceRef.model("m0")
    assert specs["e1"].evaluators[0].params.n_images == 10
    sweep = specs["s1"]
    assert sweep.evaluators[0].source == SWEEP_SOURCE and sweep.source_seed == 5 and sweep.seeds == (4,)
    assert sweep.base.to_dict() == child and sweep.trainings()[0].spec.to_dict() == child


def test_models_and_jobs_stored_before_settings_get_theirs(database_url):
    """0004: a stored model's setting (and its train and evaluation jobs') from its spec; tags and notes empty."""
    from sqlalchemy import text

    from sthlib.jobspecs import EvalJobSpec, EvaluatorCall
    from sthlib.specs import preset
    from store.db import session_scope
    from store.keys import create_user
    from store.models import Job, Model, Role

    downgrade(database_url, "0003")
    spec = preset("smoke", seed=2)
    evaluation = EvalJobSpec("m1", (EvaluatorCall.make("gaussian"),)).to_dict()
    with session_scope(database_url) as session:
        owner = create_user(session, "old", Role.member).id
        row = "(:id, :kind, :owner, 'succeeded', :spec, 'h', '{}', 0, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        for ident, kind, data in (("t1", "train", spec.to_dict()), ("e1", "evaluate", evaluation)):
            session.execute(text("INSERT INTO jobs (id, kind, owner_id, status, spec, spec_hash, progress, attempts, "
                                 f"cancel_requested, created_at, updated_at) VALUES {row}"),
                            {"id": ident, "kind": kind, "owner": owner, "spec": json.dumps(data)})  # fmt: skip
        session.execute(text("INSERT INTO blobs (id, sha256, size, chunks, created_at) VALUES ('b1', 'x', 0, 0, "
                             "CURRENT_TIMESTAMP)"))  # fmt: skip
        columns = "id, owner_id, name, origin, job_id, arch, dataset, color, in_channels, num_classes, input_scale"
        session.execute(text(f"INSERT INTO models ({columns}, spec, metrics, blob_id, created_at) VALUES ('m1', "
                             ":owner, 'm', 'trained', 't1', 'small_cnn', 'mnist-5k', 'gray', 1, 10, 'unit', :spec, "
                             "'{}', 'b1', CURRENT_TIMESTAMP)"),
                        {"owner": owner, "spec": json.dumps(spec.to_dict())})  # fmt: skip
    migrate(database_url)
    with session_scope(database_url) as session:
        model = session.get(Model, "m1")
        assert model.setting == spec.setting_hash() and model.tags == [] and model.notes == ""
        assert model.history is None
        assert session.get(Job, "t1").setting == session.get(Job, "e1").setting == spec.setting_hash()


def test_jobs_stored_before_priorities_get_priority_0_and_the_downgrade_removes_it(database_url):
    """0005: jobs.priority (0 for the jobs already stored) and the index on jobs.finished_at; and back."""
    from sqlalchemy import text

    from store.db import session_scope
    from store.keys import create_user
    from store.models import Job, Role

    engine = engine_for(database_url)
    downgrade(database_url, "0004")
    assert "priority" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
    with session_scope(database_url) as session:
        owner = create_user(session, "old", Role.member).id
        session.execute(text("INSERT INTO jobs (id, kind, owner_id, status, spec, spec_hash, progress, attempts, "
                             "cancel_requested, created_at, updated_at) VALUES ('q1', 'train', :owner, 'queued', "
                             "'{}', 'h', '{}', 0, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                        {"owner": owner})  # fmt: skip
    migrate(database_url)
    with session_scope(database_url) as session:
        assert session.get(Job, "q1").priority == 0
    assert "ix_jobs_finished_at" in {i["name"] for i in inspect(engine).get_indexes("jobs")}
    downgrade(database_url, "0004")
    inspector = inspect(engine)
    assert "priority" not in {c["name"] for c in inspector.get_columns("jobs")}
    assert "ix_jobs_finished_at" not in {i["name"] for i in inspector.get_indexes("jobs")}
    migrate(database_url)


def test_jobs_stored_before_device_kinds_ask_for_any_device_and_the_downgrade_removes_workers(database_url):
    """0006: jobs.device_kind ("any" for the jobs already stored) and the workers table; and back."""
    from sqlalchemy import text

    from store.db import session_scope
    from store.keys import create_user
    from store.models import DeviceKind, Job, Role

    engine = engine_for(database_url)
    downgrade(database_url, "0005")
    inspector = inspect(engine)
    assert "device_kind" not in {c["name"] for c in inspector.get_columns("jobs")}
    assert "workers" not in inspector.get_table_names()
    with session_scope(database_url) as session:
        owner = create_user(session, "old", Role.member).id
        session.execute(text("INSERT INTO jobs (id, kind, owner_id, status, spec, spec_hash, progress, attempts, "
                             "cancel_requested, priority, created_at, updated_at) VALUES ('q1', 'train', :owner, "
                             "'queued', '{}', 'h', '{}', 0, false, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                        {"owner": owner})  # fmt: skip
    migrate(database_url)
    with session_scope(database_url) as session:
        assert session.get(Job, "q1").device_kind is DeviceKind.any
    assert "workers" in inspect(engine).get_table_names()
    downgrade(database_url, "0005")
    inspector = inspect(engine)
    assert "device_kind" not in {c["name"] for c in inspector.get_columns("jobs")}
    assert "workers" not in inspector.get_table_names()
    migrate(database_url)
