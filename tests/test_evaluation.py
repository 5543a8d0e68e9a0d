"""vae.evaluation and the bounds of vae.losses on a model whose log p(x) is exact."""

import json
import math
import shutil

import numpy as np
import pytest
import tensorflow as tf

from vae import checkpoint, evaluation, losses, pretrained, subset_evaluation
from vae.cli import main

LATENT, SIGMA = 3, 0.05


class LinearGaussian:
    """p(z) = N(0, I), p(x|z) = N(W z + b, SIGMA^2 I): log p(x) and p(z|x) are exact.

    W has orthogonal columns, so the true posterior is a diagonal Gaussian.
    ``encode`` returns that posterior, optionally spoiled (shifted mean,
    widened variance) so that the bounds are strict.
    """

    def __init__(self, shift=0.0, widen=1.0):
        rng = np.random.default_rng(0)
        basis, _ = np.linalg.qr(rng.normal(size=(784, LATENT)))
        self.scales = np.array([0.08, 0.05, 0.03])
        self.W = (basis * self.scales).astype(np.float64)  # (784, latent)
        self.b = np.full(784, 0.5)
        self.shift, self.widen = shift, widen
        self.latent_dim = LATENT

    def log_px(self, x):
        cov = self.W @ self.W.T + SIGMA ** 2 * np.eye(784)
        residual = x.reshape(len(x), 784) - self.b
        _, logdet = np.linalg.slogdet(cov)
        maha = np.einsum("ni,ij,nj->n", residual, np.linalg.inv(cov), residual)
        return -0.5 * (784 * math.log(2 * math.pi) + logdet + maha)

    def encode(self, x):
        residual = tf.reshape(tf.cast(x, tf.float64), [-1, 784]) - self.b
        post_var = SIGMA ** 2 / (SIGMA ** 2 + self.scales ** 2)
        mean = residual @ self.W * (post_var / SIGMA ** 2)
        log_var = np.log(post_var * self.widen) * tf.ones_like(mean)
        return tf.cast(mean + self.shift, tf.float32), tf.cast(log_var, tf.float32)

    def reparameterize(self, mean, log_var, seed=None):
        eps = tf.random.stateless_normal(tf.shape(mean), seed=[seed or 0, 0])
        return mean + tf.exp(0.5 * log_var) * eps

    def decode(self, z):
        mean = tf.cast(z, tf.float64) @ self.W.T + self.b
        return tf.reshape(tf.cast(mean, tf.float32), [-1, 28, 28, 1])


def gaussian(x, mean):
    return losses.gaussian_log_likelihood(x, mean, 2 * math.log(SIGMA))


@pytest.fixture(scope="module")
def points():
    """200 points near the model's mean (inside [0, 1], as images must be)."""
    rng = np.random.default_rng(1)
    x = 0.5 + rng.normal(scale=0.06, size=(200, 28, 28, 1))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def test_with_the_exact_posterior_every_bound_equals_log_px(points):
    model = LinearGaussian()
    exact = model.log_px(points[:20].astype(np.float64))
    for k in (1, 10):
        bound = losses.iwae_bound(model, points[:20], k=k, seed=3, log_likelihood=gaussian).numpy()
        np.testing.assert_allclose(bound, exact, rtol=2e-5)


def test_elbo_is_below_log_px_for_an_imperfect_posterior(points):
    model = LinearGaussian(shift=0.5, widen=3.0)
    exact = model.log_px(points.astype(np.float64))
    elbo = np.mean([losses.elbo(model, points, seed=s, log_likelihood=gaussian).numpy() for s in range(5)],
                   axis=0)
    assert np.mean(exact - elbo) > 1.0  # a clear gap, far above the sampling noise of the average


def test_iwae_bound_rises_with_k_toward_log_px(points):
    model = LinearGaussian(shift=0.5, widen=3.0)
    exact = np.mean(model.log_px(points.astype(np.float64)))
    means = [float(np.mean(losses.iwae_bound(model, points, k=k, chunk_size=256, seed=k,
                                             log_likelihood=gaussian)))
             for k in (1, 10, 100, 1000)]
    gaps = [exact - m for m in means]
    # Each tenfold k at least halves the gap here; noise of each mean over 200 points is < 0.05 nats.
    assert all(later < 0.6 * earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] > -0.05  # still a lower bound (up to the noise of the estimate)


