"""vae.conditional: a VAE whose encoder and decoder both see the label."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae import conditional

LATENT = 3


@pytest.fixture
def cvae():
    return conditional.ConditionalVAE(latent_dim=LATENT, hidden=(32, 16), seed=5)


@pytest.fixture
def labels():
    return np.array([0, 1, 2, 3, 4, 5, 6, 9], dtype=np.int64)


def test_encode_gives_a_mean_and_a_log_variance_per_image(cvae, binary_images, labels):
    mean, log_var = cvae.encode(binary_images, labels)
    assert mean.shape == (8, LATENT) and log_var.shape == (8, LATENT)


def test_decode_gives_image_shaped_logits(cvae, labels):
    logits = cvae.decode(np.zeros((8, LATENT), np.float32), labels)
    assert logits.shape == (8, 28, 28, 1)


def test_sample_gives_one_image_in_the_unit_interval_per_label(cvae):
    images = cvae.sample(np.arange(10), seed=1).numpy()
    assert images.shape == (10, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_sample_with_a_seed_is_repeatable(cvae):
    np.testing.assert_array_equal(cvae.sample([3, 7], seed=4).numpy(), cvae.sample([3, 7], seed=4).numpy())


def test_the_label_changes_the_decoded_image(cvae):
    z = np.zeros((2, LATENT), np.float32)
    images = tf.sigmoid(cvae.decode(z, np.array([1, 8]))).numpy()
    assert not np.allclose(images[0], images[1])


def test_integer_and_one_hot_labels_give_the_same_code(cvae, binary_images, labels):
    from_integers = cvae.encode(binary_images, labels)[0].numpy()
    from_one_hot = cvae.encode(binary_images, np.eye(10, dtype=np.float32)[labels])[0].numpy()
    np.testing.assert_allclose(from_integers, from_one_hot, rtol=1e-6)


@pytest.mark.parametrize("bad", [
    np.array([0, 10]),                      # out of range
    np.array([-1, 2]),                      # negative
    np.array([1.0, 2.0]),                   # floats where integers belong
    np.array([[1, 2]]),                     # wrong rank for integer labels
    np.array([[0.5, 0.5] + [0.0] * 8] * 2, np.float32),  # not one-hot
    np.zeros((2, 9), np.float32),           # wrong number of classes
])
def test_bad_labels_raise_a_value_error(cvae, bad):
    with pytest.raises(ValueError, match="labels"):
        cvae.sample(bad)


def test_a_label_count_that_differs_from_the_batch_raises(cvae, binary_images):
    with pytest.raises(ValueError, match="labels"):
        cvae.encode(binary_images, np.array([1, 2, 3]))


def test_one_hot_labels_of_integers():
    np.testing.assert_array_equal(conditional.one_hot_labels(np.array([2, 0]), 3).numpy(),
                                  [[0, 0, 1], [1, 0, 0]])


def test_labelled_batches_keep_each_label_with_its_image():
    images = np.zeros((20, 28, 28, 1), np.float32)
    labels = np.arange(20) % 10
    images[np.arange(20), 0, 0, 0] = labels / 9.0  # the label is written into pixel (0, 0)
    seen = []
    for x, y in conditional.labelled_batches(images, labels, batch_size=6, epoch=1, binarize=False):
        np.testing.assert_allclose(x.numpy()[:, 0, 0, 0], y.numpy() / 9.0, rtol=1e-6)
        seen.extend(y.numpy().tolist())
    assert sorted(seen) == sorted(labels.tolist())


def test_labelled_batches_binarize_to_zeros_and_ones():
    images = np.full((4, 28, 28, 1), 0.5, np.float32)
    x, _ = next(iter(conditional.labelled_batches(images, np.arange(4), batch_size=4)))
    assert set(np.unique(x.numpy())) <= {0.0, 1.0}


def test_labelled_batches_refuse_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        conditional.labelled_batches(np.zeros((4, 28, 28, 1), np.float32), np.arange(3), batch_size=2)


def test_fit_reduces_the_loss_on_a_tiny_batch(cvae, binary_images, labels):
    cvae.compile(optimizer=keras.optimizers.Adam(1e-2))
    data = tf.data.Dataset.from_tensors((binary_images, labels))
    before = float(cvae.compute_losses(binary_images, labels, seed=0)["loss"])
    history = cvae.fit(data, epochs=30, verbose=0, shuffle=False)
    after = float(cvae.compute_losses(binary_images, labels, seed=0)["loss"])
    assert set(history.history) == {"loss", "reconstruction", "kl"}
    assert after < 0.7 * before


def test_evaluate_reports_the_three_metrics(cvae, binary_images, labels):
    cvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensors((binary_images, labels))
    results = cvae.evaluate(data, verbose=0, return_dict=True)
    assert set(results) == {"loss", "reconstruction", "kl"}
    assert results["kl"] >= 0.0
