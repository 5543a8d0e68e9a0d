"""The VQ-VAE's decoding path in integers: decoder, codebook, prior and the table that turns logits into counts.

Entropy decoding needs, at every position of the index grid, the very
probabilities the encoder used. The decoder computes them by re-running
the prior on the indices it has already decoded, so they must not depend
on floating-point summation order or thread count. Everything here is
therefore fixed when a checkpoint is exported and stored in
``vq_tables.npz`` (whose SHA-256 the manifest and every file record):

* the decoder network and the prior's masked convolutions in integer form
  (:mod:`vae.lossy.exact`), the codebook and the prior's index embedding
  on the activation grid (units of ``2**-ACTIVATION_BITS``);
* an integer exponential table: a position's logits ``l`` (exact multiples
  of ``2**-ACTIVATION_BITS``) become integer weights
  ``w_k = EXP[min((max l − l_k) >> LOGIT_SHIFT, len(EXP) − 1)]`` with
  ``EXP[i] = max(1, round(2**EXP_BITS · exp(−i / 2**(ACTIVATION_BITS − LOGIT_SHIFT))))``,
  i.e. the softmax on a grid of 1/64 nat, computed with integers only.
  ``constriction`` receives these integers (exact as floats) and its
  deterministic quantization does the rest.

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np

from vae.lossy import exact
from vae.vq.prior import exact_logits, exact_ops

LOGIT_SHIFT = 6          # 2**-(12 - 6) = 1/64 nat per step of the exponential table
EXP_BITS = 16
EXP_RANGE_NATS = 12      # beyond 12 nats below the largest logit every symbol gets weight 1
_STORED_LIMIT = 2 ** 31 - 1


def exponential_table() -> np.ndarray:
    """int64 ``EXP`` (see the module): ``2**EXP_BITS·exp(−i/64)`` rounded, at least 1. Introduced in chapter 10."""
    steps_per_nat = 2 ** (exact.ACTIVATION_BITS - LOGIT_SHIFT)
    i = np.arange(EXP_RANGE_NATS * steps_per_nat + 1, dtype=np.float64)
    return np.maximum(1, np.rint(2.0 ** EXP_BITS * np.exp(-i / steps_per_nat))).astype(np.int64)


@dataclasses.dataclass
class VQTables:
    """The integer decoding path of a VQ-VAE (see the module).

    Attributes:
        decoder: conv/up2 ops of the decoder (:func:`vae.lossy.exact.quantize`).
        codebook: int64 ``(K, D)`` on the activation grid.
        prior_embedding: int64 ``(K, E)`` on the activation grid.
        prior: conv ops of the prior, masks applied.
        exp_table: int64 ``(L,)``, the exponential table.
        meta: ``codebook_size``, ``code_dim``, ``grid``, ``logit_shift``, ``exp_bits``.

    Introduced in chapter 10.
    """

    decoder: list
    codebook: np.ndarray
    prior_embedding: np.ndarray
    prior: list
    exp_table: np.ndarray
    meta: dict

    # -- what the codec needs -------------------------------------------------------------
    def reconstruct(self, indices) -> np.ndarray:
        """float32 images ``(n, 28, 28, 1)`` in [0, 1] of index grids ``(n, 7, 7)``, exactly."""
        vectors = self.codebook[np.asarray(indices, np.int64)].astype(np.float64) / 2.0 ** exact.ACTIVATION_BITS
        return np.clip(exact.run(self.decoder, vectors), 0.0, 1.0).astype(np.float32)

    def logits(self, indices) -> np.ndarray:
        """int64 logits ``(n, rows, cols, K)`` in units of ``2**-ACTIVATION_BITS`` of (partial) index grids."""
        values = exact_logits(self.prior_embedding, self.prior, indices)
        return np.rint(values * 2.0 ** exact.ACTIVATION_BITS).astype(np.int64)

    def weights(self, logits: np.ndarray) -> np.ndarray:
        """Integer weights ``(..., K)`` (int64, each >= 1) of integer logits ``(..., K)``: the quantized softmax."""
        steps = (logits.max(axis=-1, keepdims=True) - logits) >> LOGIT_SHIFT
        return self.exp_table[np.minimum(steps, len(self.exp_table) - 1)]

    # -- storage --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The ``.npz`` bytes (no pickle), integer arrays stored as int32 (checked to fit)."""
        arrays = {"codebook": self.codebook, "prior_embedding": self.prior_embedding, "exp_table": self.exp_table}
        networks = {}
        for name in ("decoder", "prior"):
            described = []
            for i, op in enumerate(getattr(self, name)):
                if op["op"] == "conv":
                    arrays[f"{name}_{i}_kernel"], arrays[f"{name}_{i}_bias"] = op["kernel"], op["bias"]
                    described.append({"op": "conv", "relu": bool(op["relu"])})
                else:
                    described.append(dict(op))
            networks[name] = described
        for key, array in arrays.items():
            if np.abs(array).max(initial=0) > _STORED_LIMIT:
                raise ValueError(f"{key} holds integers too large for the int32 tables")
            arrays[key] = np.asarray(array, np.int32)
        arrays["description"] = np.array(json.dumps({"meta": self.meta, "networks": networks}, sort_keys=True))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, content: bytes) -> "VQTables":
        with np.load(io.BytesIO(content), allow_pickle=False) as store:
            arrays = {key: store[key] for key in store.files}
        description = json.loads(str(arrays.pop("description")))
        networks = {}
        for name, described in description["networks"].items():
            ops = []
            for i, op in enumerate(described):
                if op["op"] == "conv":
                    op = {**op, "kernel": arrays[f"{name}_{i}_kernel"].astype(np.int64),
                          "bias": arrays[f"{name}_{i}_bias"].astype(np.int64)}
                ops.append(op)
            networks[name] = ops
        return cls(decoder=networks["decoder"], codebook=arrays["codebook"].astype(np.int64),
                   prior_embedding=arrays["prior_embedding"].astype(np.int64), prior=networks["prior"],
                   exp_table=arrays["exp_table"].astype(np.int64), meta=description["meta"])


def derive_tables(model) -> VQTables:
    """The integer tables of a trained :class:`~vae.vq.model.VQVAE`. Introduced in chapter 10."""
    codebook = np.asarray(model.codebook.numpy(), np.float64)
    codebook = np.rint(np.clip(codebook, -exact.ACTIVATION_LIMIT, exact.ACTIVATION_LIMIT)
                       * 2.0 ** exact.ACTIVATION_BITS).astype(np.int64)
    embedding, prior = exact_ops(model.prior)
    meta = {"codebook_size": model.codebook_size, "code_dim": model.code_dim, "grid": 7,
            "logit_shift": LOGIT_SHIFT, "exp_bits": EXP_BITS, "activation_bits": exact.ACTIVATION_BITS,
            "weight_bits": exact.WEIGHT_BITS}
    return VQTables(decoder=exact.quantize(model.decoder), codebook=codebook, prior_embedding=embedding,
                    prior=prior, exp_table=exponential_table(), meta=meta)
