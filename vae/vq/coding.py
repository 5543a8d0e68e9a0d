"""The VQ-VAE as a lossy codec: index grids coded under the PixelCNN prior with ``constriction``.

:class:`VQCodec` turns grey digits into the bytes of a lossy file (the
container of :mod:`vae.lossy.container`: magic, checked JSON header with
``"lossy": true``, the model's name, ``"architecture": "vqvae"`` and the
checkpoint's hashes, CRC, body) and back:

1. the encoder (float, encoder side only) maps each digit to its 7x7 grid
   of nearest codebook entries;
2. the exact prior (:mod:`vae.vq.tables`) gives every position integer
   logits from the indices before it, and the integer exponential table
   turns them into integer weights: one K-way categorical per position;
3. a range coder (``constriction.stream.queue``, ``Categorical`` with
   ``perfect=False``) codes the indices position by position in raster
   order, all digits' indices at a position together;
4. the reconstruction is the exact decoder's output on the codebook
   vectors, clipped to [0, 1].

The decoder decodes row by row, re-running the exact prior on the rows
decoded so far; its weights equal the encoder's (integers throughout), so
it recovers the indices exactly and its reconstruction equals the
encoder's bit for bit; the header's SHA-256 of the reconstruction checks it.

Introduced in chapter 10.
"""

from __future__ import annotations

import time
from pathlib import Path

import constriction
import numpy as np

from vae.compression.container import CompressionError
from vae.lossy import _decoding_checks, container
from vae.lossy.coding import Decompressed, Encoded, grey_images, rates
from vae.vq.model import GRID, codebook_usage

ARCHITECTURE = "vqvae"
HEADER_FIELDS = frozenset({"model", "architecture", "weights_sha256", "tables_sha256", "count", "image_shape",
                           "grid", "codebook_size", "payload_words", "reconstruction_sha256"})
PIXELS = 28 * 28


