"""One way to derive seeds, one batch pipeline: keys, neighbouring evaluations, labelled batches."""

import numpy as np
import pytest
import tensorflow as tf

from vae import data, evaluation, rate_distortion
from vae.seeding import stateless_seed


def test_stateless_seed_folds_an_index_into_a_key():
    key = stateless_seed(3, 5)
    sub_keys = [stateless_seed(key, index).numpy() for index in range(4)]
    assert all(k.shape == (2,) and k.dtype == np.int64 for k in sub_keys)
    assert len({tuple(k) for k in sub_keys}) == 4
    np.testing.assert_array_equal(stateless_seed(key, 2),
                                  tf.random.experimental.stateless_fold_in(key, tf.constant(2, tf.int64)))


def test_neighbouring_evaluation_seeds_draw_independent_samples(mlp_model, binary_images):
    """With seed + batch, evaluate(seed=1)'s batch 0 drew evaluate(seed=0)'s batch 1: then this identity held."""
    digits = binary_images[:4]
    twice = evaluation.evaluate(mlp_model, np.concatenate([digits, digits]), k=3, batch_size=4, seed=0)
    first = evaluation.evaluate(mlp_model, digits, k=3, batch_size=4, seed=0)
    second = evaluation.evaluate(mlp_model, digits, k=3, batch_size=4, seed=1)
    assert abs((2 * twice.elbo - first.elbo) - second.elbo) > 1e-3
    assert abs((2 * twice.nll - first.nll) - second.nll) > 1e-3


def test_evaluate_refuses_a_seed_that_does_not_fit(mlp_model, binary_images):
    with pytest.raises(ValueError, match="seed"):
        evaluation.evaluate(mlp_model, binary_images, k=1, seed=2**31)


def test_rate_and_distortion_refuses_draws_that_would_repeat(mlp_model, binary_images):
    with pytest.raises(ValueError, match="samples"):
        rate_distortion.rate_and_distortion(mlp_model, binary_images, samples=1001)


def test_training_batches_carry_labels_with_their_images():
    images, labels = data.load_mnist("test")
    images, labels = images[:50], labels[:50]
    plain = list(data.training_batches(images, 16, epoch=2, seed=1))
    labelled = list(data.training_batches(images, 16, epoch=2, seed=1, labels=labels))
    assert len(plain) == len(labelled) == 4
    for batch, (x, y) in zip(plain, labelled):
        np.testing.assert_array_equal(batch, x)
        assert y.dtype == tf.int64
    order = np.concatenate([y.numpy() for _, y in data.training_batches(images, 16, epoch=2, seed=1, labels=np.arange(50))])
    np.testing.assert_array_equal(np.concatenate([y for _, y in labelled]), labels[order])


def test_training_batches_refuse_labels_that_do_not_match():
    images = np.zeros((5, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        data.training_batches(images, 2, epoch=0, labels=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="integer labels"):
        data.training_batches(images, 2, epoch=0, labels=np.zeros(5, np.float32))
