"""Specification of vae.data: MNIST loading, binarization, batching, IDX files."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import vae  # noqa: F401  (imports TensorFlow silently)
import tensorflow as tf
from tensorflow.python.eager import context as tf_context
from tensorflow.python.framework import config as tf_framework_config

from vae import data
from vae.data import (
    DataIntegrityError,
    IdxFormatError,
    MnistUnavailableError,
    binarize,
    binarized_test_set,
    evaluation_batches,
    load_idx_images,
    load_mnist,
    read_idx,
    threshold,
    training_batches,
)

EMBEDDED_MNIST = data.EMBEDDED_MNIST_PATH  # before any test monkeypatches it
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def mnist_train():
    return load_mnist("train")


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist("test")


@pytest.fixture(scope="module")
def raw_mnist_arrays():
    """The four uint8 arrays of the embedded file, read directly."""
    with np.load(EMBEDDED_MNIST, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture
def verified_copy(tmp_path):
    """An intact copy of the embedded file, elsewhere."""
    return Path(shutil.copy(EMBEDDED_MNIST, tmp_path / "downloaded-mnist.npz"))


def tampered_copy(raw_arrays, tmp_path, array_name):
    """A copy of MNIST with one value of ``array_name`` changed; its path and the new hash."""
    arrays = {key: value.copy() for key, value in raw_arrays.items()}
    arrays[array_name].reshape(-1)[0] ^= 1
    path = tmp_path / "tampered-mnist.npz"
    np.savez(path, **arrays)
    return path, hashlib.sha256(arrays[array_name].tobytes()).hexdigest()


@pytest.fixture
def embedded_file_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "EMBEDDED_MNIST_PATH", tmp_path / "not-installed" / "mnist.npz")


@pytest.fixture
def op_determinism():
    """Switch on TensorFlow op determinism for one test, then restore the previous state."""
    was_enabled = tf_framework_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_enabled:
        tf_framework_config.disable_op_determinism()


@pytest.fixture
def restore_global_seed():
    previous_seed = tf_context.global_seed()
    yield
    tf.random.set_seed(previous_seed)


def indexed_images(count):
    """Grey images whose every pixel encodes the image's index: index / (count - 1)."""
    levels = np.arange(count, dtype=np.float32) / np.float32(count - 1)
    return np.broadcast_to(levels[:, None, None, None], (count, 28, 28, 1)).copy()


def indices_of(batch, count):
    return np.rint(batch[:, 0, 0, 0] * (count - 1)).astype(int).tolist()


def visited_indices(dataset, count):
    return [index for batch in dataset.as_numpy_iterator() for index in indices_of(batch, count)]


def half_grey_images(count):
    return np.full((count, 28, 28, 1), 0.5, dtype=np.float32)


def as_list(dataset):
    return list(dataset.as_numpy_iterator())


# ---------------------------------------------------------------- load_mnist


@pytest.mark.parametrize("split, count", [("train", 60000), ("test", 10000)])
def test_load_mnist_gives_float32_images_in_unit_interval_and_int64_labels(split, count, request):
    images, labels = request.getfixturevalue(f"mnist_{split}")
    assert images.shape == (count, 28, 28, 1) and images.dtype == np.float32
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(np.unique(labels)) == set(range(10))


def test_load_mnist_images_are_the_stored_bytes_divided_by_255(mnist_test, raw_mnist_arrays):
    images, labels = mnist_test
    np.testing.assert_array_equal(images[..., 0] * 255, raw_mnist_arrays["x_test"])
    np.testing.assert_array_equal(labels, raw_mnist_arrays["y_test"])


def test_train_split_has_the_published_class_counts(mnist_train):
    _, labels = mnist_train
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_CLASS_COUNTS


def test_unknown_split_is_a_value_error_naming_the_valid_choices():
    with pytest.raises(ValueError, match="train.*test"):
        load_mnist("validation")


def test_loaded_arrays_are_fresh_copies_that_callers_may_modify():
    images, labels = load_mnist("test")
    images[0] = 0.5
    labels[0] = 99
    images_again, labels_again = load_mnist("test")
    assert images_again[0].max() == 1.0 and labels_again[0] != 99


@pytest.mark.parametrize(
    "split, array_name",
    [("train", "x_train"), ("train", "y_train"), ("test", "x_test"), ("test", "y_test")],
)
def test_tampered_file_raises_data_integrity_error_naming_file_array_and_hashes(
    raw_mnist_arrays, tmp_path, split, array_name
):
    path, tampered_hash = tampered_copy(raw_mnist_arrays, tmp_path, array_name)
    with pytest.raises(DataIntegrityError) as raised:
        load_mnist(split, path=path)
    message = str(raised.value)
    assert path.name in message and repr(array_name) in message
    assert data.MNIST_SHA256[array_name] in message and tampered_hash in message