class FixedEncoder:
    """Two latent units follow the data, three ignore it."""

    latent_dim = 5

    def encode(self, x):
        brightness = tf.reduce_mean(tf.reshape(x, [-1, 784]), axis=1, keepdims=True) * 10.0
        varying = tf.concat([brightness, -brightness], axis=1)
        constant = tf.ones_like(brightness) * tf.constant([[0.3, 0.0, -2.0]])
        mean = tf.concat([varying, constant], axis=1)
        return mean, tf.zeros_like(mean)


def test_active_units_counts_only_units_whose_mean_varies_with_the_data():
    rng = np.random.default_rng(0)
    images = rng.random((300, 28, 28, 1)).astype(np.float32) * rng.random((300, 1, 1, 1)).astype(np.float32)
    assert evaluation.active_units(FixedEncoder(), images, batch_size=64) == 2


def test_evaluate_reports_consistent_figures(mlp_model, binary_images):
    result = evaluation.evaluate(mlp_model, binary_images, k=20, batch_size=3, seed=1)
    assert result.n_images == 8 and result.k == 20 and result.latent_dim == 3
    assert result.elbo == pytest.approx(-(result.reconstruction + result.kl), rel=1e-5)
    assert result.nll_bits_per_dim == pytest.approx(result.nll / (784 * math.log(2)), rel=1e-6)
    assert result.nll_stderr > 0
    assert 0 <= result.active_units <= 3
    assert set(result.as_dict()) >= {"elbo", "nll", "nll_stderr", "kl", "reconstruction", "active_units"}


def test_evaluate_is_repeatable_with_its_seed(mlp_model, binary_images):
    first = evaluation.evaluate(mlp_model, binary_images, k=5, seed=2)
    assert first == evaluation.evaluate(mlp_model, binary_images, k=5, seed=2)


def test_evaluate_nll_estimate_does_not_grow_with_k(mlp_model, binary_images):
    small = evaluation.evaluate(mlp_model, binary_images, k=1, seed=0).nll
    large = evaluation.evaluate(mlp_model, binary_images, k=200, seed=0).nll
    assert large <= small + 0.5  # 0.5 nats: sampling noise of a one-sample estimate on 8 images


def test_evaluate_refuses_bad_images(mlp_model):
    with pytest.raises(ValueError, match="uint8"):
        evaluation.evaluate(mlp_model, np.zeros((2, 28, 28, 1), np.uint8), k=2)
    with pytest.raises(ValueError, match="at least one image"):
        evaluation.evaluate(mlp_model, np.zeros((0, 28, 28, 1), np.float32), k=2)


class StopAfter:
    """A progress callback that interrupts an evaluation after ``batches`` batches, like Ctrl-C."""

    def __init__(self, batches: int):
        self.batches, self.calls = batches, 0

    def __call__(self, images_done: int) -> None:
        self.calls += 1
        if self.calls == self.batches:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop_after", [1, 2])
def test_an_interrupted_evaluation_resumes_to_the_uninterrupted_result(mlp_model, binary_images, tmp_path,
                                                                      stop_after):
    uninterrupted = evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4)
    partial = tmp_path / "partial.npz"
    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                            progress=StopAfter(stop_after))
    with np.load(partial) as stored:
        assert len(stored["log_px"]) == 3 * stop_after  # every finished batch was kept
    reported = []
    resumed = evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                                  progress=reported.append)
    assert resumed == uninterrupted
    assert reported[0] == 3 * stop_after and sum(reported) == len(binary_images)
    assert not partial.exists()  # removed once the run completed


