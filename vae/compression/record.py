"""A codec's rate on the whole binarized test set, measured once and kept in the model's manifest.

Compressing the 10,000 test digits takes seconds; decompressing them with an
autoregressive decoder (chapter 11's PixelVAE, 784 sequential passes per
batch) takes minutes, more than a chapter may spend. So, as with the
likelihoods of ``evaluate --record``, the measurement is made once from the
shell, ``python -m vae compress --test-set --record`` (:func:`measure_test_set`
then :func:`record_compression`), and the chapters read it back with
:func:`recorded_compression`. A record exists only for a file that was
decompressed and compared with the original digits, bit for bit.

The figures live in the manifest under ``compression``, one entry per
setting (:func:`compression_key`), for example
``"bits-back,test-set,batch_size=100"``.

Introduced in chapter 9.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from vae import checkpoint, data
from vae.compression.codec import BitsBackCodec, binary_images, bits_per_dim, read_header

TEST_SET = "binarized MNIST test set: vae.data.binarized_test_set(), 10,000 digits"
"""What the record says was compressed."""


def compression_key(batch_size: int) -> str:
    """The manifest key of a test-set record, e.g. ``"bits-back,test-set,batch_size=100"``.

    Introduced in chapter 9.
    """
    return f"bits-back,test-set,batch_size={batch_size}"


def measure_test_set(codec: BitsBackCodec, progress: Callable[[int], object] | None = None) -> tuple[bytes, dict]:
    """Compress the binarized test set with bits back, decompress it and check the round trip.

    Args:
        codec: the codec (its ``batch_size`` is part of the setting).
        progress: called after each batch, compressing and then
            decompressing, with its number of digits (20,000 in all; e.g. a
            tqdm bar's ``update``).

    Returns:
        ``(blob, figures)``: the file's bytes, and a dict with ``images``
        (:data:`TEST_SET`), ``count``, ``images_sha256`` (the header's),
        ``model``, ``weights_sha256``, ``batch_size``, ``bytes``,
        ``bits_per_dim`` (the whole file), ``net_bits_per_dim`` (without the
        initial bits and the header), ``initial_bits``, ``header_bytes``,
        ``exact_round_trip`` (always True: a mismatch raises),
        ``compress_seconds`` and ``decompress_seconds`` (wall clock on this
        machine).

    Raises:
        vae.compression.CompressionError: the file did not decode to the same
            digits (the codec's own checksum), or a digit differs.

    Introduced in chapter 9.
    """
    images = binary_images(data.binarized_test_set()[0])
    start = time.perf_counter()
    blob = codec.compress(images, progress=progress, fallback=False)
    compress_seconds = time.perf_counter() - start
    start = time.perf_counter()
    restored = codec.decompress(blob, progress=progress).images
    decompress_seconds = time.perf_counter() - start
    if not np.array_equal(restored, images):  # the codec's checksum already checked; this needs no hash
        raise AssertionError("the decompressed test set differs from the original")
    header, rates = read_header(blob), bits_per_dim(blob)
    return blob, {
        "images": TEST_SET, "count": len(images), "images_sha256": header["images_sha256"],
        "model": header["model"], "weights_sha256": header["weights_sha256"],
        "batch_size": codec.batch_size, "bytes": len(blob),
        "bits_per_dim": rates["total"], "net_bits_per_dim": rates["net"],
        "initial_bits": rates["initial_bits"], "header_bytes": rates["header_bytes"],
        "exact_round_trip": True,
        "compress_seconds": round(compress_seconds, 1), "decompress_seconds": round(decompress_seconds, 1),
    }


def record_compression(directory, figures: dict, replace: bool = False) -> str:
    """Store :func:`measure_test_set`'s figures in the manifest of checkpoint folder ``directory``.

    Args:
        directory: the checkpoint folder of the codec's model.
        figures: the figures; their ``weights_sha256`` must be the manifest's.
        replace: overwrite a record of the same setting (otherwise a ``ValueError``).

    Returns:
        the key (:func:`compression_key`). The manifest is rewritten atomically.

    Introduced in chapter 9.
    """
    directory = Path(directory)
    manifest = checkpoint.read_manifest(directory)
    if figures["weights_sha256"] != manifest["weights_sha256"]:
        raise ValueError(f"these figures were measured with other weights than those of {directory}")
    key = compression_key(figures["batch_size"])
    if key in manifest.get("compression", {}) and not replace:
        raise ValueError(f"{directory / checkpoint.MANIFEST_FILE} already holds the compression record {key}")
    manifest.setdefault("compression", {})[key] = dict(figures)
    checkpoint.write_json_atomic(directory / checkpoint.MANIFEST_FILE, manifest)
    return key


def recorded_compression(directory) -> dict[str, dict]:
    """Every test-set record of a checkpoint folder, by key (empty if none).

    Introduced in chapter 9.
    """
    return dict(checkpoint.read_manifest(Path(directory)).get("compression", {}))
