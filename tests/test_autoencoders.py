"""vae.autoencoders: PCA and plain autoencoders, the baselines of chapter 2."""

import numpy as np
import pytest

from vae.autoencoders import PCA, Autoencoder, mean_squared_error_per_pixel, train_autoencoder


@pytest.fixture
def grey_images():
    """Forty reproducible grey 'images' (40, 28, 28, 1) in [0, 1]."""
    return np.random.default_rng(0).random((40, 28, 28, 1)).astype(np.float32)


@pytest.fixture
def low_rank_images():
    """600 images (600, 28, 28, 1) in [0, 1], each a mix of the same three random patterns.

    They span a 3-dimensional subspace exactly: image = codes @ patterns with
    codes (600, 3) and patterns (3, 784).
    """
    rng = np.random.default_rng(1)
    patterns = rng.random((3, 784))
    codes = rng.random((600, 3)) * np.array([0.6, 0.3, 0.1])
    return (codes @ patterns).astype(np.float32).reshape(-1, 28, 28, 1)


def test_pca_reconstruction_is_exact_at_full_rank(grey_images):
    pca = PCA.fit(grey_images, rank=len(grey_images))  # 40 images span at most 39 centred directions
    np.testing.assert_allclose(pca.reconstruct(grey_images), grey_images, atol=1e-4)


def test_pca_error_decreases_as_the_rank_grows(grey_images):
    pca = PCA.fit(grey_images, rank=30)
    errors = [mean_squared_error_per_pixel(grey_images, pca.truncated(r).reconstruct(grey_images))
              for r in (1, 2, 5, 10, 20, 30)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))


def test_pca_components_are_orthonormal_and_codes_have_the_rank_as_width(grey_images):
    pca = PCA.fit(grey_images, rank=5)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(5), atol=1e-8)
    assert pca.encode(grey_images).shape == (40, 5)
    assert pca.decode(np.zeros((3, 5))).shape == (3, 28, 28, 1)


def test_pca_decodes_the_zero_code_to_the_mean_image(grey_images):
    pca = PCA.fit(grey_images, rank=3)
    np.testing.assert_allclose(pca.decode(np.zeros((1, 3)))[0].ravel(), grey_images.mean(axis=0).ravel(),
                               atol=1e-6)


def test_pca_recovers_a_low_rank_set_exactly_with_enough_components(low_rank_images):
    pca = PCA.fit(low_rank_images, rank=3)  # the mean plus 3 directions: more than enough
    assert mean_squared_error_per_pixel(low_rank_images, pca.reconstruct(low_rank_images)) < 1e-10


def test_pca_of_many_images_matches_the_svd_of_the_centred_data():
    """Above 784 images the fit goes through the scatter matrix; it must agree with the SVD."""
    spread = np.linspace(1.0, 0.1, 784).reshape(28, 28, 1)  # distinct variances: well-separated directions
    images = (np.random.default_rng(3).random((800, 28, 28, 1)) * spread).astype(np.float32)
    centred = images.reshape(800, -1).astype(np.float64)
    centred -= centred.mean(axis=0)
    _, singular_values, right_vectors = np.linalg.svd(centred, full_matrices=False)
    pca = PCA.fit(images, rank=4)
    np.testing.assert_allclose(pca.singular_values, singular_values[:4], rtol=1e-4)
    np.testing.assert_allclose(np.abs(np.sum(pca.components * right_vectors[:4], axis=1)), 1.0, atol=1e-4)


def test_pca_refuses_a_rank_above_the_data(grey_images):
    with pytest.raises(ValueError, match="rank"):
        PCA.fit(grey_images, rank=41)


def test_autoencoder_maps_images_to_codes_and_back(grey_images):
    model = Autoencoder(bottleneck=6, hidden=(32,))
    codes = model.encode(grey_images)
    assert codes.shape == (40, 6)
    assert model.decode(codes).shape == (40, 28, 28, 1)
    assert model(grey_images).shape == (40, 28, 28, 1)


def test_deep_autoencoder_outputs_grey_levels(grey_images):
    outputs = Autoencoder(bottleneck=4, hidden=(16,))(grey_images).numpy()
    assert outputs.min() >= 0.0 and outputs.max() <= 1.0


def test_linear_autoencoder_is_two_dense_layers_without_activation():
    model = Autoencoder(bottleneck=3, linear=True)
    assert model.count_params() == (784 * 3 + 3) + (3 * 784 + 784)
    dense = [layer for net in (model.encoder, model.decoder) for layer in net.layers
             if type(layer).__name__ == "Dense"]
    assert [layer.units for layer in dense] == [3, 784]
    assert all(layer.activation.__name__ == "linear" for layer in dense)


def test_same_seed_gives_same_initial_weights(grey_images):
    first = Autoencoder(bottleneck=4, hidden=(16,), seed=5)(grey_images)
    second = Autoencoder(bottleneck=4, hidden=(16,), seed=5)(grey_images)
    np.testing.assert_array_equal(first, second)


def test_linear_autoencoder_reaches_about_the_pca_error(low_rank_images):
    """A linear AE trained with squared error spans the PCA subspace, so its error is PCA's."""
    train, test = low_rank_images[:500], low_rank_images[500:]
    noise = np.random.default_rng(2).normal(scale=0.01, size=train.shape)
    noisy_train = np.clip(train + noise, 0.0, 1.0).astype(np.float32)
    pca_error = mean_squared_error_per_pixel(test, PCA.fit(noisy_train, 2).reconstruct(test))
    _, ae_error = train_autoencoder(2, noisy_train, test, linear=True, epochs=20, batch_size=25,
                                    learning_rate=1e-2, seed=0)
    assert ae_error == pytest.approx(pca_error, rel=0.15)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 28, 28, 1), np.uint8), "dtype uint8"),
    (np.full((2, 28, 28, 1), 255.0, np.float32), "values in"),
    (np.zeros((2, 28, 28), np.float32), "shape"),
])
def test_bad_images_raise_a_clear_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        Autoencoder(bottleneck=2, hidden=(8,)).encode(bad)
    with pytest.raises(ValueError, match=message):
        PCA.fit(bad, rank=1)


def test_codes_of_the_wrong_width_are_refused(grey_images):
    with pytest.raises(ValueError, match="codes"):
        PCA.fit(grey_images, rank=3).decode(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="latent"):
        Autoencoder(bottleneck=3, hidden=(8,)).decode(np.zeros((2, 4), np.float32))


def test_mean_squared_error_is_per_pixel():
    images = np.zeros((2, 28, 28, 1), np.float32)
    assert mean_squared_error_per_pixel(images, images + 0.5) == pytest.approx(0.25)
