"""MNIST and other 28×28 images: loading, checking, binarizing, batching.

Every model in the book reads its data through this module, so every chapter
sees exactly the same numbers:

* :func:`load_mnist` reads the copy of MNIST embedded in the package
  (``vae/datasets/mnist.npz``, see the README there for its provenance and
  licence) and checks the SHA-256 of its arrays before handing them out.
  Images come back as ``float32`` grey levels in [0, 1] with shape
  ``(N, 28, 28, 1)``.
* :func:`binarize` turns grey levels into black-and-white images by *dynamic
  binarization*: each pixel is an independent Bernoulli draw whose
  probability of being 1 is its grey level. This is the usual benchmark for
  VAEs with a Bernoulli decoder. :func:`threshold` gives the *statically
  thresholded* variant (pixel > 0.5), which is a different and easier data
  set; numbers computed on one are not comparable with numbers on the other.
* :func:`binarized_test_set` is the single binarized test set that all
  models and chapters are evaluated on (seed :data:`TEST_BINARIZATION_SEED`).
* :func:`training_batches` is the in-graph ``tf.data`` pipeline for training
  (images, optionally with labels): a fresh, exactly reproducible shuffle
  and binarization for each ``(seed, epoch)``; :func:`evaluation_batches`
  batches without either, :func:`labelled_batches` is chapter 7's labelled
  variant. All three are the one pipeline ``_batches``.
* :func:`read_idx` and :func:`load_idx_images` read the original IDX format
  (raw or gzip), so that Fashion-MNIST and friends can be used as well.

Introduced in chapter 1 (loading) and chapter 5 (binarization, pipeline).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from vae.checks import IMAGE_SHAPE, check_images, check_int
from vae.seeding import stateless_seed

MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
"""SHA-256 of each array's raw bytes, ``hashlib.sha256(a.tobytes()).hexdigest()``."""

TEST_BINARIZATION_SEED = 20160601
"""The one seed with which the test set is binarized, everywhere in the book."""

EMBEDDED_MNIST_PATH = Path(__file__).parent / "datasets" / "mnist.npz"
"""The copy of MNIST shipped inside the package."""

KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# Same URL and file hash as keras.datasets.mnist.load_data(), so the fallback
# shares Keras's download cache (~/.keras/datasets/mnist.npz).

SPLIT_SIZES = {"train": 60_000, "test": 10_000}
"""Digits in each MNIST split."""

_SPLITS = {"train": ("x_train", "y_train", SPLIT_SIZES["train"]), "test": ("x_test", "y_test", SPLIT_SIZES["test"])}

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_MAX_DIMENSIONS = 4  # MNIST, EMNIST, Fashion-MNIST, KMNIST: 1-D labels, 3-D images
_GZIP_MAGIC = b"\x1f\x8b"

_SHUFFLE_STREAM = 0  # sub-seeds of one (seed, epoch) key, one per use
_BINARIZATION_STREAM = 1


class DataIntegrityError(ValueError):
    """A data file's contents differ from the published checksums.

    Introduced in chapter 1.
    """


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file.

    Introduced in chapter 1.
    """


class MnistUnavailableError(FileNotFoundError):
    """The embedded MNIST file is missing and downloading it failed.

    Introduced in chapter 1.
    """


# --------------------------------------------------------------------------
# Loading MNIST
# --------------------------------------------------------------------------


def load_mnist(split: str = "train", path: str | os.PathLike | None = None):
    """Load one split of MNIST as grey-level images and integer labels.

    Args:
        split: ``"train"`` (60,000 digits) or ``"test"`` (10,000 digits).
        path: an ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``,
            ``y_test`` (uint8, the layout of ``keras.datasets.mnist``). By
            default the copy embedded in the package; if that is absent, the
            Keras copy is downloaded (or reused from ``~/.keras/datasets``).

    Returns:
        ``(images, labels)``: images ``float32`` of shape ``(N, 28, 28, 1)``,
        grey levels in [0, 1] (the stored 0–255 bytes divided by 255, 0 is
        black background, 1 is full ink); labels ``int64`` of shape ``(N,)``,
        digits 0–9. Both are fresh, writable arrays.

    Raises:
        ValueError: ``split`` is not one of the two valid choices.
        DataIntegrityError: an array's SHA-256 differs from
            :data:`MNIST_SHA256` (the message names the file, the array and
            both hashes), or an array is missing or has the wrong shape/dtype.
        MnistUnavailableError: the embedded file is missing and the download
            failed.

    The two arrays of the split are verified when the file is first read in
    this process; the verified raw arrays are then kept in an
    ``functools.lru_cache`` keyed by the file's path, size and modification
    time, so later calls skip the ~0.1 s of hashing, and a file that changes
    on disk is read and verified again.

    Introduced in chapter 1.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be \"train\" or \"test\", got {split!r}")
    npz_path = _mnist_file() if path is None else Path(path)
    if not npz_path.is_file():
        raise FileNotFoundError(f"MNIST file not found: {npz_path}")
    stat = npz_path.stat()
    raw_images, raw_labels = _verified_split(
        str(npz_path.resolve()), split, stat.st_size, stat.st_mtime_ns
    )
    return _grey_levels(raw_images), raw_labels.astype(np.int64)