def test_data_integrity_error_is_a_value_error():
    assert issubclass(DataIntegrityError, ValueError)


def test_download_is_used_when_the_embedded_file_is_absent(
    embedded_file_absent, verified_copy, monkeypatch, mnist_test
):
    calls = []
    monkeypatch.setattr(data, "_download_mnist", lambda: calls.append(1) or verified_copy)
    images, labels = load_mnist("test")
    assert calls == [1]
    np.testing.assert_array_equal(images, mnist_test[0])
    np.testing.assert_array_equal(labels, mnist_test[1])


def test_downloaded_file_is_verified_like_the_embedded_one(
    embedded_file_absent, raw_mnist_arrays, tmp_path, monkeypatch
):
    path, _ = tampered_copy(raw_mnist_arrays, tmp_path, "x_test")
    monkeypatch.setattr(data, "_download_mnist", lambda: path)
    with pytest.raises(DataIntegrityError, match="x_test"):
        load_mnist("test")


def test_failed_download_says_the_embedded_file_is_missing_and_the_download_failed(
    embedded_file_absent, monkeypatch
):
    def no_network():
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_download_mnist", no_network)
    with pytest.raises(MnistUnavailableError) as raised:
        load_mnist("test")
    message = str(raised.value)
    assert "missing" in message and "download" in message and "name resolution" in message
    assert isinstance(raised.value, FileNotFoundError)


def test_explicit_path_that_does_not_exist_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_mnist("test", path=tmp_path / "nowhere.npz")


# ---------------------------------------------------------------- binarize


def test_binarize_gives_float32_zeros_and_ones_of_the_same_shape(mnist_test):
    images = mnist_test[0][:100]
    binary = binarize(images, seed=1)
    assert binary.shape == images.shape and binary.dtype == np.float32
    assert set(np.unique(binary)) == {0.0, 1.0}


def test_binarize_keeps_black_black_and_white_white(mnist_test):
    images = mnist_test[0][:500]
    binary = binarize(images, seed=2)
    assert np.all(binary[images == 0.0] == 0.0)
    assert np.all(binary[images == 1.0] == 1.0)


def test_binarize_mean_matches_grey_level_mean(mnist_test):
    grey = mnist_test[0].astype(np.float64)
    binary = binarize(mnist_test[0], seed=3)
    # The pixels are independent Bernoulli(p) draws, so the sample mean has
    # standard deviation sqrt(sum p(1-p)) / n (about 1.1e-4 here). Six of them
    # is a tolerance that a correct sampler misses with probability < 1e-8
    # for any seed, while a biased one (e.g. u <= p vs u < p on a coarse grid,
    # or thresholding) is off by far more.
    tolerance = 6 * np.sqrt(np.sum(grey * (1 - grey))) / grey.size
    assert abs(binary.mean() - grey.mean()) < tolerance


def test_binarize_is_deterministic_for_a_seed(mnist_test):
    images = mnist_test[0][:200]
    np.testing.assert_array_equal(binarize(images, seed=7), binarize(images, seed=7))


def test_binarize_differs_between_seeds(mnist_test):
    images = mnist_test[0][:200]
    assert not np.array_equal(binarize(images, seed=7), binarize(images, seed=8))


def test_binarize_rejects_raw_uint8_bytes_and_says_so(raw_mnist_arrays):
    with pytest.raises(ValueError, match=r"uint8.*0-255|0-255.*uint8"):
        binarize(raw_mnist_arrays["x_test"][:10], seed=0)


def test_binarize_rejects_floats_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        binarize(np.full((2, 28, 28, 1), 255.0, dtype=np.float32), seed=0)


