"""The lossless codec: a trained VAE plus bits-back ANS, with a checked file format.

``BitsBackCodec(model, name, weights_sha256).compress(images)`` returns the
bytes of a file; ``.decompress(blob)`` gives back exactly the same images.
The file's header (see :mod:`vae.compression.container`) holds::

    model, weights_sha256      which checkpoint the file needs
    count, batch_size          how many images, and at most how many coded at a time
    batch_sizes                the batches in coding order, run-length coded (see below)
    latent_dim, grid           the code size (a Ladder VAE's: its layers' sizes, a list) and its discretization
    initial_words, initial_seed  the random start of the stack (see below)
    payload_words              length of the ANS stack
    images_sha256              checksum of the original images
    names_bytes                length of the optional LZMA-packed file names
    method                     "bits-back" (files written before it existed lack it)
    architecture, decoder      the model's kind, e.g. "conv" and "pixelcnn" (chapter 11; files
                               written before lack them and are "factorized")
    prior                      "vampprior" for a VampPrior model (chapter 11); absent for the
                               standard normal prior, so those files keep their layout

Small inputs: with ``fallback=True``, when a direct code of the pixels (the
best of raw DEFLATE, bz2, LZMA and an adaptive context model,
:mod:`vae.compression.direct`) is smaller than the bits-back file,
:meth:`BitsBackCodec.compress` returns that file instead; its
compact header records the method, and :meth:`BitsBackCodec.decompress` and
:func:`decompress` read both kinds. The defaults differ on purpose: the
codec object is the bits-back method (``fallback=False``, what chapter 9
takes apart and measures), while the one-call :func:`compress` and
``python -m vae compress`` want the smallest file (``fallback=True``), so a
handful of digits never costs hundreds of bytes of initial bits.

Bits back needs bits on the stack before the first code can be popped. The
codec starts the stack with ``initial_words`` pseudo-random 32-bit words (from
``initial_seed``), enough for one image; they stay in the file, so they are a
fixed cost that does not grow with the number of images, and decoding checks
that exactly these words are left at the end. Because the first batch borrows
all its bits from them, the batches **ramp up**: the first holds one image,
and each next batch the largest power of two (at most ``batch_size``) whose
codes the stack already holds enough bits to pop (``initial_bits_per_code``
per code number, as for the first). The sizes chosen are recorded in the
header as ``batch_sizes``, ``[[size, repeats], ...]``; files written before
the ramp lack the field and were coded in equal batches of ``batch_size``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import lzma
import math
from pathlib import Path
from typing import Callable

import constriction
import numpy as np

from vae import checkpoint, pretrained
from vae.compression import _autoregressive as autoregressive, _hierarchical as hierarchical, container, direct
from vae.compression.bitsback import PIXELS, LatentGrid, borrowed_bits_per_image, decode_batch, encode_batch
from vae.compression.container import CompressionError
from vae.models import VAE

HEADER_FIELDS = frozenset({"model", "weights_sha256", "count", "batch_size", "latent_dim", "grid",
                           "initial_words", "initial_seed", "payload_words", "images_sha256", "names_bytes"})


@dataclasses.dataclass(frozen=True)
class Decompressed:
    """What :meth:`BitsBackCodec.decompress` returns.

    Attributes:
        images: uint8 ``(count, 28, 28)`` of 0s and 1s.
        names: the file names given at compression, or None.
        header: the file's header (a dict).

    Introduced in chapter 9.
    """

    images: np.ndarray
    names: list[str] | None
    header: dict


def binary_images(images) -> np.ndarray:
    """Check and convert images of 0s and 1s to uint8 ``(count, 28, 28)``.

    Accepts ``(count, 28, 28)`` or ``(count, 28, 28, 1)`` of any numeric dtype
    whose values are all 0 or 1 (booleans too).

    Raises:
        ValueError: wrong shape, no images, or values other than 0 and 1
            (binarize grey images first, e.g. with ``vae.data.binarize``).

    Introduced in chapter 9.
    """
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"expected binary images shaped (count, 28, 28) or (count, 28, 28, 1), "
                         f"got shape {np.shape(images)}")
    if len(array) == 0:
        raise ValueError("expected at least one image, got none")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"expected numeric binary images, got dtype {array.dtype}")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError("expected binary images (only 0 and 1); binarize grey images first, "
                         "e.g. with vae.data.binarize or vae.data.threshold")
    return array.astype(np.uint8)


def _images_sha256(images: np.ndarray) -> str:
    """SHA-256 of binary images ``(count, 28, 28)``, packed 8 pixels a byte."""
    packed = np.packbits(images.astype(np.uint8).reshape(len(images), PIXELS), axis=1)
    return hashlib.sha256(packed.tobytes()).hexdigest()


class BitsBackCodec:
    """Lossless compression of binary 28x28 digits with a trained VAE.

    Args:
        model: a trained :class:`vae.models.VAE`.
        name: the model's name, written into the file.
        weights_sha256: SHA-256 of the model's weights file, written into the
            file and checked when decompressing.
        batch_size: the most images coded together; larger batches run
            faster. The first batches are smaller (see the module docstring),
            so the initial bits are one image's whatever the batch size.
        grid: the latent discretization.

    Introduced in chapter 9.
    """

    def __init__(self, model: VAE, name: str, weights_sha256: str, batch_size: int = 25,
                 grid: LatentGrid = LatentGrid()):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model, self.name, self.weights_sha256 = model, str(name), str(weights_sha256)
        self.batch_size, self.grid = batch_size, grid

    @classmethod
    def pretrained(cls, name: str = "conv", **options) -> "BitsBackCodec":
        """The codec of shipped model ``name``, its weights verified. Introduced in chapter 9."""
        return cls.from_checkpoint(pretrained.checkpoint_dir(name), name=name, **options)

    @classmethod
    def from_checkpoint(cls, directory, name: str | None = None, **options) -> "BitsBackCodec":
        """The codec of the VAE in checkpoint folder ``directory`` (written by ``train``), its weights verified.

        ``name`` is written into files (default: the folder's name); the
        weights' SHA-256 is what decompression checks. Introduced in chapter 11.
        """
        model, manifest = checkpoint.load_checkpoint(directory)
        return cls(model, Path(directory).name if name is None else name, manifest["weights_sha256"], **options)

    # -- compression --------------------------------------------------------------------
    def initial_words(self, first_batch: int) -> int:
        """Words for a first batch of ``first_batch`` images: :func:`~vae.compression.bitsback.borrowed_bits_per_image` each.

        The codec's first batch is one image (the ramp); chapter 9 compares
        with larger first batches. Popping more than is there still decodes
        correctly; it only draws worse codes for the first batch.
        """
        return math.ceil(first_batch * borrowed_bits_per_image(self.model, self.grid) / 32)

    def compress(self, images, names: list[str] | None = None, initial_seed: int = 0,
                 progress: Callable[[int], object] | None = None, fallback: bool = False) -> bytes:
        """Compress binary images into the bytes of a self-describing file.

        Args:
            images: 0/1 images ``(count, 28, 28)`` or ``(count, 28, 28, 1)``.
            names: optional file names, one per image, restored by decompress.
            initial_seed: seed of the initial stack words.
            progress: called after each batch with the number of images it
                coded (e.g. a tqdm bar's ``update``).
            fallback: if true, return the direct code of
                :mod:`vae.compression.direct` instead when it is smaller
                (up to a few hundred digits); if false (the default here,
                what chapter 9 measures), always the bits-back file. The
                one-call :func:`compress` defaults to true.

        Returns:
            The file's bytes (header and ANS words, or a direct file).
        """
        images = binary_images(images)
        if names is not None:
            names = [str(n) for n in names]
            if len(names) != len(images) or any("\n" in n for n in names):
                raise ValueError(f"names must be {len(images)} strings without newlines")
        initial = _initial_words(self.initial_words(1), initial_seed)
        coder = constriction.stream.stack.AnsCoder(initial, seal=True)
        sizes, start = [], 0
        while start < len(images):
            size = self._next_batch_size(coder, len(images) - start)
            encode_batch(coder, self.model, images[start:start + size], self.grid)
            sizes.append(size)
            start += size
            if progress is not None:
                progress(size)
        words = coder.get_compressed().astype("<u4")
        names_blob = lzma.compress("\n".join(names).encode()) if names is not None else b""
        header = {"model": self.name, "weights_sha256": self.weights_sha256, "count": len(images),
                  "batch_size": self.batch_size, "batch_sizes": _run_lengths(sizes),
                  "latent_dim": hierarchical.header_latent_dim(self.model),
                  "grid": dataclasses.asdict(self.grid), "initial_words": len(initial),
                  "initial_seed": initial_seed, "payload_words": len(words),
                  "images_sha256": _images_sha256(images), "names_bytes": len(names_blob),
                  "method": "bits-back", "architecture": self.model.architecture,
                  "decoder": autoregressive.decoder_kind(self.model)}
        if _prior_name(self.model) != "standard":
            header["prior"] = _prior_name(self.model)
        blob = container.pack(header, words.tobytes() + names_blob)
        if fallback:
            small = direct.encode_direct(images, names_blob)
            if len(small) < len(blob):
                return small
        return blob

    def _next_batch_size(self, coder, remaining: int) -> int:
        """The ramp: the largest power of two, at most ``batch_size`` and ``remaining``, that the stack can fund.

        A batch of ``b`` images is reserved ``b`` times
        :func:`vae.compression.bitsback.borrowed_bits_per_image`, as the
        first batch is by the initial words.
        """
        per_image = borrowed_bits_per_image(self.model, self.grid)
        affordable = 1 << max(0, (coder.num_valid_bits() // per_image).bit_length() - 1)
        return min(self.batch_size, remaining, affordable)

    # -- decompression ------------------------------------------------------------------
    def decompress(self, blob: bytes, progress: Callable[[int], object] | None = None) -> Decompressed:
        """Recover the images (and names) from a file made by :meth:`compress`.

        ``progress``, if given, is called after each batch with the number of
        images it decoded (e.g. a tqdm bar's ``update``).

        Raises:
            CompressionError: the file is damaged or truncated, was made with
                another model or checkpoint, or did not decode to the images
                it was made from.
        """
        if direct.is_direct(blob):
            return _decompress_direct(blob, progress)
        header, body = container.unpack(blob)
        missing = sorted(HEADER_FIELDS - set(header))
        if missing:
            raise CompressionError(f"damaged file: the header lacks {', '.join(missing)}")
        self._check_same_model(header)
        grid = LatentGrid(**header["grid"])
        payload_bytes = 4 * header["payload_words"]
        words = np.frombuffer(body[:payload_bytes], dtype="<u4").astype(np.uint32)
        coder = constriction.stream.stack.AnsCoder(words)
        sizes = _recorded_batch_sizes(header)
        expected = _initial_words(header["initial_words"], header["initial_seed"])
        try:
            batches = []
            for size in reversed(sizes):  # a stack: the last batch coded comes off first
                batches.append(decode_batch(coder, self.model, size, grid))
                if progress is not None:
                    progress(size)
            images = np.concatenate(batches[::-1])
            leftover = coder.get_compressed(unseal=True)  # constriction asserts if the stack is off
            reproduced = _images_sha256(images) == header["images_sha256"] and np.array_equal(leftover, expected)
        except (AssertionError, ValueError, RuntimeError):
            reproduced = False
        if not reproduced:
            raise CompressionError(f"decoding with model {self.name!r} did not reproduce the original images; "
                                   "the file was made with different weights or on a platform whose "
                                   "arithmetic differs")
        names = None
        if header["names_bytes"]:
            names = lzma.decompress(body[payload_bytes:]).decode().split("\n")
        return Decompressed(images=images, names=names, header=header)

    def _check_same_model(self, header: dict) -> None:
        kind = (header.get("architecture", self.model.architecture), header.get("decoder", "factorized"),
                header.get("prior", "standard"))
        ours = (self.model.architecture, autoregressive.decoder_kind(self.model), _prior_name(self.model))
        if kind != ours:
            raise CompressionError(
                f"this file was compressed with a {kind[0]} VAE with a {kind[1]} decoder and the {kind[2]} "
                f"prior (model {header['model']!r}), not with a {ours[0]} VAE with a {ours[1]} decoder and the "
                f"{ours[2]} prior like {self.name!r}; decompress it with the model it names")
        if header["model"] != self.name or header["weights_sha256"] != self.weights_sha256:
            raise CompressionError(
                f"this file was compressed with model {header['model']!r} (weights "
                f"{header['weights_sha256'][:12]}...), not with {self.name!r} (weights "
                f"{self.weights_sha256[:12]}...); decompress it with that checkpoint")
        if header["latent_dim"] != hierarchical.header_latent_dim(self.model):
            raise CompressionError(f"the file's codes have {header['latent_dim']} numbers, "
                                   f"the model's {hierarchical.header_latent_dim(self.model)}")


def _prior_name(model) -> str:
    """The model's prior as the header names it: ``"standard"`` (N(0, I)) or ``"vampprior"``."""
    return getattr(model, "prior_name", "standard")


def _decompress_direct(blob: bytes, progress: Callable[[int], object] | None = None) -> Decompressed:
    """A direct file (no model needed); its header gains ``model: None`` beside the method.

    ``progress``, if given, is called once with the number of images (the file has no batches).
    """
    images, names_blob, header = direct.decode_direct(blob)
    names = lzma.decompress(names_blob).decode().split("\n") if names_blob else None
    if progress is not None:
        progress(len(images))
    return Decompressed(images=images, names=names, header={**header, "model": None})


def _run_lengths(sizes: list[int]) -> list[list[int]]:
    """``[1, 1, 2, 4, 4]`` -> ``[[1, 2], [2, 1], [4, 2]]``: each size with its number of repeats."""
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return runs


def _recorded_batch_sizes(header: dict) -> list[int]:
    """The batch sizes in coding order, from the header's ``batch_sizes`` runs (or, in files
    written before the ramp, equal batches of ``batch_size``).

    Raises:
        CompressionError: the runs are not positive whole numbers, a batch is
            larger than ``batch_size``, or they do not add up to ``count``.
    """
    count, batch_size = header["count"], header["batch_size"]
    if "batch_sizes" not in header:
        full, rest = divmod(count, batch_size)
        return [batch_size] * full + ([rest] if rest else [])
    runs = header["batch_sizes"]
    whole = lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 1  # noqa: E731
    if not isinstance(runs, list) or not all(
            isinstance(run, list) and len(run) == 2 and whole(run[0]) and whole(run[1]) for run in runs) \
            or any(size > batch_size for size, _ in runs) or sum(size * repeats for size, repeats in runs) != count:
        raise CompressionError(f"damaged file: the header's batch sizes do not make {count} images "
                               f"in batches of at most {batch_size}")
    return [size for size, repeats in runs for _ in range(repeats)]


def _initial_words(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, size=count, dtype=np.uint32)


def read_header(blob: bytes) -> dict:
    """The checked header of a compressed file (raises :class:`CompressionError` if damaged).

    A direct file's header (:mod:`vae.compression.direct`) is
    ``{"method", "count", "names_bytes", "format_version", "model": None}``.

    Introduced in chapter 9.
    """
    if direct.is_direct(blob):
        return {**direct.decode_direct(blob)[2], "model": None}
    header, _ = container.unpack(blob)
    return header


def compress(images, model: str = "conv", names: list[str] | None = None, batch_size: int = 25,
             progress: Callable[[int], object] | None = None, fallback: bool = True) -> bytes:
    """Compress binary images with shipped model ``model`` into the smallest file this package writes.

    By default (``fallback=True``) the result is the bits-back file or, when
    it is smaller (up to a few hundred digits), the direct code of
    :mod:`vae.compression.direct`; ``fallback=False`` always gives the
    bits-back file. ``progress``: see :meth:`BitsBackCodec.compress`.

    Introduced in chapter 9.
    """
    return BitsBackCodec.pretrained(model, batch_size=batch_size).compress(images, names=names, progress=progress,
                                                                            fallback=fallback)


def decompress(blob: bytes, progress: Callable[[int], object] | None = None) -> Decompressed:
    """Decompress a file, loading the shipped model its header names.

    ``progress``: see :meth:`BitsBackCodec.decompress`. Introduced in chapter 9.
    """
    if direct.is_direct(blob):
        return _decompress_direct(blob, progress)
    header = read_header(blob)
    if not {"model", "batch_size"} <= set(header):
        raise CompressionError("damaged file: the header does not name its model")
    try:
        codec = BitsBackCodec.pretrained(header["model"], batch_size=header["batch_size"])
    except ValueError as error:  # no such shipped model
        raise CompressionError(f"this file needs model {header['model']!r}: {error}") from None
    return codec.decompress(blob, progress=progress)


def bits_per_dim(blob: bytes) -> dict:
    """Rates of a compressed file in bits per pixel: total, and without the initial words.

    Returns:
        ``{"total": whole file, "payload": ANS words only, "net": ANS words
        minus the initial words, "initial_bits": 32 * initial_words,
        "header_bytes": bytes outside the ANS words}``.

    A direct file has no initial bits: its ``payload`` and ``net`` are its
    method's code (names included), ``header_bytes`` the 22 bytes around it.

    Introduced in chapter 9.
    """
    header = read_header(blob)
    dims = header["count"] * PIXELS
    if direct.is_direct(blob):
        code_bits = 8 * (len(blob) - direct.OVERHEAD_BYTES)
        return {"total": 8 * len(blob) / dims, "payload": code_bits / dims, "net": code_bits / dims,
                "initial_bits": 0, "header_bytes": direct.OVERHEAD_BYTES}
    payload_bits = 32 * header["payload_words"]
    initial_bits = 32 * header["initial_words"]
    return {"total": 8 * len(blob) / dims, "payload": payload_bits / dims,
            "net": (payload_bits - initial_bits) / dims, "initial_bits": initial_bits,
            "header_bytes": len(blob) - payload_bits // 8}