def _mnist_file() -> Path:
    """The embedded MNIST file, or the downloaded Keras copy if it is absent."""
    if EMBEDDED_MNIST_PATH.is_file():
        return EMBEDDED_MNIST_PATH
    try:
        return Path(_download_mnist())
    except Exception as error:  # get_file raises plain Exception on network errors
        raise MnistUnavailableError(
            f"the embedded MNIST file {EMBEDDED_MNIST_PATH} is missing (reinstall the "
            f"package) and downloading the Keras copy from {KERAS_MNIST_URL} failed: "
            f"{error}"
        ) from error


def _download_mnist() -> Path:
    """Fetch Keras's ``mnist.npz`` (or reuse the cached one) and return its path.

    Exactly the call that ``keras.datasets.mnist.load_data()`` makes, which
    returns the arrays; this returns the file, so it can be verified here.
    """
    return Path(
        keras.utils.get_file(
            fname="mnist.npz", origin=KERAS_MNIST_URL, file_hash=KERAS_MNIST_FILE_SHA256
        )
    )


@functools.lru_cache(maxsize=4)
def _verified_split(path: str, split: str, size: int, mtime_ns: int):
    """Read and verify the raw uint8 arrays of one split; read-only, cached.

    ``size`` and ``mtime_ns`` are only part of the cache key.
    """
    image_key, label_key, count = _SPLITS[split]
    expected_shapes = {image_key: (count, 28, 28), label_key: (count,)}
    with np.load(path, allow_pickle=False) as archive:
        arrays = [
            _verified_array(archive, path, key, shape) for key, shape in expected_shapes.items()
        ]
    for array in arrays:
        array.flags.writeable = False  # the cache must not be changed by callers
    return tuple(arrays)


def _verified_array(archive, path: str, key: str, expected_shape: tuple) -> np.ndarray:
    if key not in archive.files:
        raise DataIntegrityError(f"{path}: array {key!r} is missing (found {archive.files})")
    array = archive[key]
    if array.dtype != np.uint8 or array.shape != expected_shape:
        raise DataIntegrityError(
            f"{path}: array {key!r} should be uint8 of shape {expected_shape}, "
            f"found {array.dtype} of shape {array.shape}"
        )
    actual = hashlib.sha256(array.tobytes()).hexdigest()
    if actual != MNIST_SHA256[key]:
        raise DataIntegrityError(
            f"{path}: array {key!r} has SHA-256 {actual}, expected {MNIST_SHA256[key]}; "
            "the file is corrupt or is not the MNIST this book was tested with"
        )
    return array