class VQCodec:
    """Compress grey 28x28 digits with a trained VQ-VAE and its prior.

    Args:
        model: the :class:`~vae.vq.model.VQVAE` (only its encoder runs here; may
            be None for a decoder, which needs only the tables).
        tables: its :class:`~vae.vq.tables.VQTables`.
        name: the model's name, written into the file.
        weights_sha256, tables_sha256: the checkpoint's hashes, written and checked.
        batch_size: images per batch for the encoder.

    Introduced in chapter 10.
    """

    lmbda = None  # no rate–distortion weight: the rate is set by the grid and the codebook

    def __init__(self, model, tables, name: str, weights_sha256: str, tables_sha256: str, batch_size: int = 500):
        self.model, self.tables, self.name = model, tables, str(name)
        self.weights_sha256, self.tables_sha256 = str(weights_sha256), str(tables_sha256)
        self.batch_size = int(batch_size)
        self.codebook_size = int(tables.meta["codebook_size"])
        self._categorical = constriction.stream.model.Categorical(perfect=False)

    @classmethod
    def from_checkpoint(cls, directory, name: str | None = None, **options) -> "VQCodec":
        """The codec of a checkpoint folder written by :func:`vae.vq.storage.save_vqvae`."""
        from vae.vq import storage

        model, tables, manifest = storage.load_vqvae(directory)
        return cls(model, tables, name or Path(directory).name, manifest["weights_sha256"],
                   manifest["tables_sha256"], **options)

    @classmethod
    def pretrained(cls, name: str, **options) -> "VQCodec":
        """The codec of a shipped checkpoint, ``vae/checkpoints/vq/NAME`` (:func:`vae.vq.storage.shipped_vqvaes`)."""
        from vae.vq import storage

        return cls.from_checkpoint(storage.shipped_vqvae_dir(name), name=name, **options)

    # -- the pieces ----------------------------------------------------------------------
    def indices(self, images) -> np.ndarray:
        """int64 index grids ``(n, 7, 7)`` of grey images (the encoder's nearest codebook entries)."""
        if self.model is None:
            raise ValueError("this codec has no model: it can decompress but not compress")
        images = grey_images(images)
        return np.concatenate([self.model.indices(images[start:start + self.batch_size]).numpy()
                               for start in range(0, len(images), self.batch_size)]).astype(np.int64)

    def reconstruct(self, indices) -> np.ndarray:
        """float32 images ``(n, 28, 28, 1)`` in [0, 1] of index grids, exactly (the decoder's output)."""
        return self.tables.reconstruct(indices)

    def information(self, indices) -> np.ndarray:
        """Bits of each index under the integer weights, float64 ``(n, 7, 7)`` (what the coder spends, nearly)."""
        weights = self.tables.weights(self.tables.logits(indices)).astype(np.float64)
        chosen = np.take_along_axis(weights, np.asarray(indices, np.int64)[..., None], axis=-1)[..., 0]
        return np.log2(weights.sum(axis=-1)) - np.log2(chosen)

    # -- compression ---------------------------------------------------------------------
    def encode_indices(self, indices, names: list[str] | None = None) -> Encoded:
        """Code index grids ``(count, 7, 7)`` into a file; return it with the reconstruction it decodes to."""
        indices = np.asarray(indices, np.int64)
        if indices.ndim != 3 or indices.shape[1:] != (GRID, GRID) or len(indices) == 0:
            raise ValueError(f"expected index grids shaped (count, {GRID}, {GRID}), got {indices.shape}")
        if indices.min() < 0 or indices.max() >= self.codebook_size:
            raise ValueError(f"indices must lie in 0..{self.codebook_size - 1}")
        if names is not None and (len(names) != len(indices) or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"names must be {len(indices)} strings, one per image")
        weights = self.tables.weights(self.tables.logits(indices))            # (n, 7, 7, K)
        order = (1, 2, 0)                                                     # position-major, then digit
        symbols = indices.transpose(order).reshape(-1).astype(np.int32)
        probabilities = weights.transpose(1, 2, 0, 3).reshape(-1, self.codebook_size).astype(np.float64)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols, self._categorical, probabilities)
        words = encoder.get_compressed().astype("<u4")
        reconstruction = self.reconstruct(indices)
        header = {"model": self.name, "architecture": ARCHITECTURE, "weights_sha256": self.weights_sha256,
                  "tables_sha256": self.tables_sha256, "count": len(indices), "image_shape": [28, 28],
                  "grid": [GRID, GRID], "codebook_size": self.codebook_size, "payload_words": len(words),
                  "reconstruction_sha256": _decoding_checks.reconstruction_sha256(reconstruction),
                  **({"names": list(names)} if names is not None else {})}
        bits = self.information(indices).reshape(len(indices), -1).sum(axis=1)
        return Encoded(container.pack(header, words.tobytes()), reconstruction, bits, 0)

    def encode(self, images, names: list[str] | None = None) -> Encoded:
        """Compress grey images ``(count, 28, 28[, 1])`` (float in [0, 1] or uint8); see :class:`~vae.lossy.Encoded`."""
        return self.encode_indices(self.indices(images), names)

    def compress(self, images, names: list[str] | None = None) -> bytes:
        """The bytes of a file holding ``images`` (see :meth:`encode`)."""
        return self.encode(images, names).blob

    # -- decompression -------------------------------------------------------------------
    def decode_indices(self, blob: bytes) -> tuple[np.ndarray, dict]:
        """The index grids ``(count, 7, 7)`` int64 of a file, and its header (checked)."""
        header, body = container.unpack(blob)
        if header.get("architecture") != ARCHITECTURE:
            raise CompressionError(f"this file was compressed with lossy model {header.get('model')!r}, which is "
                                   f"not a VQ-VAE: decompress it with that codec")
        missing = sorted(HEADER_FIELDS - set(header))
        if missing:
            raise CompressionError(f"damaged file: the header lacks {', '.join(missing)}")
        self._check_same_model(header)
        count = header["count"]
        if 4 * header["payload_words"] != len(body) or not isinstance(count, int) or count < 1:
            raise CompressionError("damaged file: the header's sizes do not match the body")
        words = np.frombuffer(body, dtype="<u4").astype(np.uint32)
        indices = np.zeros((count, GRID, GRID), np.int64)
        try:
            decoder = constriction.stream.queue.RangeDecoder(words)
            for row in range(GRID):
                for col in range(GRID):
                    logits = self.tables.logits(indices[:, :row + 1])[:, row, col]
                    probabilities = self.tables.weights(logits).astype(np.float64)
                    indices[:, row, col] = decoder.decode(self._categorical, probabilities)
        except (AssertionError, ValueError, RuntimeError, IndexError) as error:
            raise CompressionError(f"the file did not decode ({type(error).__name__}: {error})") from None
        return indices, header

    def decompress(self, blob: bytes) -> Decompressed:
        """The images of a file made by :meth:`compress` with this checkpoint, exactly as the encoder saw them.

        Raises:
            CompressionError: a damaged or truncated file, a lossless file, a
                file made with another model or checkpoint, or one that did not
                decode to the encoder's reconstruction.
        """
        indices, header = self.decode_indices(blob)
        images = self.reconstruct(indices)
        _decoding_checks.check_reconstruction(images, header, self.name)
        return Decompressed(images=images, header=header)

    def _check_same_model(self, header: dict) -> None:
        _decoding_checks.check_same_model(header, self.name, self.weights_sha256, self.tables_sha256)
        if header["grid"] != [GRID, GRID] or header["codebook_size"] != self.codebook_size \
                or header["image_shape"] != [28, 28]:
            raise CompressionError(f"the file's grid {header['grid']} and codebook size {header['codebook_size']} "
                                   f"are not this model's ([{GRID}, {GRID}], {self.codebook_size})")

    # -- measurement ---------------------------------------------------------------------
    def measure(self, images) -> dict:
        """Code ``images`` into one real file and measure it (a point of the rate–distortion plot).

        Returns:
            ``{"codec", "lmbda": None, "digits", "bytes", "bpp" (whole file), "payload_bpp", "header_bytes",
            "clipped": 0, "psnr", "mse", "psnr_of_mean_mse", "ssim", "prior_bits_per_index" (coded, from the
            integer weights), "prior_float_bits_per_index" (the float prior's NLL), "codebook" (usage of the
            digits' indices: used, fraction, perplexity), "seconds"}``.
        """
        from vae.lossy.quality import distortion

        start = time.perf_counter()
        images = grey_images(images)
        indices = self.indices(images)
        encoded = self.encode_indices(indices)
        rate = rates(encoded.blob)
        float_bits = float(np.mean(self.model.prior_bits(indices.astype(np.int32)).numpy())) / GRID ** 2
        return {"codec": self.name, "lmbda": None, "digits": len(images), "bytes": len(encoded.blob),
                "bpp": rate["total"], "payload_bpp": rate["payload"], "header_bytes": rate["header_bytes"],
                "clipped": 0, **distortion(images, encoded.reconstruction),
                "prior_bits_per_index": float(encoded.bits.mean() / GRID ** 2),
                "prior_float_bits_per_index": float_bits,
                "codebook": codebook_usage(indices, self.codebook_size),
                "seconds": round(time.perf_counter() - start, 2)}