def test_a_partial_file_of_another_evaluation_is_refused(mlp_model, binary_images, tmp_path):
    partial = tmp_path / "partial.npz"
    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                            progress=StopAfter(1))
    for other_settings in [dict(k=8, seed=4), dict(k=7, seed=5)]:
        with pytest.raises(ValueError, match="another evaluation"):
            evaluation.evaluate(mlp_model, binary_images, batch_size=3, partial_path=partial, **other_settings)
    with pytest.raises(ValueError, match="another evaluation"):
        evaluation.evaluate(mlp_model, binary_images[::-1], k=7, batch_size=3, seed=4, partial_path=partial)
    assert partial.exists()  # a refused file is left for its owner


def test_a_damaged_partial_file_is_refused(mlp_model, binary_images, tmp_path):
    partial = tmp_path / "partial.npz"
    partial.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a partial evaluation"):
        evaluation.evaluate(mlp_model, binary_images, k=2, partial_path=partial)


# -- a fixed random subset, evaluated digit by digit and resumable (vae.subset_evaluation) --------------

SUBSET = dict(k=7, shortcut_k=3, seed=4, subset_seed=2)  # tiny stand-ins for k = 5000 beside k = 100


def state_lists(path):
    stored = json.loads(path.read_text())
    return {name: stored[name] for name in ("log_px", "log_px_shortcut", "log_likelihood", "kl")}


def test_the_subset_is_the_documented_permutation_and_its_record_reproduces_it(mlp_model, binary_images):
    indices = subset_evaluation.subset_indices(6, seed=2, population=len(binary_images))
    np.testing.assert_array_equal(indices, np.random.default_rng(2).permutation(8)[:6])
    assert len(set(indices.tolist())) == 6
    np.testing.assert_array_equal(subset_evaluation.subset_indices(4, seed=2, population=8), indices[:4])
    full = subset_evaluation.subset_indices(2000)  # the real test set: 2,000 of 10,000, seed 0
    assert len(set(full.tolist())) == 2000 and full.min() >= 0 and full.max() < 10_000
    assert not np.array_equal(full, subset_evaluation.subset_indices(2000, seed=1))
    result = subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, **SUBSET)
    recipe = result.as_dict()["subset"]["indices"]  # what a manifest says about the digits
    np.testing.assert_array_equal(eval(recipe, {"numpy": np}), indices)


@pytest.mark.parametrize("saves_before_stop", [1, 2])
def test_an_interrupted_subset_evaluation_resumes_to_the_uninterrupted_result_bit_for_bit(
        mlp_model, binary_images, tmp_path, saves_before_stop):
    whole = tmp_path / "whole.json"
    uninterrupted = subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2,
                                                      state_path=whole, **SUBSET)
    state = tmp_path / "state.json"
    saves = []
    stopped = subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                                stop=lambda: saves.append(1) or len(saves) == saves_before_stop,
                                                **SUBSET)
    assert stopped is None
    assert len(state_lists(state)["log_px"]) == 2 * saves_before_stop
    reported = []
    resumed = subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                                progress=reported.append, **SUBSET)
    assert reported[0] == 2 * saves_before_stop and sum(reported) == 6
    assert resumed == uninterrupted
    assert state_lists(state) == state_lists(whole)  # every per-digit float64, bit for bit
    again = subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, state_path=state,
                                              digits_per_save=2, stop=lambda: pytest.fail("nothing left to do"),
                                              **SUBSET)
    assert again == uninterrupted  # a complete state is kept and gives its figures without new draws