def test_threshold_is_static_and_cuts_strictly_above_the_level():
    grey = np.array([0.0, 0.49, 0.5, 0.51, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(threshold(grey), [0, 0, 0, 1, 1])
    assert threshold(grey).dtype == np.float32


# ---------------------------------------------------------------- binarized_test_set


def test_binarized_test_set_is_identical_across_calls_and_only_zeros_and_ones():
    first_images, first_labels = binarized_test_set()
    second_images, second_labels = binarized_test_set()
    np.testing.assert_array_equal(first_images, second_images)
    np.testing.assert_array_equal(first_labels, second_labels)
    assert first_images.shape == (10000, 28, 28, 1) and first_images.dtype == np.float32
    assert set(np.unique(first_images)) == {0.0, 1.0}


def test_binarized_test_set_uses_the_fixed_test_seed(mnist_test):
    binary_images, _ = binarized_test_set()
    expected = binarize(mnist_test[0], data.TEST_BINARIZATION_SEED)
    np.testing.assert_array_equal(binary_images, expected)


def test_binarized_test_set_limit_takes_a_prefix_of_the_same_sample():
    all_images, all_labels = binarized_test_set()
    few_images, few_labels = binarized_test_set(limit=25)
    np.testing.assert_array_equal(few_images, all_images[:25])
    np.testing.assert_array_equal(few_labels, all_labels[:25])


# ---------------------------------------------------------------- training_batches


def test_training_batches_have_the_batch_shape_and_float32_zeros_and_ones():
    batches = as_list(training_batches(half_grey_images(50), batch_size=16, epoch=0))
    assert [batch.shape for batch in batches] == [(16, 28, 28, 1)] * 3 + [(2, 28, 28, 1)]
    assert all(batch.dtype == np.float32 for batch in batches)
    assert set(np.unique(np.concatenate(batches))) == {0.0, 1.0}


def test_training_batches_visit_every_image_exactly_once_per_epoch():
    count = 103
    dataset = training_batches(indexed_images(count), batch_size=10, epoch=4, binarize=False)
    visited = visited_indices(dataset, count)
    assert sorted(visited) == list(range(count))
    assert visited != list(range(count))  # shuffled


def test_training_batches_without_shuffle_keep_index_order():
    count = 23
    dataset = training_batches(indexed_images(count), 5, epoch=0, shuffle=False, binarize=False)
    assert visited_indices(dataset, count) == list(range(count))


def test_training_batches_drop_remainder_drops_the_short_last_batch():
    dataset = training_batches(half_grey_images(23), 5, epoch=0, drop_remainder=True)
    assert [batch.shape[0] for batch in as_list(dataset)] == [5, 5, 5, 5]


def test_training_batches_without_binarization_yield_the_grey_images():
    images = indexed_images(12)
    batches = as_list(training_batches(images, 12, epoch=0, shuffle=False, binarize=False))
    np.testing.assert_array_equal(batches[0], images)


def test_same_seed_and_epoch_give_identical_batches():
    images = half_grey_images(40)
    first = as_list(training_batches(images, 16, epoch=3, seed=5))
    second = as_list(training_batches(images, 16, epoch=3, seed=5))
    assert len(first) == len(second) == 3
    for batch, same_batch in zip(first, second):
        np.testing.assert_array_equal(batch, same_batch)


def test_iterating_the_same_epoch_twice_gives_the_same_batches():
    dataset = training_batches(half_grey_images(40), 16, epoch=1, seed=5)
    first_pass, second_pass = as_list(dataset), as_list(dataset)
    np.testing.assert_array_equal(np.concatenate(first_pass), np.concatenate(second_pass))


def test_another_epoch_gives_another_order():
    count = 103
    images = indexed_images(count)
    epoch_0 = visited_indices(training_batches(images, 10, epoch=0, binarize=False), count)
    epoch_1 = visited_indices(training_batches(images, 10, epoch=1, binarize=False), count)
    assert sorted(epoch_0) == sorted(epoch_1) and epoch_0 != epoch_1


def test_another_epoch_gives_another_binarization():
    images = half_grey_images(40)  # all alike, so only the binarization can differ
    epoch_0 = np.concatenate(as_list(training_batches(images, 16, epoch=0)))
    epoch_1 = np.concatenate(as_list(training_batches(images, 16, epoch=1)))
    assert not np.array_equal(epoch_0, epoch_1)


def test_another_seed_gives_another_order():
    count = 103
    images = indexed_images(count)
    seed_0 = visited_indices(training_batches(images, 10, epoch=0, seed=0, binarize=False), count)
    seed_1 = visited_indices(training_batches(images, 10, epoch=0, seed=1, binarize=False), count)
    assert seed_0 != seed_1


def test_each_batch_of_an_epoch_gets_its_own_binarization():
    batches = as_list(training_batches(half_grey_images(32), 16, epoch=0))
    assert not np.array_equal(batches[0], batches[1])


def test_training_batches_binarize_with_the_grey_level_as_probability():
    images = np.zeros((200, 28, 28, 1), dtype=np.float32)
    images[:, :14] = 1.0
    images[:, 14:] = 0.25
    binary = np.concatenate(as_list(training_batches(images, 64, epoch=0, shuffle=False)))
    assert np.all(binary[:, :14] == 1.0)
    # 200*14*28 = 78,400 Bernoulli(0.25) draws: std of the mean is 0.0015; 6 std = 0.01.
    assert abs(binary[:, 14:].mean() - 0.25) < 0.01


def test_training_batches_do_not_depend_on_the_global_tensorflow_seed(restore_global_seed):
    count = 50
    images = indexed_images(count)
    tf.random.set_seed(1)
    order_1 = visited_indices(training_batches(images, 10, epoch=2, binarize=False), count)
    binary_1 = np.concatenate(as_list(training_batches(half_grey_images(20), 10, epoch=2)))
    tf.random.set_seed(2)
    order_2 = visited_indices(training_batches(images, 10, epoch=2, binarize=False), count)
    binary_2 = np.concatenate(as_list(training_batches(half_grey_images(20), 10, epoch=2)))
    assert order_1 == order_2
    np.testing.assert_array_equal(binary_1, binary_2)


def test_training_batches_work_and_repeat_exactly_under_op_determinism(op_determinism):
    count = 50
    images = indexed_images(count)
    first = as_list(training_batches(images, 16, epoch=1, seed=9))
    second = as_list(training_batches(images, 16, epoch=1, seed=9))
    assert [batch.shape[0] for batch in first] == [16, 16, 16, 2]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))
    order = visited_indices(training_batches(images, 16, epoch=1, binarize=False), count)
    assert sorted(order) == list(range(count))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"epoch": -1}, "epoch"),
        ({"seed": -3}, "seed"),
    ],
)
def test_training_batches_reject_bad_arguments(arguments, message):
    valid = {"images": half_grey_images(4), "batch_size": 2, "epoch": 0}
    with pytest.raises(ValueError, match=message):
        training_batches(**{**valid, **arguments})


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 28, 28), dtype=np.float32), r"\(N, 28, 28, 1\)"),
        (np.zeros((4, 32, 32, 1), dtype=np.float32), r"\(N, 28, 28, 1\)"),
        (np.zeros((0, 28, 28, 1), dtype=np.float32), r"N >= 1"),
        (np.zeros((4, 28, 28, 1), dtype=np.uint8), "uint8"),
        (np.full((4, 28, 28, 1), 2.0, dtype=np.float32), r"\[0, 1\]"),
        (np.full((4, 28, 28, 1), np.nan, dtype=np.float32), r"\[0, 1\]"),
    ],
    ids=["no-channel-axis", "32x32", "empty", "uint8", "above-one", "nan"],
)
def test_training_batches_reject_images_that_are_not_unit_grey_28x28x1(images, message):
    with pytest.raises(ValueError, match=message):
        training_batches(images, batch_size=2, epoch=0)


