"""vae.models: the public contract every chapter relies on."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae.models import ConvVAE, MLPVAE, build_model


def test_encode_returns_mean_and_log_var_per_example(model, binary_images):
    mean, log_var = model.encode(binary_images)
    assert mean.shape == log_var.shape == (8, model.latent_dim)


def test_mean_and_log_var_come_from_separate_heads(model, binary_images):
    """The article's encoder used one layer for both, making them identical."""
    mean, log_var = model.encode(binary_images)
    assert not np.allclose(mean.numpy(), log_var.numpy())
    mean_head = model.encoder.get_layer("mean")
    log_var_head = model.encoder.get_layer("log_var")
    assert mean_head is not log_var_head


def test_decode_returns_logits_shaped_like_the_images(model):
    z = np.zeros((5, model.latent_dim), np.float32)
    assert model.decode(z).shape == (5, 28, 28, 1)


def test_conv_decoder_uses_transposed_convolutions(conv_model):
    kinds = {type(layer).__name__ for layer in conv_model.decoder.layers}
    assert "Conv2DTranspose" in kinds


def test_sample_gives_images_in_the_unit_interval(model):
    images = model.sample(6, seed=1).numpy()
    assert images.shape == (6, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_sample_with_a_seed_is_repeatable_and_seeds_differ(model):
    np.testing.assert_array_equal(model.sample(3, seed=1), model.sample(3, seed=1))
    assert not np.array_equal(model.sample(3, seed=1), model.sample(3, seed=2))


def test_reparameterize_is_mean_plus_std_times_noise(model):
    mean = tf.fill((4, model.latent_dim), 2.0)
    log_var = tf.fill((4, model.latent_dim), np.log(9.0))  # standard deviation 3
    z = model.reparameterize(mean, log_var, seed=7)
    eps = model.reparameterize(tf.zeros_like(mean), tf.zeros_like(log_var), seed=7)
    np.testing.assert_allclose(z, 2.0 + 3.0 * eps.numpy(), rtol=1e-5)


def test_reparameterize_without_seed_draws_fresh_noise(model):
    zeros = tf.zeros((2, model.latent_dim))
    assert not np.array_equal(model.reparameterize(zeros, zeros), model.reparameterize(zeros, zeros))


def test_contract_holds_inside_tf_function_with_unknown_batch_size(model, binary_images):
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def round_trip(x):
        mean, log_var = model.encode(x)
        z = model.reparameterize(mean, log_var)
        return mean, z, model.decode(z)

    for batch in (1, 3, 8):
        mean, z, logits = round_trip(binary_images[:batch])
        assert mean.shape == z.shape == (batch, model.latent_dim)
        assert logits.shape == (batch, 28, 28, 1)


def test_fit_trains_and_validates_reporting_loss_reconstruction_and_kl(model, binary_images):
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(binary_images).batch(4)
    history = model.fit(data, validation_data=data, epochs=1, verbose=0, shuffle=False).history
    assert set(history) == {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}
    assert history["loss"][0] == pytest.approx(history["reconstruction"][0] + history["kl"][0], rel=1e-4)


def test_a_few_train_steps_reduce_the_loss_on_a_small_batch(model, binary_images):
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = float(model.compute_losses(binary_images, seed=0)["loss"])
    data = tf.data.Dataset.from_tensor_slices(binary_images).batch(8).repeat(30)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    after = float(model.compute_losses(binary_images, seed=0)["loss"])
    assert after < before - 50.0  # from ~545 nats of random logits; 30 steps take off well over 50


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 28, 28, 1), np.uint8), "uint8"),
    (np.full((2, 28, 28, 1), 255.0, np.float32), r"0-255"),
    (np.zeros((2, 28, 28), np.float32), "channel axis"),
    (np.zeros((2, 784), np.float32), r"shape \(2, 784\)"),
    (np.full((2, 28, 28, 1), -0.5, np.float32), r"values in \[-0.5"),
    (np.full((2, 28, 28, 1), np.nan, np.float32), "NaN"),
])
def test_bad_images_raise_a_clear_value_error(model, bad, message):
    with pytest.raises(ValueError, match="expected float images in \\[0, 1\\] shaped \\(batch, 28, 28, 1\\)") as error:
        model.encode(bad)
    assert error.match(message)


def test_bad_dtype_is_caught_when_a_tf_function_is_traced(model):
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.uint8)])
    def encode(x):
        return model.encode(x)

    with pytest.raises(ValueError, match="uint8"):
        encode.get_concrete_function()


def test_decode_refuses_codes_of_the_wrong_size(model):
    with pytest.raises(ValueError, match=f"\\(batch, {model.latent_dim}\\)"):
        model.decode(np.zeros((2, model.latent_dim + 1), np.float32))


@pytest.mark.parametrize("n", [0, -1, 2.0])
def test_sample_refuses_a_bad_count(model, n):
    with pytest.raises(ValueError, match="n must be a positive int"):
        model.sample(n)


def test_constructors_refuse_bad_sizes():
    with pytest.raises(ValueError, match="latent_dim"):
        ConvVAE(latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        MLPVAE(hidden=())
    with pytest.raises(ValueError, match="filters"):
        ConvVAE(filters=(8, 16, 32))
    with pytest.raises(ValueError, match="beta"):
        MLPVAE(latent_dim=2, beta=-1.0)


def test_build_model_round_trips_the_config(model):
    rebuilt = build_model(model.get_config())
    assert type(rebuilt) is type(model)
    assert rebuilt.get_config() == model.get_config()
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


def test_build_model_refuses_an_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'gan'"):
        build_model({"architecture": "gan", "latent_dim": 2})
    with pytest.raises(ValueError, match="bad configuration"):
        build_model({"architecture": "mlp", "latent_dim": 2, "wings": 3})


def test_mlp_matches_burda_et_al_one_layer_architecture():
    model = MLPVAE(latent_dim=50, hidden=(200, 200), activation="tanh")
    dense = [layer.units for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [200, 200, 50, 50]  # two hidden layers, then the mean and log-variance heads


def test_a_model_built_under_mixed_bfloat16_trains_with_float32_losses(binary_images):
    import keras

    from vae.models import MLPVAE

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = MLPVAE(latent_dim=3, hidden=(16,), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        assert model.decoder.layers[-2].compute_dtype == "bfloat16"
        mean, log_var = model.encode(binary_images)
        assert mean.dtype == log_var.dtype == model.decode(mean).dtype == tf.float32
        history = model.fit(tf.data.Dataset.from_tensor_slices(binary_images).batch(4), verbose=0)
        assert np.isfinite(history.history["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")
