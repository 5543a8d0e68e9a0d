"""vae.checks and vae.seeding."""

import numpy as np
import pytest
import tensorflow as tf

from vae.checks import check_images, check_positive_int
from vae.seeding import stateless_seed


def test_check_images_accepts_float_images_and_returns_float32():
    images = np.random.default_rng(0).random((2, 28, 28, 1))  # float64
    checked = check_images(images)
    assert checked.dtype == tf.float32 and checked.shape == (2, 28, 28, 1)


def test_check_images_asserts_the_value_range_inside_a_graph():
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def check(x):
        return check_images(x)

    check(tf.zeros((1, 28, 28, 1)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="values above 1"):
        check(tf.fill((1, 28, 28, 1), 255.0))


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "3"])
def test_check_positive_int_names_the_argument(value):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        check_positive_int(value, "batch_size")


def test_stateless_seed_makes_the_int64_pair():
    pair = stateless_seed(7, tf.constant(3))
    assert pair.dtype == tf.int64
    np.testing.assert_array_equal(pair, [7, 3])