def _grey_levels(raw_images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    images = raw_images.astype(np.float32)
    images /= np.float32(255)  # in place: one 188 MB array for the training set, not two
    return images.reshape(-1, *IMAGE_SHAPE)


# --------------------------------------------------------------------------
# Binarization
# --------------------------------------------------------------------------


def binarize(images, seed: int) -> np.ndarray:
    """Dynamically binarize grey-level images: one Bernoulli sample per pixel.

    Each pixel becomes 1 with probability equal to its grey level and 0
    otherwise, independently. A grey level of 0 always gives 0 and 1 always
    gives 1. The result is deterministic for a given ``seed``
    (``np.random.default_rng(seed)``); a new seed gives a new sample.

    This is *not* thresholding: :func:`threshold` (statically thresholded
    MNIST, pixel > 0.5) is a different, easier data set whose likelihoods are
    not comparable with those on dynamically binarized data.

    Args:
        images: float array of any shape, typically ``(N, 28, 28, 1)``, grey
            levels in [0, 1] (as returned by :func:`load_mnist`).
        seed: non-negative int.

    Returns:
        ``float32`` array of the same shape, values exactly 0.0 or 1.0.

    Raises:
        ValueError: ``images`` is not float in [0, 1] (e.g. raw uint8 0–255)
            or ``seed`` is not a non-negative int.

    Introduced in chapter 5.
    """
    check_images(images, any_shape=True)
    grey = np.asarray(images)  # compared as given (float64 stays float64)
    rng = np.random.default_rng(check_int(seed, "seed"))
    uniform = rng.random(grey.shape, dtype=np.float32)  # in [0, 1): P(u < p) = p
    return (uniform < grey).astype(np.float32)


def threshold(images, level: float = 0.5) -> np.ndarray:
    """Statically threshold grey-level images: 1 where the pixel is > ``level``.

    This gives *statically thresholded* MNIST, a deterministic and easier data
    set than the dynamically binarized one of :func:`binarize`; the book only
    uses it to show the difference. Never compare likelihoods across the two.

    Args:
        images: float array of any shape, grey levels in [0, 1].
        level: the threshold in [0, 1]; pixels strictly above it become 1.

    Returns:
        ``float32`` array of the same shape, values exactly 0.0 or 1.0.

    Introduced in chapter 5.
    """
    check_images(images, any_shape=True)
    grey = np.asarray(images)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"level must be in [0, 1], got {level!r}")
    return (grey > level).astype(np.float32)


def binarized_test_set(limit: int | None = None):
    """The MNIST test set, dynamically binarized once with the book's fixed seed.

    The whole test set is binarized with :data:`TEST_BINARIZATION_SEED` and
    then cut, so the first N images are the same for every ``limit``, every
    model and every chapter.

    Args:
        limit: keep only the first ``limit`` digits (1–10,000); ``None`` keeps
            all 10,000.

    Returns:
        ``(binary_images, labels)``: ``float32`` of shape ``(N, 28, 28, 1)``
        with values 0.0 or 1.0, and ``int64`` labels of shape ``(N,)``.

    Introduced in chapter 5.
    """
    images, labels = load_mnist("test")
    if limit is not None:
        limit = check_int(limit, "limit", minimum=1, maximum=len(images))
    binary_images = binarize(images, TEST_BINARIZATION_SEED)
    return binary_images[:limit], labels[:limit]


# --------------------------------------------------------------------------
# tf.data pipelines
# --------------------------------------------------------------------------


def training_batches(
    images,
    batch_size: int,
    epoch: int,
    seed: int = 0,
    shuffle: bool = True,
    binarize: bool = True,
    drop_remainder: bool = False,
    labels=None,
) -> tf.data.Dataset:
    """One epoch of training batches, shuffled and binarized in-graph.

    The images stay in memory as one tensor. The dataset shuffles the
    *indices* 0…N-1, batches them, gathers the images of each batch (and
    their labels, if given) and (by default) dynamically binarizes the batch
    with ``tf.random.stateless_uniform``. All randomness is stateless and
    derived with :func:`vae.seeding.stateless_seed` from the key
    ``(seed, epoch)``: stream 0 of it shuffles, stream 1 binarizes, and batch
    ``b`` binarizes with sub-key ``b`` of stream 1. So:

    * the same ``(seed, epoch)`` gives exactly the same batches, in any
      process, whatever TensorFlow's global seed, with or without
      ``tf.config.experimental.enable_op_determinism()``; iterating the
      returned dataset twice gives the same batches twice;
    * another ``epoch`` gives a new order and a new binarization.

    Call it once per epoch: ``for batch in training_batches(x, 128, epoch)``.
    (The index permutation uses ``tf.random.experimental.stateless_shuffle``
    rather than ``Dataset.shuffle``, whose order depends on the global seed.)

    Args:
        images: float array of shape ``(N, 28, 28, 1)``, grey levels in
            [0, 1] (as returned by :func:`load_mnist`).
        batch_size: images per batch, a positive int.
        epoch: the epoch number, an int >= 0.
        seed: the run's seed, an int >= 0.
        shuffle: visit the images in a random order (else in index order).
        binarize: yield Bernoulli samples (0.0/1.0) instead of grey levels.
        drop_remainder: drop the last batch if it has fewer than
            ``batch_size`` images.
        labels: optional ``(N,)`` integer labels that travel with their images.

    Returns:
        A ``tf.data.Dataset`` of ``float32`` batches of shape
        ``(batch, 28, 28, 1)``, or of ``(images, int64 labels (batch,))``
        pairs when ``labels`` are given; every image appears exactly once.

    Raises:
        ValueError: a bad ``batch_size``, ``epoch``, ``seed``, ``images`` or ``labels``.

    Introduced in chapter 5.
    """
    image_tensor = check_images(images, batch_axis="N", allow_empty=False)
    label_tensor = _label_tensor(labels, int(image_tensor.shape[0]))
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    epoch_key = stateless_seed(check_int(seed, "seed"), check_int(epoch, "epoch"))
    order = tf.range(image_tensor.shape[0], dtype=tf.int64)
    if shuffle:
        order = _shuffled(order, stateless_seed(epoch_key, _SHUFFLE_STREAM))
    binarization_key = stateless_seed(epoch_key, _BINARIZATION_STREAM) if binarize else None
    return _batches(image_tensor, label_tensor, order, batch_size, drop_remainder, binarization_key)


