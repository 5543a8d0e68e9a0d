"""vae.vampprior: the VampPrior on the conv architecture (the model contract, bounds, training, checkpoints, CLI)."""

import numpy as np
import pytest
import tensorflow as tf

from vae import checkpoint, cli, losses
from vae.models import ConvVAE, MLPVAE, build_model
from vae.vampprior import VampPrior, rate_saved


def small_conv(pseudo_inputs=7, latent_dim=3, seed=0):
    return ConvVAE(latent_dim=latent_dim, filters=(4, 8), hidden=16, seed=seed, prior="vampprior",
                   pseudo_inputs=pseudo_inputs)


def digits(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1)) < 0.2).astype("float32")


def test_the_prior_is_a_vampprior_whose_only_weight_is_the_pseudo_inputs():
    model = small_conv()
    assert isinstance(model.prior, VampPrior)
    assert [w.shape for w in model.prior.weights] == [(7, 28, 28, 1)]
    assert len(model.weights) == len(ConvVAE(latent_dim=3, filters=(4, 8), hidden=16).weights) + 1
    pseudo = model.prior.pseudo_inputs().numpy()
    assert pseudo.shape == (7, 28, 28, 1) and pseudo.min() >= 0.0 and pseudo.max() <= 1.0


def test_the_config_names_the_prior_and_rebuilds_the_same_model():
    model = small_conv()
    config = model.get_config()
    assert config["prior"] == "vampprior" and config["pseudo_inputs"] == 7
    assert isinstance(build_model(config).prior, VampPrior)
    assert "prior" not in ConvVAE(latent_dim=3).get_config()  # the shipped manifests keep their layout


def test_an_unknown_prior_is_refused():
    with pytest.raises(ValueError, match="prior"):
        build_model({"architecture": "conv", "latent_dim": 3, "prior": "flow"})


def test_log_prob_is_the_mixture_of_the_encoders_gaussians_at_the_pseudo_inputs():
    model = small_conv()
    z = tf.random.stateless_normal((5, 3), seed=[1, 2])
    mean, log_var = (t.numpy().astype(np.float64) for t in model.encode(model.prior.pseudo_inputs()))
    zs = z.numpy().astype(np.float64)[:, None, :]
    per_dim = -0.5 * (np.log(2 * np.pi) + log_var + (zs - mean) ** 2 / np.exp(log_var))
    per_component = per_dim.sum(-1)  # (5, K)
    top = per_component.max(-1, keepdims=True)
    expected = (top + np.log(np.exp(per_component - top).mean(-1, keepdims=True)))[:, 0]
    np.testing.assert_allclose(model.prior.log_prob(z).numpy(), expected, rtol=1e-5, atol=1e-4)
    assert model.prior.log_prob(tf.zeros((2, 4, 3))).shape == (2, 4)


def test_the_kl_is_the_one_sample_estimate_and_needs_the_draw():
    model = small_conv()
    mean, log_var = model.encode(digits())
    z = model.reparameterize(mean, log_var, seed=3)
    expected = losses.log_normal_density(z, mean, log_var) - model.prior.log_prob(z)
    np.testing.assert_allclose(model.prior.kl(mean, log_var, z).numpy(), expected.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="closed-form"):
        model.prior.kl(mean, log_var)


def test_seeded_samples_repeat_and_fall_near_the_components():
    model = small_conv(pseudo_inputs=1)
    first, second = model.prior.sample(4000, seed=5), model.prior.sample(4000, seed=5)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    assert not np.array_equal(first.numpy(), model.prior.sample(4000, seed=6).numpy())
    mean, log_var = model.encode(model.prior.pseudo_inputs())  # one component: a Gaussian
    standard_error = np.exp(0.5 * log_var.numpy()[0]) / np.sqrt(4000)
    assert np.all(np.abs(first.numpy().mean(0) - mean.numpy()[0]) < 5 * standard_error)
    assert model.sample(3, seed=0).shape == (3, 28, 28, 1)


def test_an_unknown_batch_size_works_inside_tf_function():
    model = small_conv()

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def losses_of(x):
        return model.compute_losses(x, seed=0)["loss"]

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def samples(n):
        return model.prior.sample(n, seed=1)

    assert np.isfinite(losses_of(digits(3)).numpy()) and np.isfinite(losses_of(digits(5)).numpy())
    assert samples(tf.constant(4)).shape == (4, 3)


