"""Entropy coding of the quantized latents with ``constriction``, and the lossy codec built on it.

:class:`LossyCodec` turns grey digits into the bytes of a file
(:mod:`vae.lossy.container`) and back:

1. the analysis transforms (float32, encoder only) give y and z; they are
   rounded to integers and z is clipped to its tables' support;
2. the hyper-synthesis runs in exact integer arithmetic
   (:mod:`vae.lossy.exact`) on the integer z, giving log σ for each y and,
   through the fixed ladder boundaries, the index of its integer table;
   each y is clipped to that table's support;
3. a range coder (``constriction.stream.queue``) codes z channel by channel
   (each channel's table; a channel whose table has one symbol is not
   coded at all), then y level by level (all latents of level 0 in
   raster order, then level 1, ...), each with an exact integer table
   handed to ``constriction`` as a ``Categorical`` (``perfect=False``);
4. the reconstruction is the exact synthesis of the clipped y, clipped to [0, 1].

The decoder repeats 2 to 4 from the decoded z: every number on its path is
an integer or an exact dyadic float, so its reconstruction equals the
encoder's bit for bit, on any machine and thread count; the header's
SHA-256 of the encoder's reconstruction checks it.

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from vae.compression.container import CompressionError
from vae.lossy import _decoding_checks, container, exact, transforms
from vae.lossy.tables import PRECISION_BITS, CodecTables, Table

HEADER_FIELDS = frozenset({"model", "weights_sha256", "tables_sha256", "lmbda", "count", "image_shape",
                           "latent_shape", "hyper_shape", "payload_words", "reconstruction_sha256"})
PIXELS = 28 * 28


@dataclasses.dataclass(frozen=True)
class Encoded:
    """What :meth:`LossyCodec.encode` returns.

    Attributes:
        blob: the file's bytes.
        reconstruction: float32 ``(count, 28, 28, 1)`` in [0, 1], what decoding gives.
        bits: float64 ``(count,)`` information content of each image under the tables (z and y), in bits.
        clipped: how many latents were clipped to their table's support.

    Introduced in chapter 10.
    """

    blob: bytes
    reconstruction: np.ndarray
    bits: np.ndarray
    clipped: int


@dataclasses.dataclass(frozen=True)
class Decompressed:
    """What :meth:`LossyCodec.decompress` returns: ``images`` float32 ``(count, 28, 28, 1)`` and the ``header``.

    Introduced in chapter 10.
    """

    images: np.ndarray
    header: dict


def grey_images(images) -> np.ndarray:
    """Check and convert grey images to float32 ``(count, 28, 28, 1)`` in [0, 1].

    Accepts ``(count, 28, 28)`` or ``(count, 28, 28, 1)``; floats in [0, 1]
    or uint8 grey levels 0..255 (divided by 255).

    Raises:
        ValueError: another shape, no images, or values out of range.

    Introduced in chapter 10.
    """
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[1:] != (28, 28, 1):
        raise ValueError(f"expected grey images shaped (count, 28, 28) or (count, 28, 28, 1), "
                         f"got shape {np.shape(images)}")
    if len(array) == 0:
        raise ValueError("expected at least one image, got none")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected float grey levels in [0, 1] or uint8 0..255, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError("expected float grey levels in [0, 1]; got values outside it")
    return array.astype(np.float32)


class LossyCodec:
    """Compress grey 28x28 digits with a trained :class:`~vae.lossy.codec_model.LearnedCodec`.

    Args:
        model: the trained model (only its analysis transforms run here; may be
            None for a decoder, which needs only the tables).
        tables: its :class:`~vae.lossy.tables.CodecTables`.
        name: the model's name, written into the file.
        weights_sha256, tables_sha256: the checkpoint's hashes, written and checked.
        lmbda: the model's λ, written into the header.
        batch_size: images per batch for the analysis transforms.

    Introduced in chapter 10.
    """

    def __init__(self, model, tables: CodecTables, name: str, weights_sha256: str, tables_sha256: str,
                 lmbda: float, batch_size: int = 500):
        self.model, self.tables, self.name = model, tables, str(name)
        self.weights_sha256, self.tables_sha256, self.lmbda = str(weights_sha256), str(tables_sha256), float(lmbda)
        self.batch_size = int(batch_size)
        self._models: dict = {}

    @classmethod
    def from_checkpoint(cls, directory, name: str | None = None, **options) -> "LossyCodec":
        """The codec of a checkpoint folder written by :func:`vae.lossy.storage.save_codec`."""
        from pathlib import Path

        from vae.lossy import storage

        model, tables, manifest = storage.load_codec(directory)
        return cls(model, tables, name or Path(directory).name, manifest["weights_sha256"],
                   manifest["tables_sha256"], model.lmbda, **options)

    @classmethod
    def pretrained(cls, name: str, **options) -> "LossyCodec":
        """The codec of a shipped checkpoint, ``vae/checkpoints/lossy/NAME`` (:func:`vae.lossy.storage.shipped_codecs`)."""
        from vae.lossy import storage

        return cls.from_checkpoint(storage.shipped_codec_dir(name), name=name, **options)

    # -- the pieces --------------------------------------------------------------------
    def _categorical(self, which: str, t: int):
        key = (which, t)
        if key not in self._models:
            counts = getattr(self.tables, which).counts_of(t).astype(np.float64)
            self._models[key] = constriction.stream.model.Categorical(counts, perfect=False)
        return self._models[key]

    def _levels(self, z_hat: np.ndarray) -> np.ndarray:
        """int32 ladder index ``(n, 7, 7, C)`` of every y, from integer hyper-latents ``(n, 4, 4, Cz)``."""
        return self.tables.scale_indices(exact.run(self.tables.hyper_synthesis, z_hat))

    def reconstruct(self, y_hat: np.ndarray) -> np.ndarray:
        """float32 images ``(n, 28, 28, 1)`` in [0, 1] from integer latents ``(n, 7, 7, C)``, exactly."""
        return np.clip(exact.run(self.tables.synthesis, y_hat), 0.0, 1.0).astype(np.float32)

    def quantized_latents(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """``(z_hat, y_hat, levels, clipped)``: integer latents inside their tables' supports.

        ``z_hat`` int64 ``(n, 4, 4, Cz)``, ``y_hat`` int64 ``(n, 7, 7, C)``, ``levels`` int32 like ``y_hat``.
        """
        if self.model is None:
            raise ValueError("this codec has no model: it can decompress but not compress")
        ys, zs = [], []
        for start in range(0, len(images), self.batch_size):
            y = self.model.analysis(images[start:start + self.batch_size])
            ys.append(np.rint(y.numpy()).astype(np.int64))
            zs.append(np.rint(self.model.hyper_analyse(y).numpy()).astype(np.int64))
        y_hat, z_hat = np.concatenate(ys), np.concatenate(zs)
        z_clipped = np.clip(z_hat, self.tables.z.lower, self.tables.z.upper())
        levels = self._levels(z_clipped)
        y_clipped = np.clip(y_hat, self.tables.y.lower[levels], self.tables.y.upper()[levels])
        clipped = int(np.sum(z_clipped != z_hat) + np.sum(y_clipped != y_hat))
        return z_clipped, y_clipped, levels, clipped

    def _information(self, z_hat: np.ndarray, y_hat: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Bits per image under the tables, ``(n,)`` float64."""
        bits = np.zeros(len(z_hat))
        for c in range(z_hat.shape[-1]):
            bits += self.tables.z.bits(c, z_hat[..., c]).reshape(len(z_hat), -1).sum(axis=1)
        counts = self.tables.y.counts.astype(np.float64)
        symbols = self.tables.y.offsets[levels] + (y_hat - self.tables.y.lower[levels])
        bits += (PRECISION_BITS - np.log2(counts[symbols])).reshape(len(y_hat), -1).sum(axis=1)
        return bits

    # -- compression --------------------------------------------------------------------
    def encode(self, images, names: list[str] | None = None) -> Encoded:
        """Compress grey images; return the file's bytes with the reconstruction it decodes to.

        Args:
            images: grey digits ``(count, 28, 28[, 1])``, float in [0, 1] or uint8.
            names: optional file names of the digits (e.g. the PNGs they came
                from), kept in the header so that decompression writes them back.
        """
        images = grey_images(images)
        if names is not None and (len(names) != len(images) or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"names must be {len(images)} strings, one per image")
        z_hat, y_hat, levels, clipped = self.quantized_latents(images)
        encoder = constriction.stream.queue.RangeEncoder()
        for c in range(z_hat.shape[-1]):
            if len(self.tables.z.counts_of(c)) > 1:  # a one-symbol table (an unused channel) costs nothing
                encoder.encode((z_hat[..., c].ravel() - self.tables.z.lower[c]).astype(np.int32),
                               self._categorical("z", c))
        for t in np.unique(levels):
            chosen = y_hat[levels == t]
            encoder.encode((chosen - self.tables.y.lower[t]).astype(np.int32), self._categorical("y", int(t)))
        words = encoder.get_compressed().astype("<u4")
        reconstruction = self.reconstruct(y_hat)
        header = {"model": self.name, "weights_sha256": self.weights_sha256, "tables_sha256": self.tables_sha256,
                  "lmbda": self.lmbda, "count": len(images), "image_shape": [28, 28],
                  "latent_shape": list(y_hat.shape[1:]), "hyper_shape": list(z_hat.shape[1:]),
                  "payload_words": len(words), "reconstruction_sha256": _decoding_checks.reconstruction_sha256(reconstruction),
                  **({"names": list(names)} if names is not None else {})}
        return Encoded(container.pack(header, words.tobytes()), reconstruction,
                       self._information(z_hat, y_hat, levels), clipped)

    def compress(self, images, names: list[str] | None = None) -> bytes:
        """The bytes of a file holding ``images`` (see :meth:`encode`)."""
        return self.encode(images, names).blob

    # -- decompression ------------------------------------------------------------------
    def decompress(self, blob: bytes) -> Decompressed:
        """The images of a file made by :meth:`compress` (with this checkpoint), exactly as the encoder saw them.

        Raises:
            CompressionError: a damaged or truncated file, a lossless file, a
                file made with another model, checkpoint or tables, or one
                that did not decode to the encoder's reconstruction.
        """
        header, body = container.unpack(blob)
        missing = sorted(HEADER_FIELDS - set(header))
        if missing:
            raise CompressionError(f"damaged file: the header lacks {', '.join(missing)}")
        self._check_same_model(header)
        count = header["count"]
        hyper_shape, latent_shape = tuple(header["hyper_shape"]), tuple(header["latent_shape"])
        if 4 * header["payload_words"] != len(body) or not isinstance(count, int) or count < 1:
            raise CompressionError("damaged file: the header's sizes do not match the body")
        words = np.frombuffer(body, dtype="<u4").astype(np.uint32)
        try:
            decoder = constriction.stream.queue.RangeDecoder(words)
            z_hat = np.zeros((count, *hyper_shape), np.int64)
            per_channel = count * hyper_shape[0] * hyper_shape[1]
            for c in range(hyper_shape[-1]):
                if len(self.tables.z.counts_of(c)) > 1:
                    symbols = decoder.decode(self._categorical("z", c), per_channel).astype(np.int64)
                else:
                    symbols = np.zeros(per_channel, np.int64)
                z_hat[..., c] = (symbols + self.tables.z.lower[c]).reshape(count, *hyper_shape[:2])
            levels = self._levels(z_hat)
            y_hat = np.zeros((count, *latent_shape), np.int64)
            for t in np.unique(levels):
                where = levels == t
                symbols = decoder.decode(self._categorical("y", int(t)), int(where.sum()))
                y_hat[where] = symbols.astype(np.int64) + self.tables.y.lower[t]
            images = self.reconstruct(y_hat)
        except (AssertionError, ValueError, RuntimeError, IndexError) as error:
            raise CompressionError(f"the file did not decode ({type(error).__name__}: {error})") from None
        _decoding_checks.check_reconstruction(images, header, self.name)
        return Decompressed(images=images, header=header)

    def _check_same_model(self, header: dict) -> None:
        _decoding_checks.check_same_model(header, self.name, self.weights_sha256, self.tables_sha256)
        expected_latent = [transforms.LATENT_SIZE, transforms.LATENT_SIZE, self.tables.meta["channels"]]
        expected_hyper = [transforms.HYPER_SIZE, transforms.HYPER_SIZE, self.tables.meta["hyper_channels"]]
        if header["latent_shape"] != expected_latent or header["hyper_shape"] != expected_hyper \
                or header["image_shape"] != [28, 28]:
            raise CompressionError(f"the file's shapes (latents {header['latent_shape']}, hyper-latents "
                                   f"{header['hyper_shape']}) are not this model's ({expected_latent}, {expected_hyper})")


def read_header(blob: bytes) -> dict:
    """The checked header of a lossy file (raises :class:`CompressionError` if damaged). Introduced in chapter 10."""
    header, _ = container.unpack(blob)
    return header


def rates(blob: bytes) -> dict:
    """Bits per pixel of a lossy file: ``{"total": whole file, "payload": coded words only, "header_bytes"}``.

    Introduced in chapter 10.
    """
    header = read_header(blob)
    pixels = header["count"] * PIXELS
    return {"total": 8 * len(blob) / pixels, "payload": 32 * header["payload_words"] / pixels,
            "header_bytes": container.header_bytes(blob)}