def labelled_batches(images, labels, batch_size: int, epoch: int = 0, seed: int = 0,
                     shuffle: bool = True, binarize: bool = True) -> tf.data.Dataset:
    """One epoch of ``(images, labels)`` batches, shuffled and binarized in-graph.

    The pipeline of :func:`training_batches` with labels, as chapter 7 trains
    its conditional VAE on it. Only the keys differ, and only to keep chapter
    7's recorded figures: the key ``stateless_seed(seed, epoch)`` itself
    shuffles, and batch ``b`` binarizes with ``stateless_seed(key, b)`` (no
    separate streams). New code should call
    ``training_batches(..., labels=labels)``.

    Args:
        images: ``(N, 28, 28, 1)`` grey levels in [0, 1].
        labels: ``(N,)`` integer labels.
        batch_size: images per batch.
        epoch, seed: ints >= 0 that key the randomness.
        shuffle: visit the images in a random order.
        binarize: replace each grey level by a Bernoulli draw (dynamic binarization).

    Returns:
        a ``tf.data.Dataset`` of ``(float32 (batch, 28, 28, 1), int64 (batch,))``.

    Introduced in chapter 7.
    """
    image_tensor = check_images(images, batch_axis="N")
    label_tensor = _label_tensor(labels, int(image_tensor.shape[0]))
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    key = stateless_seed(check_int(seed, "seed"), check_int(epoch, "epoch"))
    order = tf.range(image_tensor.shape[0], dtype=tf.int64)
    if shuffle:
        order = _shuffled(order, key)
    return _batches(image_tensor, label_tensor, order, batch_size, False, key if binarize else None)


def evaluation_batches(images, batch_size: int) -> tf.data.Dataset:
    """The images in order, in batches, as they are: no shuffle, no binarization.

    Args:
        images: float array of shape ``(N, 28, 28, 1)`` with values in [0, 1]
            (grey levels, or the 0/1 images of :func:`binarized_test_set`).
        batch_size: images per batch, a positive int; the last batch may be
            smaller.

    Returns:
        A prefetched ``tf.data.Dataset`` of ``float32`` batches of shape
        ``(batch, 28, 28, 1)``.

    Introduced in chapter 5.
    """
    image_tensor = check_images(images, batch_axis="N", allow_empty=False)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    order = tf.range(image_tensor.shape[0], dtype=tf.int64)
    return _batches(image_tensor, None, order, batch_size, False, None)


def _label_tensor(labels, count: int) -> tf.Tensor | None:
    """``(count,)`` integer labels as an int64 tensor (None stays None), else a ValueError."""
    if labels is None:
        return None
    array = np.asarray(labels)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"expected (N,) integer labels, got dtype {array.dtype} and shape {array.shape}")
    if len(array) != count:
        raise ValueError(f"{count} images but {len(array)} labels")
    return tf.constant(array, tf.int64)