def test_the_elbo_is_below_the_iwae_bound():
    model = small_conv()
    x = digits(4)
    # k = 1 is a one-sample ELBO. On an untrained model the gap is a few hundredths of a nat, the size of
    # the Monte Carlo noise, so the check is statistical: E[IWAE_64] >= E[ELBO] within 4 standard errors.
    elbo = np.array([losses.iwae_bound(model, x, k=1, seed=[s, 0]).numpy() for s in range(256)])
    iwae = np.array([losses.iwae_bound(model, x, k=64, seed=[1000 + s, 0]).numpy() for s in range(16)])
    assert elbo.shape[1:] == iwae.shape[1:] == (4,)
    stderr = np.sqrt(elbo.var(0) / len(elbo) + iwae.var(0) / len(iwae))
    assert np.all(elbo.mean(0) <= iwae.mean(0) + 4 * stderr)


def test_on_a_one_dimensional_code_the_iwae_bound_stays_below_the_exact_log_likelihood():
    model = MLPVAE(latent_dim=1, hidden=(8,), seed=0, prior="vampprior", pseudo_inputs=3)
    x = digits(3, seed=4)
    grid = np.linspace(-12.0, 12.0, 24001).astype("float32")[:, None]  # p(x) = integral of p(x|z) p(z) dz
    log_px_z = np.stack([losses.bernoulli_log_likelihood(np.repeat(x[i:i + 1], len(grid), 0),
                                                         model.decode(grid)).numpy() for i in range(3)])
    log_joint = log_px_z + model.prior.log_prob(grid).numpy()[None, :]
    top = log_joint.max(1, keepdims=True)
    exact = (top[:, 0] + np.log(np.exp(log_joint - top).sum(1) * (grid[1, 0] - grid[0, 0])))
    estimates = np.stack([losses.iwae_bound(model, x, k=100, seed=[s, 1]).numpy() for s in range(30)])
    iwae, standard_error = estimates.mean(0), estimates.std(0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(iwae <= exact + 4 * standard_error + 1e-3), (iwae, standard_error, exact)  # E[bound] <= log p(x)
    assert np.all(iwae > exact - 1.0), (iwae, exact)  # and close to it on so easy a posterior


def test_a_few_training_steps_reduce_the_loss_and_move_the_pseudo_inputs():
    tf.keras.utils.set_random_seed(0)
    model = small_conv()
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    x = digits(64, seed=1)
    before_loss = model.compute_losses(x, seed=0)["loss"].numpy()
    before_pseudo = model.prior.pseudo_inputs().numpy()
    model.fit(x, batch_size=16, epochs=4, verbose=0)
    assert model.compute_losses(x, seed=0)["loss"].numpy() < before_loss
    assert not np.allclose(model.prior.pseudo_inputs().numpy(), before_pseudo)


def test_a_checkpoint_round_trip_is_bit_exact(tmp_path):
    model = small_conv(seed=3)
    model.prior.pseudo_input_logits.assign(tf.random.stateless_normal((7, 28, 28, 1), seed=[4, 4]))
    checkpoint.save_checkpoint(model, tmp_path, {"note": "test"})
    loaded, _ = checkpoint.load_checkpoint(tmp_path)
    assert isinstance(loaded.prior, VampPrior)
    for saved, restored in zip(model.weights, loaded.weights):
        assert saved.path == restored.path
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    z = tf.random.stateless_normal((4, 3), seed=[0, 1])
    np.testing.assert_array_equal(model.prior.log_prob(z).numpy(), loaded.prior.log_prob(z).numpy())


def test_for_the_bits_back_codec_the_prior_describes_itself_as_its_components():
    compression = pytest.importorskip("vae.compression")
    model = small_conv()
    kind, means, stds = model.prior.quantized(compression.LatentGrid(), 2)
    mean, log_var = model.encode(model.prior.pseudo_inputs())
    assert kind == "mixture" and means.dtype == stds.dtype == np.float64
    assert means.shape == stds.shape == (7, 3)  # per component, whatever the batch
    np.testing.assert_allclose(means, mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(stds, np.exp(0.5 * log_var.numpy().astype(np.float64)), rtol=1e-6)


def test_the_cli_passes_the_prior_to_the_model_and_refuses_pseudo_inputs_without_it():
    parser = cli.build_parser()
    base = ["train", "--name", "x", "--architecture", "conv"]
    args = parser.parse_args([*base, "--prior", "vampprior", "--pseudo-inputs", "9"])
    assert cli._model_options(args) == {"prior": "vampprior", "pseudo_inputs": 9}
    args = parser.parse_args([*base, "--prior", "vampprior"])
    assert cli._model_options(args)["pseudo_inputs"] == 500
    with pytest.raises(cli.UsageError, match="pseudo-inputs"):
        cli._model_options(parser.parse_args([*base, "--pseudo-inputs", "9"]))


def test_under_mixed_bfloat16_the_pseudo_inputs_stay_float32_and_the_losses_finite():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = small_conv()
        assert model.prior.pseudo_input_logits.dtype == "float32"
        values = model.compute_losses(digits(4), seed=0)
        z = model.prior.sample(5, seed=0)
        assert z.dtype == tf.float32 and model.prior.log_prob(z).dtype == tf.float32
        assert all(np.isfinite(value.numpy()) for value in values.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_a_training_run_resumes_and_its_checkpoint_evaluates(tmp_path):
    from vae import evaluation, training

    rng = np.random.default_rng(2)
    grey = rng.random((256, 28, 28, 1)).astype("float32") * (rng.random((256, 28, 28, 1)) < 0.3)
    test = digits(20, seed=3)
    options = {"filters": [4, 8], "hidden": 16, "prior": "vampprior", "pseudo_inputs": 5}
    config = training.TrainConfig(architecture="conv", latent_dim=3, model_options=options, epochs=1,
                                  batch_size=64)
    training.train(config, tmp_path, train_images=grey, test_images=test)
    longer = training.TrainConfig(**{**config.as_dict(), "epochs": 2})
    _, manifest = training.train(longer, tmp_path, train_images=grey, test_images=test)  # resumes epoch 2
    assert manifest["epochs"] == 2 and manifest["model"]["prior"] == "vampprior"
    loaded, _ = checkpoint.load_checkpoint(tmp_path)
    result = evaluation.evaluate(loaded, test, k=8, batch_size=10)
    assert np.isfinite(result.nll) and result.nll <= -result.elbo + 3 * result.nll_stderr + 5.0


def gaussian_kl(mean_q, log_var_q, mean_p, log_var_p):
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) summed over the last axis, float64 nats."""
    return 0.5 * np.sum(log_var_p - log_var_q + (np.exp(log_var_q) + (mean_q - mean_p) ** 2) / np.exp(log_var_p) - 1,
                        axis=-1)


def test_rate_saved_is_the_difference_of_the_two_kls_for_a_one_component_prior():
    model = small_conv(pseudo_inputs=1)
    images = digits()
    mean, log_var = (t.numpy().astype(np.float64) for t in model.encode(images))
    component_mean, component_log_var = (t.numpy().astype(np.float64) for t in model.prior.components())
    expected = (gaussian_kl(mean, log_var, 0.0, 0.0)
                - gaussian_kl(mean, log_var, component_mean, component_log_var))
    saved = rate_saved(model, images, draws=40_000, seed=1, batch_size=4)
    assert saved.shape == (6,) and saved.dtype == np.float64
    # one draw's gain spreads by about 0.55 nats on this untrained model (measured over 20,000
    # draws), so a mean of 40,000 has a standard error near 0.003; 0.012 is four of them
    np.testing.assert_allclose(saved, expected, atol=0.012)
    np.testing.assert_array_equal(saved, rate_saved(model, images, draws=40_000, seed=1, batch_size=4))
    assert not np.array_equal(saved, rate_saved(model, images, draws=40_000, seed=2, batch_size=4))


def test_the_standard_normal_prior_saves_nothing_and_bad_arguments_are_refused():
    model = ConvVAE(latent_dim=3, filters=(4, 8), hidden=16)
    np.testing.assert_array_equal(rate_saved(model, digits(), draws=2), np.zeros(6))
    with pytest.raises(ValueError, match="draws"):
        rate_saved(small_conv(), digits(), draws=0)
