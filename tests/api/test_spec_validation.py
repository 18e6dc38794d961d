"""No badly typed, out-of-range or unknown value is ever queued: every bad submission on the train, eval and sweep
routes gets a 422 whose details name the request's field path, and no job row is created. Then: what is accepted
is stored as the typed spec's JSON, and Swagger lists the allowed values."""

import pytest
from sqlalchemy import func, select

from sthlib.evalspecs import CORRUPTION_NAMES, EVAL_SPECS
from sthlib.specs import ARCHITECTURE_NAMES, LOSS_NAMES
from sthlib.variants import VARIANTS
from store.db import session_scope
from store.models import Job
from tests.api.conftest import assert_error_shape, auth

Q = {"preset": "smoke"}
EVAL = {"model_id": "{model}"}
SWEEP = {"preset": "smoke", "grid": {"reg.alpha": [1.0]}, "evaluators": [{"name": "gaussian"}]}


def train(**spec):
    return ("/v1/train-jobs", {**Q, "spec": spec})


def evaluate(*evaluators):
    return ("/v1/eval-jobs", {**EVAL, "evaluators": list(evaluators)})


def sweep(**changes):
    return ("/v1/sweeps", {**SWEEP, **changes})


# (id, (path, body), the field path the 422 names, words of its message)
CASES = [
    # train: wrong types, null, out of range, unknown names at every level
    ("epochs-fraction", train(epochs=2.5), "spec.epochs", "must be an integer, got 2.5"),
    ("epochs-string", train(epochs="3"), "spec.epochs", 'must be an integer, got "3"'),
    ("epochs-huge", train(epochs=10**29), "spec.epochs", "must be <= 1000"),
    ("epochs-null", train(epochs=None), "spec.epochs", "must be an integer, got null"),
    ("batch-bool", train(batch_size=True), "spec.batch_size", "must be an integer, got true"),
    ("batch-huge", train(batch_size=10**11), "spec.batch_size", "must be <= 8192"),
    ("seed-fraction", train(seed=-1.5), "spec.seed", "must be an integer"),
    ("seed-negative", train(seed=-1), "spec.seed", "must be >= 0"),
    ("seed-2-64", train(seed=2**64), "spec.seed", "must be <= 2147483647"),
    ("lr-huge", train(lr=1e308), "spec.lr", "must be <= 10"),
    ("lr-null", train(lr=None), "spec.lr", "must be a number, got null"),
    ("lr-zero", train(lr=0), "spec.lr", "must be > 0"),
    ("momentum-one", train(momentum=1.0), "spec.momentum", "must be < 1"),
    ("arch-unknown", train(arch="vgg16"), "spec.arch", "choose one of 'resnet18'"),
    ("color-unknown", train(color="cmyk"), "spec.color", "unknown value"),
    ("augment-unknown", train(augment="mixup"), "spec.augment", "unknown value"),
    ("unknown-top-level", train(epoch=3), "spec.epoch", "unknown field"),
    ("dataset-int", train(dataset=5), "spec.dataset", "must be a string"),
    ("dataset-unknown", train(dataset="imagenet"), "spec.dataset", "unknown dataset"),
    ("reg-not-object", train(reg=[1]), "spec.reg", "must be an object"),
    ("reg-unknown-field", train(reg={"alfa": 1}), "spec.reg.alfa", "unknown field; known: alpha"),
    ("reg-threshold-string", train(reg={"threshold": "0.5"}), "spec.reg.threshold", "must be a number"),
    ("reg-threshold-one", train(reg={"threshold": 1.0}), "spec.reg.threshold", "must be < 1"),
    ("reg-variant-unknown", train(reg={"variant": "diagonal"}), "spec.reg.variant", "unknown value"),
    ("reg-loss-unknown", train(reg={"loss": "l1"}), "spec.reg.loss", "unknown value"),
    ("reg-double-no-low", train(reg={"alpha": 1.0, "variant": "double"}), "spec.reg.threshold_low", "needs"),
    ("reg-n-images-bool", train(reg={"n_images": True}), "spec.reg.n_images", "must be an integer"),
    ("reg-fused-int", train(reg={"fused": 1}), "spec.reg.fused", "must be true or false"),
    ("reg-pairs-huge", train(reg={"alpha": 1.0, "pairs_per_step": 10**6}), "spec.reg.pairs_per_step", "<= 4096"),
    ("reg-selects-nothing", train(reg={"alpha": 1.0, "variant": "high", "threshold": 0.9999, "n_images": 100}),
     "spec.reg.threshold", "selects none of the"),
    ("preset-unknown", ("/v1/train-jobs", {"preset": "fast"}), "preset", "unknown preset"),
    ("body-unknown-field", ("/v1/train-jobs", {**Q, "specs": {}}), "specs", "unknown field"),
    # eval: unknown evaluators and parameters, wrong types, null, out of range, oversized lists
    ("eval-unknown-evaluator", evaluate({"name": "deepfool"}), "evaluators.0.name", "unknown evaluator"),
    ("eval-unknown-param", evaluate({"name": "gaussian", "params": {"sigma": 0.1}}), "evaluators.0.params.sigma",
     "unknown field"),
    ("eval-n-images-bool", evaluate({"name": "gaussian", "params": {"n_images": True}}),
     "evaluators.0.params.n_images", "must be an integer, got true"),
    ("eval-n-images-zero", evaluate({"name": "gaussian", "params": {"n_images": 0}}),
     "evaluators.0.params.n_images", "must be >= 1"),
    ("eval-strength-string", evaluate({"name": "uniform", "params": {"strengths": [0.1, "0.2"]}}),
     "evaluators.0.params.strengths.1", "must be a number"),
    ("eval-strength-negative", evaluate({"name": "gaussian", "params": {"strengths": [-0.1]}}),
     "evaluators.0.params.strengths.0", "must be >= 0"),
    ("eval-strength-above-one", evaluate({"name": "salt_pepper", "params": {"strengths": [1.5]}}),
     "evaluators.0.params.strengths.0", "must be <= 1"),
    ("eval-strengths-empty", evaluate({"name": "gaussian", "params": {"strengths": []}}),
     "evaluators.0.params.strengths", "at least 1"),
    ("eval-strengths-oversized", evaluate({"name": "gaussian", "params": {"strengths": [0.1] * 65}}),
     "evaluators.0.params.strengths", "at most 64"),
    ("eval-clamp-unknown", evaluate({"name": "gaussian", "params": {"clamp": "clip"}}),
     "evaluators.0.params.clamp", "unknown value"),
    ("eval-corruption-unknown", evaluate({"name": "corruption", "params": {"corruptions": ["fog", "rain"]}}),
     "evaluators.0.params.corruptions.1", "unknown value"),
    ("eval-severity-six", evaluate({"name": "corruption", "params": {"severities": [1, 6]}}),
     "evaluators.0.params.severities.1", "must be <= 5"),
    ("eval-steps-null", evaluate({"name": "boundary", "params": {"steps": None}}),
     "evaluators.0.params.steps", "must be an integer, got null"),
    ("eval-start-unknown", evaluate({"name": "boundary", "params": {"start": "random"}}),
     "evaluators.0.params.start", "unknown value"),
    ("eval-repeats-fraction", evaluate({"name": "hopskipjump", "params": {"repeats": 2.5}}),
     "evaluators.0.params.repeats", "must be an integer"),
    ("eval-params-not-object", evaluate({"name": "gaussian", "params": [1]}), "evaluators.0.params",
     "valid dictionary"),
    ("eval-duplicate", evaluate({"name": "gaussian"}, {"name": "gaussian"}), "evaluators.1.name", "appears twice"),
    ("eval-no-source", evaluate({"name": "transfer_fgsm"}), "evaluators.0.params.source", "needs a source model"),
    ("eval-source-string", evaluate({"name": "transfer_fgsm", "params": {"source": "m"}}),
     "evaluators.0.params.source", "must be an object"),
    ("eval-source-kind", evaluate({"name": "transfer_fgsm", "params": {"source": {"kind": "url", "ref": "x"}}}),
     "evaluators.0.params.source.kind", "unknown value"),
    ("eval-source-checkpoint", evaluate({"name": "transfer_fgsm",
                                         "params": {"source": {"kind": "checkpoint", "ref": "/etc/passwd"}}}),
     "evaluators.0.params.source.kind", "for local runs"),
    ("eval-source-sweep", evaluate({"name": "transfer_fgsm", "params": {"source": {"kind": "sweep"}}}),
     "evaluators.0.params.source", "needs a source model"),
    ("eval-source-twice", evaluate({"name": "transfer_fgsm", "source_model_id": "{model}",
                                    "params": {"source": {"kind": "model", "ref": "{model}"}}}),
     "evaluators.0.source_model_id", "once"),
    ("eval-source-for-noise", evaluate({"name": "gaussian", "source_model_id": "{model}"}),
     "evaluators.0.source_model_id", "takes no source model"),
    ("eval-too-many", evaluate(*[{"name": "gaussian"}] * 17), "evaluators", "at most 16"),
    ("eval-unknown-body-field", ("/v1/eval-jobs", {**EVAL, "evaluators": [{"name": "gaussian"}], "x": 1}), "x",
     "unknown field"),
    # sweep: the base spec, grid keys and values, seeds, evaluators, the selection
    ("sweep-spec-fraction", sweep(spec={"epochs": 1.5}), "spec.epochs", "must be an integer"),
    ("sweep-grid-unknown-key", sweep(grid={"reg.alhpa": [1.0]}), "grid.reg.alhpa", "unknown grid key"),
    ("sweep-grid-seed", sweep(grid={"seed": [1, 2]}), "grid.seed", "seeds go in `seeds`"),
    ("sweep-grid-fraction", sweep(grid={"reg.alpha": [1.0], "epochs": [1, 2.5]}), "grid.epochs",
     "must be an integer, got 2.5"),
    ("sweep-grid-bool", sweep(grid={"reg.alpha": [True]}), "grid.reg.alpha.0", "must be > 0"),
    ("sweep-grid-variant", sweep(grid={"reg.alpha": [1.0], "reg.variant": ["diagonal"]}), "grid.reg.variant",
     "unknown value"),
    ("sweep-grid-oversized", sweep(grid={"reg.alpha": [0.1 * i for i in range(1, 18)]}), "grid.reg.alpha",
     "1 to 16 items"),
    ("sweep-grid-empty", sweep(grid={}), "grid", "at least one field"),
    ("sweep-seeds-bool", sweep(seeds=[False]), "seeds.0", "must be an integer"),
    ("sweep-seeds-negative", sweep(seeds=[-1]), "seeds.0", "must be an integer in [0"),
    ("sweep-seeds-oversized", sweep(seeds=list(range(11))), "seeds", "1 to 10 items"),
    ("sweep-evaluator-param", sweep(evaluators=[{"name": "gaussian", "params": {"n_images": "all"}}]),
     "evaluators.0.params.n_images", "must be an integer"),
    ("sweep-select-by", sweep(select_by="boundary"), "select_by", "curve evaluators"),
    ("sweep-min-r0-bool", sweep(min_r0_u0=True), "min_r0_u0", "valid number"),
]  # fmt: skip