# ---------------------------------------------------------------- evaluation_batches


def test_evaluation_batches_keep_order_and_values_with_a_short_last_batch():
    count = 23
    images = indexed_images(count)
    batches = as_list(evaluation_batches(images, batch_size=10))
    assert [batch.shape for batch in batches] == [(10, 28, 28, 1), (10, 28, 28, 1), (3, 28, 28, 1)]
    assert all(batch.dtype == np.float32 for batch in batches)
    np.testing.assert_array_equal(np.concatenate(batches), images)


def test_evaluation_batches_reject_a_non_positive_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        evaluation_batches(half_grey_images(4), batch_size=0)


# ---------------------------------------------------------------- IDX files

IDX_TYPE_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array):
    """The IDX encoding of ``array``, written independently of the reader."""
    array = np.asarray(array)
    code = IDX_TYPE_CODES[array.dtype.str[1:]]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, content):
    path.write_bytes(content)
    return path


SAMPLE_ARRAYS = {
    "uint8-1d": np.array([0, 1, 127, 255], dtype=np.uint8),
    "int8-2d": np.array([[-128, -1], [0, 127]], dtype=np.int8),
    "int16-3d": np.arange(-12, 12, dtype=np.int16).reshape(2, 3, 4) * 1000,
    "int32-2d": np.array([[-(2**31), 2**31 - 1, 7]], dtype=np.int32),
    "float32-1d": np.array([-1.5, 0.0, 3.25, np.inf], dtype=np.float32),
    "float64-4d": np.linspace(-1, 1, 24).reshape(1, 2, 3, 4),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("array", SAMPLE_ARRAYS.values(), ids=SAMPLE_ARRAYS.keys())
def test_read_idx_round_trips_arrays_in_native_byte_order(tmp_path, array, compress):
    content = idx_bytes(array)
    path = write(tmp_path / "sample.idx", gzip.compress(content) if compress else content)
    loaded = read_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_read_idx_detects_gzip_by_content_not_by_name(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    gzipped_without_suffix = write(tmp_path / "images-idx2-ubyte", gzip.compress(idx_bytes(array)))
    raw_with_gz_suffix = write(tmp_path / "images-idx2-ubyte.gz", idx_bytes(array))
    np.testing.assert_array_equal(read_idx(gzipped_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), array)


def test_read_idx_returns_a_writable_array(tmp_path):
    loaded = read_idx(write(tmp_path / "a.idx", idx_bytes(np.zeros(3, dtype=np.uint8))))
    loaded[0] = 1
    assert loaded[0] == 1


GOOD_IDX = idx_bytes(np.arange(12, dtype=np.int16).reshape(3, 4))  # 12-byte header + 24 bytes


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x00" + GOOD_IDX[2:], "two zero bytes"),
        (GOOD_IDX[:2] + b"\x0a" + GOOD_IDX[3:], "type code 0x0A"),
        (GOOD_IDX[:3] + b"\x00" + GOOD_IDX[4:], "0 dimensions"),
        (GOOD_IDX[:3] + b"\x09" + GOOD_IDX[4:], "9 dimensions"),
        (GOOD_IDX[:2], "too short"),
        (GOOD_IDX[:10], "truncated header"),
        (GOOD_IDX[:-1], r"truncated.*24 bytes.*found 23"),
        (GOOD_IDX + b"\x00", r"trailing bytes.*24 bytes.*found 25"),
        (gzip.compress(GOOD_IDX)[:-10], "gzip"),
        (gzip.compress(GOOD_IDX)[:12] + b"\xff" * 8 + gzip.compress(GOOD_IDX)[20:], "gzip"),
        (gzip.compress(GOOD_IDX)[:-8] + b"\x00" * 8, "gzip"),
    ],
    ids=[
        "bad-magic",
        "unknown-type-code",
        "no-dimensions",
        "too-many-dimensions",
        "shorter-than-magic",
        "truncated-header",
        "truncated-payload",
        "trailing-bytes",
        "truncated-gzip",
        "corrupt-gzip-stream",
        "bad-gzip-checksum",
    ],
)
def test_read_idx_rejects_malformed_files_with_idx_format_error(tmp_path, content, message):
    path = write(tmp_path / "broken-idx3-ubyte", content)
    with pytest.raises(IdxFormatError, match=message) as raised:
        read_idx(path)
    assert str(path) in str(raised.value)