def test_a_digit_draws_the_same_samples_whatever_else_is_evaluated(mlp_model, binary_images, tmp_path):
    six, three = tmp_path / "six.json", tmp_path / "three.json"
    subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=4, state_path=six, **SUBSET)
    subset_evaluation.evaluate_subset(mlp_model, binary_images, 3, digits_per_save=1, state_path=three, **SUBSET)
    for name, values in state_lists(three).items():
        assert values == state_lists(six)[name][:3], name
    # another subset: a digit it shares with the first has the same figures (its keys follow its test index)
    other = tmp_path / "other.json"
    subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, state_path=other, **{**SUBSET, "subset_seed": 9})
    first, second = (json.loads(path.read_text()) for path in (six, other))
    shared = set(first["indices"]) & set(second["indices"])
    assert len(shared) >= 4 and first["indices"] != second["indices"]
    for index in shared:
        here, there = first["indices"].index(index), second["indices"].index(index)
        for name in ("log_px", "log_px_shortcut", "log_likelihood", "kl"):
            assert first[name][here] == second[name][there], (index, name)
    # the k = 3 bound beside k = 7 is the one a k = 3 run draws on its own
    alone = tmp_path / "alone.json"
    settings = dict(SUBSET, k=SUBSET["shortcut_k"], shortcut_k=None)
    subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, state_path=alone, **settings)
    assert state_lists(alone)["log_px"] == state_lists(six)["log_px_shortcut"]
    assert state_lists(alone)["log_px_shortcut"] == []


def test_the_shortcut_excess_is_the_mean_per_digit_difference_of_the_two_bounds(mlp_model, binary_images,
                                                                                 tmp_path):
    state = tmp_path / "state.json"
    result = subset_evaluation.evaluate_subset(mlp_model, binary_images, 8, state_path=state, **SUBSET)
    lists = state_lists(state)
    difference = np.asarray(lists["log_px"]) - np.asarray(lists["log_px_shortcut"])  # NLL(3) - NLL(7)
    assert result.shortcut_excess == pytest.approx(np.mean(difference), rel=1e-12)
    assert result.shortcut_excess_stderr == pytest.approx(np.std(difference, ddof=1) / math.sqrt(8), rel=1e-12)
    assert result.shortcut_nll == pytest.approx(-np.mean(lists["log_px_shortcut"]), rel=1e-12)
    assert result.evaluation.nll == pytest.approx(-np.mean(lists["log_px"]), rel=1e-12)
    assert result.evaluation.n_images == 8 and result.evaluation.k == 7


def test_a_state_of_another_evaluation_is_refused_and_left_alone(mlp_model, binary_images, tmp_path):
    state = tmp_path / "state.json"
    assert subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                             stop=lambda: True, **SUBSET) is None
    before = state.read_bytes()
    for change, named in [(dict(k=8), "k 7 there, 8 here"), (dict(seed=5), "seed 4 there, 5 here"),
                          (dict(subset_seed=3), "subset_seed 2 there, 3 here"),
                          (dict(shortcut_k=2), "shortcut_k 3 there, 2 here")]:
        with pytest.raises(ValueError, match="belongs to another evaluation") as refused:
            subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, state_path=state,
                                              **{**SUBSET, **change})
        assert named in str(refused.value)
    with pytest.raises(ValueError, match=r"n 6 there, 5 here"):
        subset_evaluation.evaluate_subset(mlp_model, binary_images, 5, state_path=state, **SUBSET)
    from vae.models import MLPVAE

    other = MLPVAE(latent_dim=3, hidden=(32, 16), seed=4)  # same shapes, other weights: another checkpoint
    with pytest.raises(ValueError, match=r"weights \(another checkpoint\)"):
        subset_evaluation.evaluate_subset(other, binary_images, 6, state_path=state, **SUBSET)
    with pytest.raises(ValueError, match="test images"):
        subset_evaluation.evaluate_subset(mlp_model, 1.0 - binary_images, 6, state_path=state, **SUBSET)
    assert state.read_bytes() == before


def test_a_damaged_state_file_is_refused(mlp_model, binary_images, tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="not a state file"):
        subset_evaluation.evaluate_subset(mlp_model, binary_images, 2, state_path=state, **SUBSET)


@pytest.fixture
def checkpoint_copy(tmp_path):
    """A copy of the shipped MLP checkpoint, so that --record writes to a manifest in tmp_path."""
    copy = tmp_path / "mlp"
    shutil.copytree(pretrained.checkpoint_dir("mlp"), copy)
    return copy


