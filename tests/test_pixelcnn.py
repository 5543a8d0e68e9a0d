"""vae.pixelcnn: the PixelCNN decoder conditioned on z (causality, the contract, bounds, free bits, training, CLI)."""

import numpy as np
import pytest
import tensorflow as tf

from vae import checkpoint, cli, losses
from vae.models import build_model
from vae.pixelcnn import PixelCNNVAE, kl_per_unit, kl_units, vertical_reach

ENCODER = {"filters": (4, 8), "hidden": 16}


def small(layers=3, channels=8, latent_dim=3, seed=0, **options):
    return PixelCNNVAE(latent_dim=latent_dim, pixelcnn_layers=layers, pixelcnn_channels=channels, seed=seed,
                       **ENCODER, **options)


def digits(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1)) < 0.2).astype("float32")


def sharpen(model, scale=3.0, seed=0):
    """Scale the decoder's weights up so that every dependency shows in the logits (at init they are tiny)."""
    rng = np.random.default_rng(seed)
    for weight in model.decoder.weights:
        weight.assign(weight.numpy() * scale + 0.05 * rng.standard_normal(weight.shape).astype("float32"))


def jacobian_row(model, x, z, row, column):
    """d logit(row, column) / d x: ``(28, 28)``."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = model.decode_logits(x, z)[0, row, column, 0]
    return tape.gradient(logit, x).numpy()[0, :, :, 0]


@pytest.mark.parametrize("row, column", [(0, 0), (0, 5), (3, 0), (7, 27), (13, 14), (27, 27)])
def test_a_pixels_logit_depends_on_the_pixels_before_it_only(row, column):
    model = small(layers=4)
    sharpen(model)
    x, z = digits(1, seed=row), tf.random.stateless_normal((1, 3), seed=[row, column])
    gradient = np.abs(jacobian_row(model, x, z, row, column))
    index = row * 28 + column
    assert np.all(gradient.reshape(-1)[index:] == 0.0)  # itself and every later pixel in raster order: none
    if column > 0:
        assert gradient[row, column - 1] > 0  # the pixel to its left
    if row > 0:
        assert gradient[row - 1, column] > 0  # the one above
        if column < 27:
            assert gradient[row - 1, column + 1] > 0  # above right: no blind spot


def test_the_vertical_receptive_field_stops_where_vertical_reach_says():
    layers = 2
    model = small(layers=layers)
    sharpen(model)
    row, reach = 20, vertical_reach(layers)
    gradient = np.abs(jacobian_row(model, digits(1), tf.zeros((1, 3)), row, 14))
    rows_seen = np.flatnonzero(gradient[:row].sum(1))
    assert rows_seen.min() == row - 1 - reach  # a restricted receptive field: nothing above this row


def test_the_logits_depend_on_z():
    model = small()
    sharpen(model)
    x = digits(1)
    z = tf.zeros((1, 3))
    with tf.GradientTape() as tape:
        tape.watch(z)
        total = tf.reduce_sum(model.decode_logits(x, z))
    assert np.all(np.abs(tape.gradient(total, z).numpy()) > 0)


def test_log_prob_is_the_bernoulli_likelihood_of_the_teacher_forced_logits():
    model = small()
    x, z = digits(4), tf.random.stateless_normal((4, 3), seed=[0, 1])
    expected = losses.bernoulli_log_likelihood(x, model.decode_logits(x, z))
    np.testing.assert_array_equal(model.log_prob(x, z).numpy(), expected.numpy())
    assert model.log_prob(x, z).shape == (4,) and np.all(model.log_prob(x, z).numpy() < 0)


def test_decode_says_what_to_call_instead():
    with pytest.raises(TypeError, match="log_prob"):
        small().decode(tf.zeros((2, 3)))


def test_an_unknown_batch_size_works_inside_tf_function():
    model = small()

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def loss_of(x):
        return model.compute_losses(x, seed=0)["loss"]

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([None, 3])])
    def log_prob(x, z):
        return model.log_prob(x, z)

    @tf.function(input_signature=[tf.TensorSpec([None, 3])])
    def generate(z):
        return model.generate(z, seed=0)

    for n in (2, 5):
        assert np.isfinite(loss_of(digits(n)).numpy())
        assert log_prob(digits(n), tf.zeros((n, 3))).shape == (n,)
        assert generate(tf.zeros((n, 3))).shape == (n, 28, 28, 1)


def test_samples_are_binary_repeatable_and_drawn_from_the_teacher_forced_logits():
    model = small(layers=6)  # a reach of 8 rows: the sampler's cropped vertical stack is exercised
    sharpen(model, scale=2.0)
    z = tf.random.stateless_normal((3, 3), seed=[2, 2])
    images, logits = model.generate(z, seed=4, return_logits=True)
    assert images.shape == logits.shape == (3, 28, 28, 1)
    assert set(np.unique(images.numpy())) <= {0.0, 1.0} and 0 < images.numpy().mean() < 1
    np.testing.assert_allclose(logits.numpy(), model.decode_logits(images, z).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(images.numpy(), model.generate(z, seed=4).numpy())
    assert not np.array_equal(images.numpy(), model.generate(z, seed=5).numpy())
    samples = model.sample(2, seed=0)
    assert samples.shape == (2, 28, 28, 1) and set(np.unique(samples.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(samples.numpy(), model.sample(2, seed=0).numpy())
    assert model.reconstruct(digits(2)).shape == (2, 28, 28, 1)


def test_the_elbo_is_below_the_iwae_bound():
    model = small()
    sharpen(model, scale=1.5)
    x = digits(4)
    elbo = np.array([losses.iwae_bound(model, x, k=1, seed=[s, 0]).numpy() for s in range(128)])
    iwae = np.array([losses.iwae_bound(model, x, k=32, seed=[1000 + s, 0]).numpy() for s in range(8)])
    terms = losses.elbo_terms(model, x, seed=0)
    assert terms["log_likelihood"].shape == terms["kl"].shape == (4,)
    stderr = np.sqrt(elbo.var(0) / len(elbo) + iwae.var(0) / len(iwae))
    assert np.all(elbo.mean(0) <= iwae.mean(0) + 4 * stderr)


def test_on_a_one_dimensional_code_the_bounds_stay_below_the_exact_log_likelihood():
    model = small(latent_dim=1, layers=2, channels=4)
    sharpen(model, scale=2.0)
    x = digits(2, seed=4)
    grid = np.linspace(-8.0, 8.0, 801).astype("float32")[:, None]
    log_px_z = np.stack([model.log_prob(np.repeat(x[i:i + 1], len(grid), 0), grid).numpy() for i in range(2)])
    log_joint = log_px_z + model.prior.log_prob(grid).numpy()[None, :]
    top = log_joint.max(1, keepdims=True)
    exact = top[:, 0] + np.log(np.exp(log_joint - top).sum(1) * (grid[1, 0] - grid[0, 0]))
    estimates = np.stack([losses.iwae_bound(model, x, k=50, seed=[s, 1]).numpy() for s in range(10)])
    elbos = np.stack([losses.elbo(model, x, seed=s).numpy() for s in range(100)])
    iwae, iwae_error = estimates.mean(0), estimates.std(0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(iwae <= exact + 4 * iwae_error + 1e-3), (iwae, iwae_error, exact)
    assert np.all(elbos.mean(0) <= iwae + 4 * (iwae_error + elbos.std(0) / 10))


def test_free_bits_floors_each_units_batch_mean_kl():
    model = small(free_bits=0.5, beta=1.0)
    x = digits(8)
    values = model.compute_losses(x, seed=3)
    mean, log_var = model.encode(x)
    z = model.reparameterize(mean, log_var, seed=3)
    per_unit = kl_units(mean, log_var).numpy().mean(0)
    np.testing.assert_allclose(values["kl_floored"].numpy(), np.maximum(per_unit, 0.5).sum(), rtol=1e-5)
    np.testing.assert_allclose(values["kl"].numpy(), model.prior.kl(mean, log_var, z).numpy().mean(), rtol=1e-5)
    np.testing.assert_allclose(values["loss"].numpy(), (values["reconstruction"] + values["kl_floored"]).numpy(),
                               rtol=1e-6)
    assert per_unit.max() < 0.5  # an untrained encoder: every unit under the floor ...
    heads = [w for w in model.encoder.weights if w.path.startswith(("mean", "log_var"))]
    with tf.GradientTape(persistent=True) as tape:
        values = model.compute_losses(x, seed=3)
    # ... so the KL gives the encoder no gradient: the loss's gradient is the reconstruction's alone
    for loss_grad, reconstruction_grad in zip(tape.gradient(values["loss"], heads),
                                              tape.gradient(values["reconstruction"], heads)):
        np.testing.assert_allclose(loss_grad.numpy(), reconstruction_grad.numpy(), rtol=1e-5, atol=1e-7)
    plain = small().compute_losses(x, seed=3)
    np.testing.assert_allclose(plain["loss"].numpy(), (plain["reconstruction"] + plain["kl"]).numpy(), rtol=1e-6)


def test_free_bits_needs_the_standard_prior():
    with pytest.raises(ValueError, match="standard normal"):
        small(free_bits=0.5, prior="vampprior", pseudo_inputs=3)


def test_kl_per_unit_sums_to_the_mean_kl():
    model = small()
    x = digits(30)
    units = kl_per_unit(model, x, batch_size=7)
    mean, log_var = model.encode(x)
    assert len(units) == 3
    np.testing.assert_allclose(sum(units), losses.kl_standard_normal(mean, log_var).numpy().mean(), rtol=1e-5)


def test_a_few_training_steps_reduce_the_loss():
    tf.keras.utils.set_random_seed(0)
    model = small(free_bits=0.1)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    x = digits(64, seed=1)
    before = model.compute_losses(x, seed=0)["loss"].numpy()
    history = model.fit(x, batch_size=16, epochs=3, verbose=0).history
    assert set(history) == {"loss", "reconstruction", "kl", "kl_floored"}
    assert model.compute_losses(x, seed=0)["loss"].numpy() < before - 10


def test_the_config_rebuilds_the_model_and_checkpoints_round_trip_bit_exactly(tmp_path):
    model = small(seed=3, free_bits=0.25)
    sharpen(model, seed=1)
    config = model.get_config()
    assert config["decoder"] == "pixelcnn" and config["free_bits"] == 0.25 and config["architecture"] == "conv"
    checkpoint.save_checkpoint(model, tmp_path, {"note": "test"})
    loaded, _ = checkpoint.load_checkpoint(tmp_path)
    assert isinstance(loaded, PixelCNNVAE) and loaded.free_bits == 0.25
    assert len(loaded.weights) == len(model.weights)
    for saved, restored in zip(model.weights, loaded.weights):
        assert saved.path == restored.path
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())
    x, z = digits(2), tf.random.stateless_normal((2, 3), seed=[0, 1])
    np.testing.assert_array_equal(model.log_prob(x, z).numpy(), loaded.log_prob(x, z).numpy())
    np.testing.assert_array_equal(model.generate(z, seed=1).numpy(), loaded.generate(z, seed=1).numpy())


def test_build_model_refuses_a_pixelcnn_decoder_on_the_mlp_and_unknown_decoders():
    with pytest.raises(ValueError, match="decoder"):
        build_model({"architecture": "mlp", "latent_dim": 2, "decoder": "pixelcnn"})
    with pytest.raises(ValueError, match="decoder"):
        build_model({"architecture": "conv", "latent_dim": 2, "decoder": "wavenet"})


def test_under_mixed_bfloat16_the_losses_are_finite_and_sampling_works():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = small()
        values = model.compute_losses(digits(3), seed=0)
        assert all(np.isfinite(value.numpy()) for value in values.values())
        assert model.log_prob(digits(2), tf.zeros((2, 3))).dtype == tf.float32
        images = model.generate(tf.zeros((2, 3)), seed=0)
        assert images.dtype == tf.float32 and set(np.unique(images.numpy())) <= {0.0, 1.0}
    finally:
        keras.mixed_precision.set_global_policy("float32")


TRAIN = ["train", "--name", "x", "--architecture", "conv"]


def test_the_cli_passes_the_decoder_options_and_refuses_them_elsewhere():
    parser = cli.build_parser()
    args = parser.parse_args([*TRAIN, "--decoder", "pixelcnn", "--pixelcnn-layers", "5",
                              "--pixelcnn-channels", "48", "--free-bits", "0.25"])
    assert cli._model_options(args) == {"decoder": "pixelcnn", "pixelcnn_layers": 5, "pixelcnn_channels": 48,
                                        "free_bits": 0.25}
    assert cli._model_options(parser.parse_args([*TRAIN, "--decoder", "pixelcnn"])) == {
        "decoder": "pixelcnn", "pixelcnn_layers": 6, "pixelcnn_channels": 32}
    assert cli._model_options(parser.parse_args(TRAIN)) == {}
    for wrong, message in ((["--free-bits", "1"], "--free-bits applies"),
                           (["--pixelcnn-layers", "3"], "--pixelcnn-layers applies")):
        with pytest.raises(cli.UsageError, match=message):
            cli._model_options(parser.parse_args([*TRAIN, *wrong]))
    with pytest.raises(cli.UsageError, match="architecture conv"):
        cli._model_options(parser.parse_args(["train", "--name", "x", "--architecture", "mlp",
                                              "--decoder", "pixelcnn"]))


def test_a_cli_run_resumes_records_the_kl_per_unit_and_evaluates(tmp_path, monkeypatch, capsys):
    from vae import data, evaluation

    rng = np.random.default_rng(2)
    grey = rng.random((128, 28, 28, 1)).astype("float32") * (rng.random((128, 28, 28, 1)) < 0.3)
    test = digits(20, seed=3)
    monkeypatch.setattr(data, "load_mnist", lambda split: (grey, np.zeros(len(grey), np.int64)))
    monkeypatch.setattr(data, "binarized_test_set", lambda limit=None: (test[:limit], np.zeros(len(test[:limit]))))
    run = ["train", "--name", "tiny", "--run-dir", str(tmp_path), "--decoder", "pixelcnn",
           "--pixelcnn-layers", "2", "--pixelcnn-channels", "4", "--filters", "4", "8", "--hidden", "16",
           "--latent-dim", "3", "--free-bits", "0.2", "--batch-size", "64"]
    assert cli.main([*run, "--epochs", "1"]) == 0
    assert cli.main([*run, "--epochs", "2", "--force"]) == 0  # resumes at epoch 2
    manifest = checkpoint.read_manifest(tmp_path)
    assert manifest["epochs"] == 2 and [r["epoch"] for r in manifest["history"]] == [1, 2]
    assert manifest["model"]["decoder"] == "pixelcnn" and manifest["model"]["free_bits"] == 0.2
    assert len(manifest["metrics"]["val_kl_per_unit"]) == 3
    loaded, _ = checkpoint.load_checkpoint(tmp_path)
    np.testing.assert_allclose(sum(kl_per_unit(loaded, test)), manifest["metrics"]["val_kl"], rtol=1e-3,
                               atol=1e-3)
    result = evaluation.evaluate(loaded, test, k=4, batch_size=10)
    assert np.isfinite(result.nll) and result.nll <= -result.elbo + 3 * result.nll_stderr + 5.0
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path), "--k", "2", "--limit", "10", "--batch-size", "5",
                     "--json", "--state", str(tmp_path / "partial.npz")]) == 0
    assert "nll" in capsys.readouterr().out
    assert cli.main(["sample", "--checkpoint", str(tmp_path), "-n", "2", "-o", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as stored:
        assert stored["images"].shape == (2, 28, 28, 1)


def test_the_importance_weighted_bound_runs_its_chunks_in_order_inside_tf_function_with_the_same_result():
    model = small()
    x = digits(2)
    eager = losses.iwae_bound(model, x, k=10, chunk_size=3, seed=7)
    compiled = tf.function(lambda images: losses.iwae_bound(model, images, k=10, chunk_size=3, seed=7))
    np.testing.assert_allclose(compiled(x).numpy(), eager.numpy(), rtol=1e-6)
    graph = compiled.get_concrete_function(tf.TensorSpec([None, 28, 28, 1])).graph
    waiting = [op for op in graph.get_operations() if op.type == "StatelessRandomGetKeyCounter" and op.control_inputs]
    assert len(waiting) == 3  # chunks 2 to 4 draw their noise (and so decode) only once the chunk before is done
