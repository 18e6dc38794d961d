"""The job-kind registry (sthlib.jobkinds) and the tables the layers above sthlib attach to it: every kind has an
entry, a pre-flight check in the API, and either a runner in the worker or an ending in the store, never both;
the OpenAPI document, the database's column and the worker agree on the kinds."""

import pytest

from api.specs import PREFLIGHT
from sthlib.jobkinds import KINDS, PARENT_KINDS, WORKER_KINDS, JobKind, as_parent, kind_of, read_parent_spec, read_spec
from sthlib.reproduce.protocols import PROTOCOLS, ReportSpec
from sthlib.specs import Label, preset
from sthlib.validation import SpecError
from store.models import Job
from store.sweeps import ENDINGS

EXAMPLES = {
    JobKind.train: preset("smoke"),
    JobKind.evaluate: None,  # filled below: it needs an evaluator call
    JobKind.sweep: None,
    JobKind.report: ReportSpec("tiny", (0, 1), {}),
}


def _examples():
    from sthlib.jobspecs import EvalJobSpec, EvaluatorCall, build_sweep

    call = EvaluatorCall.make("gaussian", n_images=10, strengths=[0.0, 0.1])
    return {
        **EXAMPLES,
        JobKind.evaluate: EvalJobSpec("m1", (call,)),
        JobKind.sweep: build_sweep(preset("smoke"), {"reg.alpha": [0.1, 1.0]}, [0], [call.to_dict()], None),
    }


def test_every_kind_has_one_entry_and_the_layers_cover_it():
    assert set(KINDS) == set(JobKind), "a JobKind without a registry entry (or the reverse)"
    assert all(entry.kind is kind for kind, entry in KINDS.items())
    assert set(PREFLIGHT) == set(JobKind), "api.specs.PREFLIGHT must check every kind"
    assert set(ENDINGS) == PARENT_KINDS, "store.sweeps.ENDINGS: exactly the parent kinds end by writing a result"
    assert set(JobKind) == WORKER_KINDS | PARENT_KINDS and not WORKER_KINDS & PARENT_KINDS
    assert {k for k in JobKind if k.parent} == PARENT_KINDS


def test_the_worker_runs_exactly_the_worker_kinds():
    from worker.tasks import RUNNERS

    assert set(RUNNERS) == WORKER_KINDS


def test_the_database_column_and_the_openapi_document_list_the_registry_kinds():
    from api.main import create_app

    assert list(Job.__table__.c.kind.type.enums) == [k.value for k in KINDS]
    schema = create_app(migrate_on_start=False).openapi()["components"]["schemas"]
    assert schema["JobKind"]["enum"] == [k.value for k in KINDS]


@pytest.mark.parametrize("kind", list(JobKind))
def test_each_kind_reads_back_what_it_stores_and_describes_itself(kind):
    spec = _examples()[kind]
    parent = as_parent(kind, spec)
    assert (parent is not None) == kind.parent
    stored = parent.pinned() if parent is not None else spec  # what a job of the kind stores
    assert read_spec(kind.value, stored.to_dict()) == stored
    assert isinstance(spec.label(), Label) and spec.label().text
    assert isinstance(spec.datasets(), dict)
    if parent is not None:
        assert parent.plan().trainings(), "a parent plans children"
        assert read_parent_spec(kind.value, spec.to_dict()).plan() == parent.plan()


def test_a_training_reads_its_task_and_only_the_regularizer_images_it_uses_but_names_both():
    spec = preset("smoke").replace(**{"reg.dataset": "fashion-mnist"})
    assert spec.datasets() == {"mnist-5k": "spec.dataset", "fashion-mnist": "spec.reg.dataset"}
    twin = spec.replace(**{"reg.alpha": 0.0})
    assert twin.datasets_read() == {"mnist-5k": "dataset"}  # the files it needs
    assert twin.datasets() == spec.datasets()  # what a service vets: validate() checks reg.dataset all the same
    assert spec.job_setting(lambda _: "unused") == spec.setting_hash()


def test_a_report_names_its_datasets_without_validating_its_setting():
    report = ReportSpec("tiny", (0,), {"reg": {"dataset": "npz:/no/such.npz"}})
    assert report.datasets() == {"mnist-5k": "protocol", "npz:/no/such.npz": "changes.reg.dataset"}
    pinned = ReportSpec("tiny", (0,), {}).pinned()
    assert pinned.datasets() == pinned.plan().datasets() == {"mnist-5k": "spec.dataset"}


def test_a_sweep_names_grid_datasets_by_their_grid_key():
    from sthlib.jobspecs import build_sweep

    sweep = build_sweep(preset("smoke"), {"dataset": ["mnist-5k", "fashion-mnist"]}, [0], [{"name": "gaussian"}],
                        None, check=False)  # fmt: skip
    assert sweep.datasets() == {"mnist-5k": "grid.dataset", "fashion-mnist": "grid.dataset"}
    assert sweep.job_setting(lambda _: "unused") is None


def test_an_evaluation_belongs_to_its_model_setting():
    spec = _examples()[JobKind.evaluate]
    assert spec.job_setting({"m1": "abc"}.get) == "abc"
    assert spec.label().model_id == "m1" and spec.datasets() == {}


def test_unknown_kinds_and_worker_kinds_as_parents_are_refused_by_field():
    with pytest.raises(SpecError) as caught:
        kind_of("fit")
    assert caught.value.field == "kind" and "train" in caught.value.hint
    with pytest.raises(SpecError) as caught:
        read_parent_spec("train", preset("smoke").to_dict())
    assert caught.value.field == "kind"
    assert "tiny" in PROTOCOLS