def test_idx_format_error_is_a_value_error():
    assert issubclass(IdxFormatError, ValueError)


# ---------------------------------------------------------------- load_idx_images


def write_idx_pair(tmp_path, images, labels):
    images_path = write(tmp_path / "images-idx3-ubyte.gz", gzip.compress(idx_bytes(images)))
    labels_path = write(tmp_path / "labels-idx1-ubyte", idx_bytes(labels))
    return images_path, labels_path


def test_load_idx_images_gives_unit_grey_float32_images_and_int64_labels(tmp_path):
    raw_images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    raw_labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    images, labels = load_idx_images(*write_idx_pair(tmp_path, raw_images, raw_labels))
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    assert labels.dtype == np.int64 and labels.tolist() == [3, 1, 4, 1, 5]
    np.testing.assert_array_equal(images[..., 0] * 255, raw_images)


def test_load_idx_images_rejects_mismatched_counts(tmp_path):
    paths = write_idx_pair(tmp_path, np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_idx_images(*paths)


def test_load_idx_images_rejects_images_that_are_not_28x28(tmp_path):
    paths = write_idx_pair(tmp_path, np.zeros((5, 32, 32), np.uint8), np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\).*\(5, 32, 32\)"):
        load_idx_images(*paths)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_load_idx_images_reads_the_debian_fashion_mnist_test_set():
    images, labels = load_idx_images(
        FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz",
        FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz",
    )
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10


def test_training_batches_take_an_eager_tensor_as_they_take_an_array():
    images, _ = data.load_mnist("test")
    as_array = list(data.training_batches(images[:300], 128, epoch=2, seed=4))
    as_tensor = list(data.training_batches(tf.constant(images[:300]), 128, epoch=2, seed=4))
    assert all(np.array_equal(a, b) for a, b in zip(as_array, as_tensor)) and len(as_tensor) == 3


@pytest.mark.parametrize("bad", [tf.zeros((4, 28, 28)), tf.fill((2, 28, 28, 1), 2.0), tf.zeros((0, 28, 28, 1))])
def test_training_batches_check_an_eager_tensor_too(bad):
    with pytest.raises(ValueError, match="expected"):
        data.training_batches(bad, 2, epoch=0)