def _shuffled(order: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_shuffle(order, seed=key, alg="philox")


def _batches(image_tensor: tf.Tensor, label_tensor: tf.Tensor | None, order: tf.Tensor, batch_size: int,
             drop_remainder: bool, binarization_key: tf.Tensor | None) -> tf.data.Dataset:
    """The one pipeline: batches of ``order``, gathered, binarized and labelled in-graph.

    Batch ``b`` is binarized with the stateless key
    ``stateless_seed(binarization_key, b)``; ``None`` keeps the grey levels.
    """
    index_batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

    def gather_batch(batch_number, indices):
        batch = tf.gather(image_tensor, indices)
        if binarization_key is not None:
            batch = _bernoulli_sample(batch, stateless_seed(binarization_key, batch_number))
        if label_tensor is None:
            return batch
        return batch, tf.gather(label_tensor, indices)

    return (index_batches.enumerate()
            .map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def _bernoulli_sample(grey: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    uniform = tf.random.stateless_uniform(tf.shape(grey), seed=key, dtype=tf.float32, alg="philox")
    return tf.cast(uniform < grey, tf.float32)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the original MNIST format), raw or gzip-compressed.

    The format: two zero bytes, a type code byte, the number of dimensions
    ``d``, then ``d`` big-endian uint32 sizes, then the items, big-endian,
    in C order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64. Gzip is recognized by the magic bytes
    ``1f 8b`` at the start of the file, whatever its name.

    Args:
        path: the file.

    Returns:
        A fresh array of that type and shape, in native byte order.

    Raises:
        IdxFormatError: the file is not well-formed IDX: corrupt or truncated
            gzip, non-zero first bytes, unknown type code, 0 or more than 4
            dimensions, or a payload that is not exactly the product of the
            sizes times the item size (the message names the file, the
            expected and the found number of bytes).

    Introduced in chapter 1.
    """
    path = Path(path)
    content = _decompressed(path.read_bytes(), path)
    dtype, shape, header_size = _idx_header(content, path)
    expected = math.prod(shape) * dtype.itemsize
    found = len(content) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "trailing bytes"
        raise IdxFormatError(
            f"{path}: {problem}: shape {shape} of {dtype.name}: expected {expected} bytes "
            f"of data after the {header_size}-byte header, found {found}"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _decompressed(content: bytes, path: Path) -> bytes:
    if not content.startswith(_GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise IdxFormatError(f"{path}: corrupt or truncated gzip data: {error}") from error


def _idx_header(content: bytes, path: Path):
    """Parse the header: returns (big-endian dtype, shape, header size in bytes)."""
    if len(content) < 4:
        raise IdxFormatError(
            f"{path}: {len(content)} bytes, too short for the 4-byte IDX magic number"
        )
    if content[0] != 0 or content[1] != 0:
        raise IdxFormatError(
            f"{path}: not an IDX file: the magic number must start with two zero bytes, "
            f"found {content[:2].hex(' ')}"
        )
    type_code, dimensions = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_DTYPES)
        raise IdxFormatError(f"{path}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if not 1 <= dimensions <= _IDX_MAX_DIMENSIONS:
        raise IdxFormatError(
            f"{path}: {dimensions} dimensions, expected 1 to {_IDX_MAX_DIMENSIONS}"
        )
    header_size = 4 + 4 * dimensions
    if len(content) < header_size:
        raise IdxFormatError(
            f"{path}: truncated header: {dimensions} dimensions need {header_size} bytes, "
            f"found {len(content)}"
        )
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", dimensions, offset=4))
    return _IDX_DTYPES[type_code], shape, header_size


def load_idx_images(images_path: str | os.PathLike, labels_path: str | os.PathLike):
    """Load 28×28 images and their labels from a pair of IDX files.

    This is how to bring another MNIST-shaped data set. For Fashion-MNIST on
    Debian, ``apt-get install dataset-fashion-mnist`` puts the four files in
    ``/usr/share/datasets/fashion-mnist/``::

        images, labels = load_idx_images(
            "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
            "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
        )

    Args:
        images_path: IDX file of type uint8 (0x08), 3-D ``(N, 28, 28)``, raw or gzip.
        labels_path: IDX file of integer type, 1-D ``(N,)``, raw or gzip.

    Returns:
        ``(images, labels)``: ``float32`` of shape ``(N, 28, 28, 1)`` with grey
        levels in [0, 1] (bytes / 255), and ``int64`` labels of shape ``(N,)``.

    Raises:
        IdxFormatError: a file is not well-formed IDX.
        ValueError: the images are not uint8 28×28, the labels are not 1-D
            integers, or the two counts differ.

    Introduced in chapter 1.
    """
    raw_images, raw_labels = read_idx(images_path), read_idx(labels_path)
    if raw_images.dtype != np.uint8 or raw_images.ndim != 3 or raw_images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"found {raw_images.dtype} of shape {raw_images.shape}"
        )
    if raw_labels.ndim != 1 or not np.issubdtype(raw_labels.dtype, np.integer):
        raise ValueError(
            f"{labels_path}: expected 1-D integer labels, "
            f"found {raw_labels.dtype} of shape {raw_labels.shape}"
        )
    if len(raw_images) != len(raw_labels):
        raise ValueError(
            f"{len(raw_images)} images in {images_path} but {len(raw_labels)} labels "
            f"in {labels_path}"
        )
    return _grey_levels(raw_images), raw_labels.astype(np.int64)