def test_the_command_line_resumes_a_subset_evaluation_and_records_it(checkpoint_copy, tmp_path, capsys):
    common = ["evaluate", "--checkpoint", str(checkpoint_copy), "--k", "5", "--subset", "6", "--subset-seed",
              "3", "--batch-size", "2", "--json"]
    assert main([*common, "--state", str(tmp_path / "whole.json")]) == 0
    uninterrupted = json.loads(capsys.readouterr().out)
    state = tmp_path / "state.json"
    assert main([*common, "--state", str(state), "--minutes", "1e-9"]) == 0  # stops after the first 2 digits
    captured = capsys.readouterr()
    assert captured.out == "" and "run the same command again to continue" in captured.err
    assert len(state_lists(state)["log_px"]) == 2
    assert main([*common, "--state", str(state), "--record"]) == 0
    captured = capsys.readouterr()
    assert "resuming from" in captured.err
    figures = json.loads(captured.out)
    assert figures == uninterrupted
    key = subset_evaluation.subset_evaluation_key(5, 6, 3, 0)
    assert checkpoint.read_manifest(checkpoint_copy)["evaluations"][key] == figures
    assert figures["subset"]["n"] == 6 and figures["subset"]["seed"] == 3 and figures["k"] == 5
    assert "shortcut" not in figures  # k = 5 is below the shortcut's k = 100: nothing to set beside it
    checkpoint.load_checkpoint(checkpoint_copy)  # recording did not break the checkpoint
    assert main([*common, "--state", str(state), "--record"]) == 2  # recorded already: --force to replace
    assert "pass --force" in capsys.readouterr().err


def test_the_command_line_prints_the_shortcut_beside_k_and_refuses_bad_combinations(checkpoint_copy, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint_copy), "--k", "150", "--subset", "3"]) == 0
    out = capsys.readouterr().out
    assert "fixed random subset: 3 of 10,000 test digits" in out and "NLL with k = 100" in out and "k = 100 minus k = 150" in out
    for extra, message in [(["--subset", "3", "--limit", "5"], "exclude each other"),
                           (["--state", "x.json"], "--state without --subset is an .npz file"),
                           (["--subset", "3", "--minutes", "5"], "--minutes needs --state")]:
        assert main(["evaluate", "--checkpoint", str(checkpoint_copy), *extra]) == 2
        assert message in capsys.readouterr().err


def test_a_state_this_machine_no_longer_reproduces_is_refused(mlp_model, binary_images, tmp_path):
    state = tmp_path / "state.json"
    subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                      stop=lambda: True, **SUBSET)
    stored = json.loads(state.read_text())
    stored["log_likelihood"][-1] += 10 * subset_evaluation.RESUME_TOLERANCE  # as if drawn by another machine
    state.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="no longer gives the figures stored for it"):
        subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                          **SUBSET)
    stored["log_likelihood"][-1] -= 10 * subset_evaluation.RESUME_TOLERANCE  # back within the tolerance
    state.write_text(json.dumps(stored))
    assert subset_evaluation.evaluate_subset(mlp_model, binary_images, 6, digits_per_save=2, state_path=state,
                                             **SUBSET) is not None


def test_a_pixelcnn_decoder_resumes_to_the_uninterrupted_result_bit_for_bit(tmp_path):
    from vae.pixelcnn import PixelCNNVAE

    model = PixelCNNVAE(latent_dim=3, pixelcnn_layers=2, pixelcnn_channels=8, seed=0, filters=(4, 8), hidden=16)
    images = (np.random.default_rng(5).random((5, 28, 28, 1)) < 0.2).astype(np.float32)
    settings = dict(k=6, shortcut_k=2, seed=1, subset_seed=0, chunk_size=4, digits_per_save=2)
    whole, state = tmp_path / "whole.json", tmp_path / "state.json"
    uninterrupted = subset_evaluation.evaluate_subset(model, images, 4, state_path=whole, **settings)
    assert subset_evaluation.evaluate_subset(model, images, 4, state_path=state, stop=lambda: True,
                                             **settings) is None
    assert subset_evaluation.evaluate_subset(model, images, 4, state_path=state, **settings) == uninterrupted
    assert state_lists(state) == state_lists(whole)
