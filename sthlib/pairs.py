"""The training pair source: a shuffled pass over the selected pairs, restarted when exhausted (PAPER.md 3).

The reference code lists every pair as a Python tuple (N=5000: 12.5M tuples, 16.5 s, 3.9 GB). Here a pass is a
keyed pseudo-random permutation of the pair indices 0..N(N-1)/2-1 (a Feistel network, evaluated on the fly), and
each pair's similarity and target are computed from the unit vectors r_i when it is drawn: O(N*D) memory.

For a variant that selects only part of the pairs, one blocked pass over S counts the selected pairs (so a
too-large k is caught up front). When the selected set is small (at most ``explicit_limit`` pairs) it is kept
as two int32 index arrays and shuffled per pass; otherwise the permuted stream skips unselected pairs. That scan
is a ``PairScan``: a second stream over the same pairs (``PairSampler.fork``) reuses it instead of rescanning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sthlib.preflight import check_pairs_per_step, check_selected
from sthlib.similarity import iter_upper_tiles, pair_index_to_ij
from sthlib.variants import pair_selected, pair_targets, validate_selection, variant_rule

_ROUNDS = 4
_M32 = 0xFFFFFFFF


@dataclass(frozen=True)
class PairBatch:
    i: Tensor  # (k,) int64, first image of each pair
    j: Tensor  # (k,) int64, second image, i < j
    targets: Tensor  # (k,) float, T_ij


def _feistel(x: Tensor, keys: list[int], half_bits: int) -> Tensor:
    """A bijection of [0, 2^(2*half_bits)): a balanced Feistel network with a multiply-xorshift round."""
    mask = (1 << half_bits) - 1
    left, right = x >> half_bits, x & mask
    for key in keys:
        y = ((right ^ key) * 0x5BD1E995) & _M32  # operands < 2^32 and < 2^31: no int64 overflow
        y = y ^ (y >> 15)
        y = ((y * 0x27D4EB2D) & _M32) ^ (y >> 13)
        left, right = right, left ^ (y & mask)
    return (left << half_bits) | right


def scan_selected(
    r: Tensor, threshold: float, variant: str, threshold_low: float | None, explicit_limit: int
) -> tuple[int, tuple[Tensor, Tensor] | None]:
    """Count the selected pairs i < j; also return them (int32 i, j) if there are at most explicit_limit.

    The pairs go into one buffer allocated up front: many small long-lived tensors between the per-tile
    temporaries would fragment the heap (measured: 1.3 GB of RSS for 1.4M pairs).
    """
    count = 0
    found = torch.empty((2, explicit_limit), dtype=torch.int32, device=r.device) if explicit_limit > 0 else None
    for i0, j0, s, upper in iter_upper_tiles(r):
        mask = pair_selected(s, threshold, variant, threshold_low)
        if upper is not None:
            mask &= upper
        if found is not None:
            rows, cols = mask.nonzero(as_tuple=True)
            if count + len(rows) > explicit_limit:
                found = None
            else:
                found[0, count : count + len(rows)] = rows + i0
                found[1, count : count + len(rows)] = cols + j0
            count += len(rows)
        else:
            count += int(mask.sum())
    if found is None or count == 0:
        return count, None
    return count, (found[0, :count].clone(), found[1, :count].clone())


@dataclass(frozen=True)
class PairScan:
    """What one variant selects among the pairs i < j of n unit vectors: how many, and, when there are at most
    ``explicit_limit`` of them, which (int32 i, j). A variant that does not filter needs no scan."""

    n: int
    threshold: float
    variant: str
    threshold_low: float | None
    count: int
    explicit: tuple[Tensor, Tensor] | None

    @classmethod
    def of(
        cls, r: Tensor, threshold: float, variant: str, threshold_low: float | None = None,
        explicit_limit: int = 1 << 22,
    ) -> PairScan:  # fmt: skip
        validate_selection(threshold, variant, threshold_low)
        n = r.shape[0]
        if not variant_rule(variant).filters:
            return cls(n, threshold, variant, threshold_low, n * (n - 1) // 2, None)
        count, explicit = scan_selected(r, threshold, variant, threshold_low, explicit_limit)
        return cls(n, threshold, variant, threshold_low, count, explicit)

    def matches(self, n: int, threshold: float, variant: str, threshold_low: float | None) -> bool:
        return (self.n, self.threshold, self.variant, self.threshold_low) == (n, threshold, variant, threshold_low)


class PairSampler:
    """Draws k pairs per step, uniformly from the selected set, as a shuffled pass restarted when exhausted.

    Deterministic for a seed; ``state_dict``/``load_state_dict`` resume the stream exactly. `scan` (the
    ``PairScan`` of these r and selection) skips the pass over S; without it the sampler scans.
    """

    def __init__(
        self,
        r: Tensor,
        threshold: float = 0.8,
        variant: str = "all",
        threshold_low: float | None = None,
        seed: int = 0,
        explicit_limit: int = 1 << 22,
        scan: PairScan | None = None,
    ) -> None:
        validate_selection(threshold, variant, threshold_low)
        if r.ndim != 2 or r.shape[0] < 2:
            raise ValueError(f"need unit vectors of at least 2 images, got shape {tuple(r.shape)}")
        self.r, self.n = r, r.shape[0]
        self.threshold, self.variant, self.threshold_low, self.seed = threshold, variant, threshold_low, seed
        self.total_pairs = self.n * (self.n - 1) // 2
        self._filtered = variant_rule(variant).filters
        if scan is None:
            scan = PairScan.of(r, threshold, variant, threshold_low, explicit_limit)
        elif not scan.matches(self.n, threshold, variant, threshold_low):
            raise ValueError(f"the pair scan is of {scan.n} images, {scan.variant!r} at threshold {scan.threshold} "
                             f"(threshold_low {scan.threshold_low}), not of this sampler's")  # fmt: skip
        self.scan = scan
        self.selected_count, self._explicit = scan.count, scan.explicit
        check_selected(self.selected_count, n_images=self.n, threshold=threshold, variant=variant,
                       threshold_low=threshold_low)  # fmt: skip
        self._half_bits = max(1, ((self.total_pairs - 1).bit_length() + 1) // 2)
        self.pass_length = self.selected_count if self._explicit is not None else 1 << (2 * self._half_bits)
        self.pass_index, self.cursor = 0, 0
        self._pass_cache: tuple[int, object] | None = None

    def fork(self, seed: int) -> PairSampler:
        """A sampler of the same pairs with its own stream from `seed` (from its start): it reuses this one's scan,
        and draws what ``PairSampler(r, ..., seed=seed)`` would."""
        return PairSampler(self.r, self.threshold, self.variant, self.threshold_low, seed=seed, scan=self.scan)

    def check_k(self, k: int) -> None:
        """SpecError (field reg.pairs_per_step) unless 1 <= k <= the selected pairs."""
        check_pairs_per_step(k, self.selected_count, n_images=self.n, threshold=self.threshold,
                             variant=self.variant, threshold_low=self.threshold_low)  # fmt: skip

    def _pass_key(self) -> object:
        """Per-pass shuffle: Feistel round keys (stream) or a permutation of the explicit list."""
        if self._pass_cache is None or self._pass_cache[0] != self.pass_index:
            seq = np.random.SeedSequence([self.seed, self.pass_index, 0x5717])
            if self._explicit is None:
                key: object = [int(k) for k in seq.generate_state(_ROUNDS, dtype=np.uint32)]
            else:
                g = torch.Generator().manual_seed(int(seq.generate_state(1, dtype=np.uint64)[0] >> 1))
                key = torch.randperm(self.selected_count, generator=g).to(self.r.device)
            self._pass_cache = (self.pass_index, key)
        return self._pass_cache[1]

    def _take(self, need: int) -> tuple[Tensor, Tensor]:
        """Up to `need` pairs from the current pass, advancing the cursor past exactly what was taken."""
        key = self._pass_key()
        if isinstance(key, Tensor):
            picked = key[self.cursor : self.cursor + need]
            self.cursor += len(picked)
            assert self._explicit is not None
            return self._explicit[0][picked].long(), self._explicit[1][picked].long()
        acceptance = self.selected_count / self.pass_length
        chunk = min(self.pass_length - self.cursor, int(need / acceptance * 1.25) + 256)
        pos = torch.arange(self.cursor, self.cursor + chunk, device=self.r.device)
        v = _feistel(pos, key, self._half_bits)  # type: ignore[arg-type]
        valid = v < self.total_pairs
        pos, v = pos[valid], v[valid]
        i, j = pair_index_to_ij(v, self.n)
        if self._filtered:
            s = (self.r[i] * self.r[j]).sum(dim=1)
            keep = pair_selected(s, self.threshold, self.variant, self.threshold_low)
            pos, i, j = pos[keep], i[keep], j[keep]
        if len(pos) >= need:
            self.cursor = int(pos[need - 1]) + 1
            return i[:need], j[:need]
        self.cursor += chunk
        return i, j

    def sample(self, k: int) -> PairBatch:
        self.check_k(k)
        return self._draw(k)

    def sample_steps(self, k: int, steps: int) -> PairBatch:
        """The pairs of `steps` successive ``sample(k)`` calls in one draw: step s's k pairs are [s*k, (s+1)*k).
        A trainer draws an epoch's pairs up front, so that the draws' host reads stay out of its steps."""
        self.check_k(k)
        return self._draw(k * steps)

    def _draw(self, k: int) -> PairBatch:
        parts_i: list[Tensor] = []
        parts_j: list[Tensor] = []
        got = 0
        while got < k:
            if self.cursor >= self.pass_length:
                self.pass_index, self.cursor = self.pass_index + 1, 0
            i, j = self._take(k - got)
            parts_i.append(i)
            parts_j.append(j)
            got += len(i)
        i, j = torch.cat(parts_i), torch.cat(parts_j)
        s = (self.r[i] * self.r[j]).sum(dim=1)
        return PairBatch(i=i, j=j, targets=pair_targets(s, self.threshold, self.variant))

    def state_dict(self) -> dict[str, int | float | str | None]:
        return {
            "n": self.n, "variant": self.variant, "threshold": self.threshold, "threshold_low": self.threshold_low,
            "seed": self.seed, "pass_index": self.pass_index, "cursor": self.cursor,
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, int | float | str | None]) -> None:
        mine = self.state_dict()
        for field in ("n", "variant", "threshold", "threshold_low", "seed"):
            if state[field] != mine[field]:
                raise ValueError(f"pair sampler state is for {field}={state[field]!r}, this one has {mine[field]!r}")
        self.pass_index, self.cursor = int(state["pass_index"]), int(state["cursor"])  # type: ignore[arg-type]