def _fill(value, world):
    if isinstance(value, str):
        return value.replace("{model}", world["{model}"])
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _jobs(client) -> int:
    with session_scope(client.settings.database_url) as session:
        return session.scalar(select(func.count()).select_from(Job))


def test_the_table_covers_every_route_and_enough_cases():
    routes = {path for _, (path, _), *_ in CASES}
    assert routes == {"/v1/train-jobs", "/v1/eval-jobs", "/v1/sweeps"} and len(CASES) >= 40


@pytest.mark.parametrize(("path_body", "field", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_submission_names_its_field_and_queues_nothing(db_client, world, path_body, field, says):
    path, body = path_body
    before = _jobs(db_client)
    response = db_client.post(path, headers=auth(db_client), json=_fill(body, world))
    assert response.status_code == 422, response.text
    error = assert_error_shape(response)["error"]
    assert error["details"]["field"] == field, error
    assert says in error["message"], error
    assert _jobs(db_client) == before


def test_an_accepted_submission_is_stored_as_its_typed_spec(client):
    from sthlib.jobkinds import read_spec
    from sthlib.specs import preset

    response = client.post("/v1/train-jobs", headers=auth(client), json={**Q, "spec": {"epochs": 2.0}})
    assert response.status_code == 201, response.text
    stored = response.json()["spec"]
    assert stored == preset("smoke", epochs=2).to_dict() and isinstance(stored["epochs"], int)
    assert read_spec("train", stored) == preset("smoke", epochs=2)


def test_swagger_lists_the_allowed_values(client):
    schema = client.get("/openapi.json").json()
    text = str(schema)
    body = schema["components"]["schemas"]
    train = body["TrainJobCreate"]["properties"]["spec"]
    assert train["properties"]["arch"]["enum"] == list(ARCHITECTURE_NAMES)
    assert train["properties"]["reg"]["properties"]["variant"]["enum"] == list(VARIANTS)
    assert train["properties"]["reg"]["properties"]["loss"]["enum"] == list(LOSS_NAMES)
    epochs = train["properties"]["epochs"]
    assert (epochs["minimum"], epochs["maximum"], epochs["type"]) == (1, 1000, "integer") and epochs["description"]
    assert train["properties"]["reg"]["properties"]["threshold"]["exclusiveMaximum"] == 1
    options = body["EvalJobCreate"]["properties"]["evaluators"]["items"]["oneOf"]
    assert [o["properties"]["name"]["enum"][0] for o in options] == list(EVAL_SPECS)
    corruption = next(o for o in options if o["title"] == "corruption")["properties"]["params"]["properties"]
    assert corruption["corruptions"]["anyOf"][0]["items"]["enum"] == list(CORRUPTION_NAMES)
    assert "'ge'" not in text and "'le'" not in text  # bounds under their JSON Schema names only
