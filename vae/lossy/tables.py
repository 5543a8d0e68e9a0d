"""Integer probability tables: derived once from a trained codec, stored beside its weights.

The entropy coder must see the same probabilities when decoding as when
encoding, on any machine. So the codec never hands it a float computed at
run time: every distribution it codes with is an integer frequency table
(the differences of an integer CDF), derived once when a checkpoint is
exported and stored in ``codec_tables.npz``, whose SHA-256 the manifest and
every compressed file record.

* Hyper-latents z: one table per channel, from the factorized density, over
  the integers ``lower .. lower + size - 1`` (the smallest interval holding
  all but :data:`TAIL_MASS` of the channel's mass, within ±:data:`Z_RADIUS`).
* Latents y: one table per level of the :class:`~vae.lossy.entropy_models.ScaleLadder`,
  the Gaussian of that scale convolved with the uniform, over
  ``-K .. K`` with ``K = max(GAUSSIAN_MIN_RADIUS, ceil(GAUSSIAN_TAIL_SIGMAS·σ))``: even the
  narrowest table codes any latent within ±64, at 16 bits for a far outlier
  (what training charged it) and about 0.003 bits more for each other latent.

**Clipped support.** A latent outside its table's interval is clipped to the
nearest end before coding, on the encoder's side; the encoder reconstructs
from the clipped values too, so the decoder's output still equals the
encoder's. (Clipping is a distortion, not an error, in a lossy codec; with
these supports it almost never happens, and :class:`~vae.lossy.coding.Encoded`
counts it.)

Every table holds ``2**PRECISION_BITS`` counts, at least 1 per symbol.

The file also keeps the decoder's networks in integer form (:mod:`vae.lossy.exact`),
so the whole decoding path depends only on integers.

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np

from vae.lossy import exact
from vae.lossy.entropy_models import TABLE_PRECISION_BITS, ScaleLadder

PRECISION_BITS = TABLE_PRECISION_BITS
TAIL_MASS = 1e-6
Z_RADIUS = 128
GAUSSIAN_TAIL_SIGMAS = 6.5
GAUSSIAN_MIN_RADIUS = 64
TABLES_FILE = "codec_tables.npz"


def integer_counts(probabilities: np.ndarray, precision_bits: int = PRECISION_BITS) -> np.ndarray:
    """Turn probabilities ``(n,)`` into int32 counts ``>= 1`` summing to ``2**precision_bits``.

    Each symbol gets 1 plus its share of the rest (floor), and what rounding
    left over goes to the most probable symbol. Introduced in chapter 10.
    """
    p = np.asarray(probabilities, np.float64)
    total = 1 << precision_bits
    if p.ndim != 1 or len(p) < 1 or len(p) > total // 2 or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"expected a finite non-negative probability vector of 1..{total // 2} entries")
    p = p / p.sum()
    counts = 1 + np.floor(p * (total - len(p))).astype(np.int64)
    counts[np.argmax(p)] += total - counts.sum()
    return counts.astype(np.int32)


@dataclasses.dataclass
class Table:
    """Many integer tables in one flat array.

    Attributes:
        counts: int32, all tables one after the other.
        offsets: int32 ``(tables + 1,)``: table ``t`` is ``counts[offsets[t]:offsets[t+1]]``.
        lower: int32 ``(tables,)``: the integer that symbol 0 of table ``t`` stands for.

    Introduced in chapter 10.
    """

    counts: np.ndarray
    offsets: np.ndarray
    lower: np.ndarray

    @classmethod
    def from_list(cls, tables: list[np.ndarray], lower: list[int]) -> "Table":
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in tables])]).astype(np.int32)
        return cls(np.concatenate(tables).astype(np.int32), offsets, np.asarray(lower, np.int32))

    def __len__(self) -> int:
        return len(self.lower)

    def counts_of(self, t: int) -> np.ndarray:
        return self.counts[self.offsets[t]:self.offsets[t + 1]]

    def upper(self) -> np.ndarray:
        """int32 ``(tables,)``: the largest integer each table can code."""
        return (self.lower + np.diff(self.offsets) - 1).astype(np.int32)

    def bits(self, t: int, values: np.ndarray) -> np.ndarray:
        """Information content in bits of integer ``values`` (inside the support) under table ``t``."""
        counts = self.counts_of(t).astype(np.float64)
        return PRECISION_BITS - np.log2(counts[np.asarray(values) - self.lower[t]])


def _support(pmf: np.ndarray, tail_mass: float) -> tuple[int, int]:
    """Indices ``[first, last]`` of the smallest central interval leaving at most ``tail_mass`` outside."""
    cumulative = np.cumsum(pmf) / pmf.sum()
    first = int(np.searchsorted(cumulative, tail_mass / 2, side="left"))
    last = int(np.searchsorted(cumulative, 1 - tail_mass / 2, side="left"))
    return first, min(last, len(pmf) - 1)


def factorized_tables(density, radius: int = Z_RADIUS, tail_mass: float = TAIL_MASS) -> Table:
    """One integer table per channel of a :class:`~vae.lossy.entropy_models.FactorizedDensity`. Introduced in chapter 10."""
    pmf = density.integer_pmf(radius)
    tables, lower = [], []
    for channel in pmf:
        first, last = _support(channel, tail_mass)
        tables.append(integer_counts(channel[first:last + 1]))
        lower.append(first - radius)
    return Table.from_list(tables, lower)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def gaussian_tables(ladder: ScaleLadder) -> Table:
    """One integer table per ladder level: N(0, σ²) convolved with U(-½, ½), over ``-K..K``. Introduced in chapter 10."""
    tables, lower = [], []
    for log_scale in ladder.log_scales:
        scale = math.exp(log_scale)
        radius = max(GAUSSIAN_MIN_RADIUS, math.ceil(GAUSSIAN_TAIL_SIGMAS * scale))
        pmf = np.array([_normal_cdf((k + 0.5) / scale) - _normal_cdf((k - 0.5) / scale)
                        for k in range(-radius, radius + 1)])
        tables.append(integer_counts(pmf))
        lower.append(-radius)
    return Table.from_list(tables, lower)


@dataclasses.dataclass
class CodecTables:
    """Everything the decoder needs, all integers (plus the ladder's float64 boundaries).

    Attributes:
        z: the hyper-latents' tables, one per channel.
        y: the latents' tables, one per ladder level.
        boundaries: float64 ``(levels - 1,)`` log σ boundaries of the ladder.
        hyper_synthesis, synthesis: the decoder networks as quantized ops (:func:`vae.lossy.exact.quantize`).
        meta: shapes and constants (JSON-able).

    Introduced in chapter 10.
    """

    z: Table
    y: Table
    boundaries: np.ndarray
    hyper_synthesis: list[dict]
    synthesis: list[dict]
    meta: dict

    def scale_indices(self, log_scale: np.ndarray) -> np.ndarray:
        """Ladder level of each log σ, int32, same shape."""
        return np.searchsorted(self.boundaries, log_scale, side="right").astype(np.int32)

    # -- storage -----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The ``.npz`` bytes (no pickle): tables, boundaries, integer weights and a JSON description."""
        arrays = {"z_counts": self.z.counts, "z_offsets": self.z.offsets, "z_lower": self.z.lower,
                  "y_counts": self.y.counts, "y_offsets": self.y.offsets, "y_lower": self.y.lower,
                  "boundaries": np.asarray(self.boundaries, np.float64)}
        networks = {}
        for name in ("hyper_synthesis", "synthesis"):
            described = []
            for i, op in enumerate(getattr(self, name)):
                if op["op"] == "conv":
                    arrays[f"{name}_{i}_kernel"] = op["kernel"].astype(np.int64)
                    arrays[f"{name}_{i}_bias"] = op["bias"].astype(np.int64)
                    described.append({"op": "conv", "relu": bool(op["relu"])})
                else:
                    described.append({key: value for key, value in op.items()})
            networks[name] = described
        description = {"meta": self.meta, "networks": networks}
        arrays["description"] = np.array(json.dumps(description, sort_keys=True))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, content: bytes) -> "CodecTables":
        with np.load(io.BytesIO(content), allow_pickle=False) as store:
            arrays = {key: store[key] for key in store.files}
        description = json.loads(str(arrays["description"]))
        networks = {}
        for name, described in description["networks"].items():
            ops = []
            for i, op in enumerate(described):
                if op["op"] == "conv":
                    op = {**op, "kernel": arrays[f"{name}_{i}_kernel"], "bias": arrays[f"{name}_{i}_bias"]}
                ops.append(op)
            networks[name] = ops
        return cls(z=Table(arrays["z_counts"], arrays["z_offsets"], arrays["z_lower"]),
                   y=Table(arrays["y_counts"], arrays["y_offsets"], arrays["y_lower"]),
                   boundaries=arrays["boundaries"], hyper_synthesis=networks["hyper_synthesis"],
                   synthesis=networks["synthesis"], meta=description["meta"])


def derive_tables(model) -> CodecTables:
    """Derive the integer tables and networks of a trained :class:`~vae.lossy.codec_model.LearnedCodec`.

    Deterministic given the weights; run once at export. Introduced in chapter 10.
    """
    ladder = model.ladder
    meta = {"precision_bits": PRECISION_BITS, "weight_bits": exact.WEIGHT_BITS,
            "activation_bits": exact.ACTIVATION_BITS, "channels": model.channels,
            "hyper_channels": model.hyper_channels, "ladder": dataclasses.asdict(ladder),
            "tail_mass": TAIL_MASS, "gaussian_tail_sigmas": GAUSSIAN_TAIL_SIGMAS,
            "gaussian_min_radius": GAUSSIAN_MIN_RADIUS}
    return CodecTables(z=factorized_tables(model.hyper_density), y=gaussian_tables(ladder),
                       boundaries=ladder.boundaries, hyper_synthesis=exact.quantize(model.hyper_synthesis),
                       synthesis=exact.quantize(model.synthesis), meta=meta)
