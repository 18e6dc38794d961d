"""The pre-flight check of a regularizer's pairs: one set of rules and messages for the API and the trainer.

A regularizer cannot run when it asks for more images than the dataset's train split holds, when its threshold and
variant select no pair, or when it draws more pairs per step than are selected. The API answers that with a 422
before a job is queued (counting from its cached numpy similarity summary); the trainer finds it when it loads the
images (counting with its torch pair scan). Both call ``check_pairs`` with their own count, so the same spec gets
the same SpecError, word for word, on both paths. Torch-free.
"""

from __future__ import annotations

from typing import Any

from sthlib.validation import SpecError, require
from sthlib.variants import validate_selection, variant_rule

__all__ = ["check_images", "check_pairs", "check_pairs_per_step", "check_selected", "similarity_hint"]


def similarity_hint(dataset: str | None) -> str:
    """Where a user sees what each threshold selects."""
    if dataset is None:
        return "the similarity summary (sthlib.simstats.similarity_summary) shows what each threshold selects"
    return f"GET /v1/datasets/{dataset}/similarity (or `sth similarity {dataset}`) shows what each threshold selects"


def _selection(threshold: float, variant: str, threshold_low: float | None) -> str:
    low = f" (threshold_low {threshold_low})" if threshold_low is not None else ""
    return f"variant {variant!r} at threshold {threshold}{low}"


def _images(n_images: int, dataset: str | None) -> str:
    return f"the first {n_images} images of {dataset!r}" if dataset is not None else f"{n_images} images"


def check_images(dataset: str, n_images: int, available: int) -> None:
    """reg.n_images must not exceed the training images the dataset has."""
    require(n_images <= available, "reg.n_images",
            f"{n_images} exceeds the {available} training images of {dataset!r}",
            f"lower it to at most {available}")  # fmt: skip


def check_selected(
    selected: int, *, n_images: int, threshold: float, variant: str, threshold_low: float | None = None,
    dataset: str | None = None,
) -> None:  # fmt: skip
    """The threshold and variant must select at least one of the pairs of the N images."""
    pairs = n_images * (n_images - 1) // 2
    require(selected > 0, "reg.threshold",
            f"{_selection(threshold, variant, threshold_low)} selects none of the {pairs} pairs of "
            f"{_images(n_images, dataset)}",
            f"change reg.threshold or reg.variant; {similarity_hint(dataset)}")  # fmt: skip


def check_pairs_per_step(
    pairs_per_step: int, selected: int | None, *, n_images: int, threshold: float, variant: str,
    threshold_low: float | None = None, dataset: str | None = None,
) -> None:  # fmt: skip
    """At least one pair per step, and no more than are selected (None: the count is not known, not checked)."""
    require(pairs_per_step >= 1, "reg.pairs_per_step", f"pairs_per_step must be at least 1, got {pairs_per_step}")
    if selected is None or pairs_per_step <= selected:
        return
    raise SpecError(
        "reg.pairs_per_step",
        f"{pairs_per_step} pairs per step exceeds the {selected} pairs that "
        f"{_selection(threshold, variant, threshold_low)} selects among {_images(n_images, dataset)}",
        "lower reg.pairs_per_step or select more pairs (another threshold or variant, more reg.n_images)",
    )


def check_pairs(
    *, dataset: str, n_images: int, threshold: float, variant: str, threshold_low: float | None,
    pairs_per_step: int, available: int, selected: int | None = None, r: Any = None,
) -> None:  # fmt: skip
    """SpecError for a regularizer that cannot run on `dataset`, naming the field to change.

    `available` is the number of training images of `dataset`. The selected pairs among the first `n_images` are
    `selected` if given, else counted from the unit vectors `r` (N, D; numpy or CPU tensor) if given, else known
    for a variant that does not filter (every pair), else not checked (the API does not count beyond its exact
    summaries; the trainer counts later).
    """
    validate_selection(threshold, variant, threshold_low)
    check_images(dataset, n_images, available)
    if selected is None and not variant_rule(variant).filters:
        selected = n_images * (n_images - 1) // 2
    if selected is None and r is not None:
        from sthlib.simstats import count_selected

        selected = count_selected(r, threshold, variant, threshold_low)
    if selected is not None:
        check_selected(selected, n_images=n_images, threshold=threshold, variant=variant,
                       threshold_low=threshold_low, dataset=dataset)  # fmt: skip
    check_pairs_per_step(pairs_per_step, selected, n_images=n_images, threshold=threshold, variant=variant,
                         threshold_low=threshold_low, dataset=dataset)  # fmt: skip
