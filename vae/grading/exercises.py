"""The graded exercises as data specs, one per exercise, registered in :data:`vae.grading.EXERCISES`.

Each spec says how to draw its cases from a seed, how the kernel calls the
learner's function on a case (the *probe*, which runs in the kernel), what
the reference gives on a case and what named common mistakes give (both
computed in the grader), and the tolerances. See the contract in
:mod:`vae.grading`.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import math

import numpy as np

from vae.grading.checking import Exercise
from vae.grading.records import _case_digest

_LOG2 = math.log(2.0)
_MEMO: dict = {}


# -- helpers shared by the specs ---------------------------------------------------------
def _memo(name: str, case: dict, compute):
    """``compute(case)``, computed once per case in the grader (the reference and its mistakes share it)."""
    key = (name, _case_digest(case))
    if key not in _MEMO:
        if len(_MEMO) > 256:
            _MEMO.clear()
        _MEMO[key] = compute(case)
    return _MEMO[key]


def _tiny_model(latent_dim: int = 3, seed: int = 0):
    """A small MLP VAE whose weights come from a NumPy generator seeded by ``seed`` (global seeds untouched)."""
    from vae.models import MLPVAE

    model = MLPVAE(latent_dim=latent_dim, hidden=(32,), seed=seed)
    rng = np.random.default_rng(100 + seed)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.3, tuple(variable.shape)).astype(np.float32))
    return model


def _flat_weights(model) -> np.ndarray:
    return np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables]).astype(np.float64)


def _binary_images(rng, count: int) -> np.ndarray:
    return (rng.random((count, 28, 28, 1)) < 0.25).astype(np.float32)


def _model_case(rng, count: int, **extra) -> dict:
    """A case of a model exercise: the tiny model's seed, ``count`` binary images and a draw seed."""
    return {"model_seed": int(rng.integers(0, 1000)), "images": _binary_images(rng, count),
            "seed": int(rng.integers(0, 1000)), **extra}


def _softplus(values) -> np.ndarray:
    return np.logaddexp(0.0, np.asarray(values, dtype=np.float64))


def _bernoulli_per_pixel(x, logits) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return -x * _softplus(-np.asarray(logits)) - (1.0 - x) * _softplus(logits)


def _tensor(array):
    import tensorflow as tf

    return tf.constant(np.asarray(array, dtype=np.float32))


# -- chapter 1 ---------------------------------------------------------------------------
def _kl_gaussians(m1, v1, m2, v2):
    return 0.5 * np.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / (2.0 * v2) - 0.5


def _two_gaussians(rng):
    for size, label in ((6, "on 6 pairs of Gaussians"), (1, "on one pair")):
        yield {"label": label, "mean_q": rng.normal(0.0, 2.0, size), "var_q": rng.uniform(0.2, 3.0, size),
               "mean_p": rng.normal(0.0, 2.0, size), "var_p": rng.uniform(0.2, 3.0, size)}


def _gaussian_arguments(case):
    return case["mean_q"], case["var_q"], case["mean_p"], case["var_p"]


Exercise(
    "ex01.1", "kl between two gaussians",
    "checks kl_gaussians(mean_q, var_q, mean_p, var_p), the learner's closed form of "
    "KL(N(mean_q, var_q) || N(mean_p, var_p)), on fresh random means and variances (tolerance 1e-6)",
    cases=_two_gaussians,
    probe=lambda answer, case: {"value": answer(*_gaussian_arguments(case))},
    reference=lambda case: {"value": _kl_gaussians(*_gaussian_arguments(case))},
    mistakes={
        "that is KL(p || q), the divergence the other way round; the first argument is q":
            lambda c: {"value": _kl_gaussians(c["mean_p"], c["var_p"], c["mean_q"], c["var_q"])},
        "the log term is log(var_p / var_q); with variances it is (1/2) log(var_p / var_q)":
            lambda c: {"value": _kl_gaussians(*_gaussian_arguments(c)) + 0.5 * np.log(c["var_p"] / c["var_q"])},
        "the -1/2 is missing (the KL of a distribution from itself must be 0)":
            lambda c: {"value": _kl_gaussians(*_gaussian_arguments(c)) + 0.5},
        "the squared difference of the means is not divided by 2 var_p":
            lambda c: {"value": _kl_gaussians(*_gaussian_arguments(c))
                       + (c["mean_q"] - c["mean_p"]) ** 2 * (1.0 - 1.0 / (2.0 * c["var_p"]))},
    },
    atol=1e-6, names={"value": "the divergence"}, hints={"value": "one divergence per pair"},
    implementations=("kl_standard_normal", "kl_monte_carlo", "kl_divergence")).register()


def _distributions(rng, shape, zeros: bool):
    """Random probability vectors along the last axis; with ``zeros``, some entries are exactly 0."""
    weights = rng.gamma(0.7, 1.0, shape)
    if zeros:
        weights[..., 1] = 0.0
        weights[..., -1] = 0.0
    return weights / weights.sum(axis=-1, keepdims=True)


def _entropy_bits(p, log=np.log2):
    p = np.asarray(p, dtype=np.float64)
    safe = np.where(p > 0.0, p, 1.0)
    return -np.sum(np.where(p > 0.0, p * log(safe), 0.0), axis=-1)


def _entropy_cases(rng):
    yield {"label": "for 4 distributions over 8 symbols", "p": _distributions(rng, (4, 8), zeros=True)}
    yield {"label": "for one distribution over 5 symbols", "p": _distributions(rng, (5,), zeros=True)}


Exercise(
    "ex01.2", "entropy in bits",
    "checks entropy_bits(p), the entropy -sum p log2 p of each distribution along the last axis, on fresh "
    "random distributions that hold zero probabilities (0 log 0 = 0; tolerance 1e-6 bits)",
    cases=_entropy_cases,
    probe=lambda answer, case: {"value": answer(case["p"])},
    reference=lambda case: {"value": _entropy_bits(case["p"])},
    mistakes={
        "that is in nats (natural logarithm); a bit is ln 2 nats, so use log base 2":
            lambda c: {"value": _entropy_bits(c["p"], np.log)},
        "the code lengths -log2 p are summed without weighting each by its probability p":
            lambda c: {"value": -np.sum(np.where(c["p"] > 0, np.log2(np.where(c["p"] > 0, c["p"], 1.0)), 0.0),
                                        axis=-1)},
        "the entropy is averaged over the symbols; it is a sum": lambda c: {"value": _entropy_bits(c["p"])
                                                                            / c["p"].shape[-1]},
    },
    atol=1e-6, names={"value": "the entropy"},
    hints={"value": "one entropy per distribution (sum over the last axis)",
           "value!finite": "0 log 0 is 0: leave out the zero probabilities (np.where) before taking the log"},
    implementations=("entropy",)).register()


def _coding_cases(rng):
    yield {"label": "for 3 pairs of distributions over 6 symbols", "p": _distributions(rng, (3, 6), zeros=False),
           "q": _distributions(rng, (3, 6), zeros=False)}
    p = np.full(4, 0.25)
    yield {"label": "when the model is right (q = p)", "p": p, "q": p.copy()}


def _cross_entropy_bits(p, q, log=np.log2):
    return -np.sum(np.asarray(p) * log(np.asarray(q)), axis=-1)


Exercise(
    "ex01.3", "coding with the wrong model",
    "checks cross_entropy_bits(p, q), the expected code length in bits per symbol of data drawn from p "
    "coded with the ideal code for q, -sum p log2 q, on fresh random pairs of distributions and on q = p "
    "(tolerance 1e-6 bits)",
    cases=_coding_cases,
    probe=lambda answer, case: {"value": answer(case["p"], case["q"])},
    reference=lambda c: {"value": _cross_entropy_bits(c["p"], c["q"])},
    mistakes={
        "the roles are swapped: the data come from p, the code lengths -log2 q from the model q":
            lambda c: {"value": _cross_entropy_bits(c["q"], c["p"])},
        "that is only the excess KL(p || q) = H(p, q) - H(p); the cost also includes the H(p) bits "
        "no code can avoid": lambda c: {"value": _cross_entropy_bits(c["p"], c["q"]) - _entropy_bits(c["p"])},
        "that is in nats; use log base 2": lambda c: {"value": _cross_entropy_bits(c["p"], c["q"], np.log)},
    },
    atol=1e-6, names={"value": "the expected code length"},
    hints={"value": "one number per pair (sum over the last axis)"}).register()


def _smoothing_cases(rng):
    for alpha in (0.1, 1.0):
        probabilities = rng.uniform(0.02, 0.6, 16)
        yield {"label": f"with alpha = {alpha:g}", "alpha": alpha,
               "train": (rng.random((40, 16)) < probabilities).astype(np.float64),
               "test": (rng.random((10, 16)) < probabilities).astype(np.float64)}


def _smoothed_cost(case, fit="train", numerator=1.0, denominator=2.0, log=np.log2):
    data, alpha = case[fit], case["alpha"]
    p = (data.sum(axis=0) + numerator * alpha) / (len(data) + denominator * alpha)
    x = case["test"]
    return float(-np.mean(np.sum(x * log(p) + (1.0 - x) * log(1.0 - p), axis=1)))


Exercise(
    "ex01.4", "how much smoothing",
    "checks smoothed_cost_bits(train, test, alpha), the mean cost in bits per test image of the independent-"
    "pixel model fitted to the training images with counts smoothed as (n_on + alpha) / (n + 2 alpha), on "
    "fresh random binary images with alpha = 0.1 and 1 (tolerance 1e-6 bits)",
    cases=_smoothing_cases,
    probe=lambda answer, c: {"value": answer(c["train"], c["test"], c["alpha"])},
    reference=lambda c: {"value": _smoothed_cost(c)},
    mistakes={
        "the denominator adds alpha, not 2 alpha (each pixel has two values, each gets alpha)":
            lambda c: {"value": _smoothed_cost(c, denominator=1.0)},
        "the model was fitted to the test images; fit it to the training images":
            lambda c: {"value": _smoothed_cost(c, fit="test")},
        "that is in nats; use log base 2": lambda c: {"value": _smoothed_cost(c, log=np.log)},
    },
    atol=1e-6, names={"value": "the cost"}, hints={"value": "a single number: bits per test image"}).register()


# -- chapter 2 ---------------------------------------------------------------------------
def _pca_cases(rng):
    for k in (5, 3):
        directions, _ = np.linalg.qr(rng.normal(size=(784, k)))
        yield {"label": f"with {k} directions", "images": rng.random((10, 28, 28, 1)).astype(np.float32),
               "mean": rng.random(784), "components": np.ascontiguousarray(directions.T)}


def _pca(case, centre: bool = True, add_mean: bool = True):
    rows = case["images"].reshape(len(case["images"]), 784).astype(np.float64)
    mean, components = case["mean"], case["components"]
    codes = ((rows - mean) if centre else rows) @ components.T
    return (codes @ components + (mean if add_mean else 0.0)).reshape(case["images"].shape)


Exercise(
    "ex02.1", "pca reconstruction",
    "compares pca_reconstruct on 10 random grey images, a random mean image and 5 and 3 random "
    "orthonormal directions with the reconstruction mean + C^T C (x - mean) (tolerance 1e-4)",
    cases=_pca_cases,
    probe=lambda answer, case: {"value": answer(case["images"], case["mean"], case["components"])},
    reference=lambda case: {"value": _pca(case)},
    mistakes={"the mean image was not added back": lambda c: {"value": _pca(c, add_mean=False)},
              "the images were not centred before the projection": lambda c: {"value": _pca(c, centre=False)}},
    atol=1e-4, names={"value": "the reconstruction"},
    hints={"value": "reshape the rows back into (n, 28, 28, 1) images"}, implementations=("PCA",)).register()


def _pca_error_cases(rng):
    scales = np.linspace(3.0, 0.2, 20)
    data = rng.normal(0.0, 1.0, (60, 20)) * scales @ np.linalg.qr(rng.normal(size=(20, 20)))[0] + rng.normal(
        0.0, 2.0, 20)
    for k in (3, 8):
        yield {"label": f"with k = {k}", "data": data, "k": k}


def _pca_error(case, centre: bool = True, kept: bool = False, denominator: int = 0):
    data = np.asarray(case["data"], dtype=np.float64)
    rows = data - data.mean(axis=0) if centre else data
    values = np.sort(np.linalg.svd(rows, compute_uv=False) ** 2)[::-1] / (len(rows) - denominator)
    k = case["k"]
    return (values[:k] if kept else values[k:]).sum() / data.shape[1]


Exercise(
    "ex02.2", "pca reconstruction error",
    "checks pca_error(data, k), the mean squared error per entry of the best rank-k linear reconstruction "
    "of the centred rows, on a fresh random 60x20 data set with k = 3 and k = 8 (it equals the sum of "
    "the discarded eigenvalues of the covariance divided by the dimension; relative tolerance 1e-4)",
    cases=_pca_error_cases,
    probe=lambda answer, c: {"value": answer(c["data"], c["k"])},
    reference=lambda c: {"value": _pca_error(c)},
    mistakes={
        "the rows were not centred: PCA's directions are those of the centred data":
            lambda c: {"value": _pca_error(c, centre=False)},
        "that is the variance kept by the first k directions; the error is the variance left out":
            lambda c: {"value": _pca_error(c, kept=True)},
        "that divides by n - 1 (np.cov); the mean squared error is a mean over the n rows":
            lambda c: {"value": _pca_error(c, denominator=1)},
    },
    atol=0.0, rtol=1e-4, names={"value": "the mean squared error"}, hints={"value": "a single number"},
    implementations=("PCA",)).register()


_TABLE_OPTIONS = ("d = 2", "d = 4", "d = 8", "d = 16", "d = 32")


Exercise(
    "ex02.3", "reading the table of test errors",
    "checks the answer to a multiple-choice question on chapter 2's table of test errors: the index (from 0) "
    "of the code size d at which the nonlinear autoencoder's advantage over PCA, counted as PCA components "
    "per code number, is smallest",
    cases=lambda rng: [{"label": "the question", "options": len(_TABLE_OPTIONS)}],
    probe=lambda answer, case: {"choice": answer()},
    reference=lambda case: {"choice": 4},
    mistakes={
        "d = 8 is where the advantage is largest (PCA needs twice as many numbers), not smallest":
            lambda c: {"choice": 2},
        "d = 2 has the smallest gap in squared error, not the smallest ratio of components to d; "
        "compare the last column with d": lambda c: {"choice": 0},
        "the options are numbered from 0; that index counts from 1": lambda c: {"choice": 5},
    },
    atol=0.0, rtol=0.0, names={"choice": "the option chosen"}, hints={"choice": "return one integer"},
    explanation="Divide the table's last column by d: up to d = 16 PCA needs roughly twice as many numbers as "
                "the nonlinear autoencoder, and at d = 32 the ratio is smallest; the chapter says the margin "
                "narrows there, partly because 5 epochs leave the larger code further from its best.").register()


# -- chapter 3 ---------------------------------------------------------------------------
def _reparameterization_cases(rng):
    yield {"mean": rng.normal(0.0, 1.0, (5, 4)), "log_var": rng.uniform(-2.0, 1.5, (5, 4)),
           "eps": rng.normal(0.0, 1.0, (5, 4)), "weights": rng.uniform(0.5, 1.5, (5, 4))}


def _probe_reparameterization(answer, case):
    import tensorflow as tf

    mean, log_var, eps = _tensor(case["mean"]), _tensor(case["log_var"]), _tensor(case["eps"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([mean, log_var])
        z = answer(mean, log_var, eps)
        total = tf.reduce_sum(tf.cast(z, tf.float32) * _tensor(case["weights"])) if tf.is_tensor(z) else None
    gradients = tape.gradient(total, [mean, log_var]) if total is not None else [None, None]
    flows = all(g is not None for g in gradients)
    zeros = np.zeros(case["mean"].shape)
    return {"z": z, "gradient": np.float64(flows),
            "dz_dmean": gradients[0] if flows else zeros, "dz_dlog_var": gradients[1] if flows else zeros}


def _reparameterized(case, scale):
    return {"z": case["mean"] + scale(case["log_var"]) * case["eps"]}


Exercise(
    "ex03.1", "reparameterization",
    "compares reparameterize(mean, log_var, eps) on random 5x4 parameters and noise with "
    "mean + exp(log_var / 2) * eps (tolerance 1e-5), then the gradients of a weighted sum of z "
    "with respect to mean and log_var",
    cases=_reparameterization_cases, probe=_probe_reparameterization,
    reference=lambda c: {**_reparameterized(c, lambda v: np.exp(0.5 * v)), "gradient": 1.0,
                         "dz_dmean": c["weights"],
                         "dz_dlog_var": c["weights"] * 0.5 * np.exp(0.5 * c["log_var"]) * c["eps"]},
    mistakes={
        "the noise is scaled by the variance exp(log_var); the standard deviation is exp(log_var / 2)":
            lambda c: _reparameterized(c, np.exp),
        "the noise is scaled by log_var itself; the standard deviation is exp(log_var / 2)":
            lambda c: _reparameterized(c, lambda v: v),
        "the noise is scaled by exp(log_var) / 2; the standard deviation is exp(log_var / 2)":
            lambda c: _reparameterized(c, lambda v: 0.5 * np.exp(v)),
        "the mean is missing": lambda c: {"z": np.exp(0.5 * c["log_var"]) * c["eps"]},
        "z is right, but no gradient flows back to mean and log_var: write it with TensorFlow "
        "operations (tf.exp), not NumPy": lambda c: {**_reparameterized(c, lambda v: np.exp(0.5 * v)),
                                                    "gradient": 0.0},
    },
    names={"gradient": "whether gradients flow", "dz_dmean": "dz/dmean", "dz_dlog_var": "dz/dlog_var"},
    implementations=("reparameterize",)).register()


_DRAWS = 20000


def _sampling_cases(rng):
    signs = rng.choice([-1.0, 1.0], 3)
    yield {"mean": rng.normal(0.0, 1.5, 3), "log_var": signs * rng.uniform(0.6, 1.5, 3)}


def _probe_sampling(answer, case):
    import tensorflow as tf

    spec = tf.TensorSpec([None, 3], tf.float32)
    traced = tf.function(lambda mean, log_var: answer(mean, log_var), input_signature=[spec, spec])
    try:
        shapes = {f"shape_{batch}": np.array(traced(tf.zeros([batch, 3]), tf.zeros([batch, 3])).shape)
                  for batch in (1, 7)}
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - the answer cannot be traced with an unknown batch size
        return {"traced": 0.0}
    draws = traced(_tensor(np.tile(case["mean"], (_DRAWS, 1))), _tensor(np.tile(case["log_var"], (_DRAWS, 1))))
    return {"traced": 1.0, **shapes, "draws": draws}


def _sampling_summary(case, outputs):
    summary = {key: value for key, value in outputs.items() if key != "draws"}
    draws = np.asarray(outputs.get("draws", np.zeros(0)), dtype=np.float64)
    if draws.shape == (_DRAWS, 3) and np.all(np.isfinite(draws)):
        std = np.exp(0.5 * case["log_var"])
        summary.update(mean_error=(draws.mean(axis=0) - case["mean"]) / std, std_ratio=draws.std(axis=0) / std,
                       distinct=np.float64(not np.allclose(draws, draws[0])))
    return summary


Exercise(
    "ex03.2", "sampling with an unknown batch size",
    "traces sample_codes in a tf.function whose inputs have an unknown batch size, checks the shapes "
    "for batches of 1 and 7, then checks that 20,000 draws with random parameters have the mean and "
    "standard deviation of N(mean, exp(log_var)) (within 5 % of a standard deviation) and that "
    "every row gets its own noise",
    cases=_sampling_cases, probe=_probe_sampling, summary=_sampling_summary,
    reference=lambda c: {"traced": 1.0, "shape_1": [1, 3], "shape_7": [7, 3], "distinct": 1.0,
                         "mean_error": np.zeros(3), "std_ratio": np.ones(3)},
    mistakes={
        "it fails inside tf.function with an unknown batch size; take the noise's shape from "
        "tf.shape(mean), not mean.shape": lambda c: {"traced": 0.0},
        "every row got the same noise: draw one eps per row (shape tf.shape(mean))":
            lambda c: {"distinct": 0.0},
        "the spread is exp(log_var), the variance; the standard deviation is exp(log_var / 2)":
            lambda c: {"std_ratio": np.exp(0.5 * c["log_var"])},
    },
    atol=0.0, rtol=0.0, tolerances={"mean_error": (0.05, 0.0), "std_ratio": (0.05, 0.0)},
    names={"shape_1": "z for a batch of 1", "shape_7": "z for a batch of 7", "distinct": "the rows' noise",
           "mean_error": "the draws' mean (in standard deviations from the mean asked for)",
           "std_ratio": "the draws' standard deviation (as a fraction of the one asked for)",
           "traced": "tracing"},
    implementations=("reparameterize",)).register()


def _estimator_cases(rng):
    yield {"label": "for 6 Gaussians", "mean": rng.uniform(-2.0, 2.0, 6), "std": rng.uniform(0.5, 2.0, 6)}


def _score_variance(mu, s, a=None, second_moment=False):
    """Per-draw variance (or second moment) of g = a f(z) (z - mu), f(z) = z^2, z ~ N(mu, s^2); a = 1/s^2 by default.

    With z = mu + s eps: E[g^2] = a^2 s^2 (mu^4 + 18 mu^2 s^2 + 15 s^4) and E[g] = 2 a mu s^2.
    """
    a = 1.0 / s ** 2 if a is None else a
    moment = a ** 2 * s ** 2 * (mu ** 4 + 18.0 * mu ** 2 * s ** 2 + 15.0 * s ** 4)
    return moment if second_moment else moment - (2.0 * a * mu * s ** 2) ** 2


def _variances(case, second_moment=False, reparam=None):
    mu, s = case["mean"], case["std"]
    reparam = 4.0 * s ** 2 + (4.0 * mu ** 2 if second_moment else 0.0) if reparam is None else reparam
    return {"score": _score_variance(mu, s, second_moment=second_moment), "reparam": reparam}


def _probe_variances(answer, case):
    score, reparam = answer(case["mean"], case["std"])
    return {"score": score, "reparam": reparam}


Exercise(
    "ex03.3", "variance of two gradient estimators",
    "checks estimator_variances(mean, std), the single-draw variances of the score-function estimator "
    "f(z) (z - mean) / std^2 and of the reparameterization estimator f'(mean + std eps) of "
    "d/dmean E[z^2], z ~ N(mean, std^2), in closed form, on 6 fresh means and standard deviations "
    "(relative tolerance 1e-6)",
    cases=_estimator_cases, probe=_probe_variances,
    reference=_variances,
    mistakes={
        "that is the second moment E[g^2]; the variance subtracts the squared mean (2 mean)^2":
            lambda c: _variances(c, second_moment=True),
        "the score of N(mean, std^2) with respect to the mean is (z - mean) / std^2, not z - mean":
            lambda c: {"score": _score_variance(c["mean"], c["std"], a=1.0)},
        "the reparameterization variance is 4 std^2: the estimator 2 (mean + std eps) has the spread of "
        "2 std eps": lambda c: {"reparam": 2.0 * c["std"]},
    },
    atol=0.0, rtol=1e-6, names={"score": "the score-function variance", "reparam": "the reparameterization variance"},
    hints={"score": "one variance per Gaussian", "reparam": "one variance per Gaussian"}).register()


# -- chapter 4 ---------------------------------------------------------------------------
def _bernoulli_cases(rng):
    x = _binary_images(rng, 3)
    logits = rng.normal(0.0, 3.0, x.shape).astype(np.float32)
    logits[0, 0, :4, 0] = [40.0, -40.0, 200.0, -200.0]
    x[0, 0, :4, 0] = [0.0, 1.0, 0.0, 1.0]  # confident and wrong: the naive formula takes log(0)
    yield {"x": x, "logits": logits}


def _per_pixel_sum(axis):
    return lambda c: {"value": _bernoulli_per_pixel(c["x"], c["logits"]).sum(axis=axis)}


Exercise(
    "ex04.1", "bernoulli log-likelihood",
    "compares bernoulli_log_likelihood on 3 random binary images and logits that include +-40 and "
    "+-200 with the sum over pixels of -x softplus(-l) - (1 - x) softplus(l): one value per image, "
    "finite, within 1e-3 nats",
    cases=_bernoulli_cases,
    probe=lambda answer, case: {"value": answer(_tensor(case["x"]), _tensor(case["logits"]))},
    reference=_per_pixel_sum((1, 2, 3)),
    mistakes={
        "it is summed over the batch axis (axis 0); sum over the pixels of each image": _per_pixel_sum(0),
        "it is summed over the last axis only; sum over every pixel of each image": _per_pixel_sum(-1),
        "it is not summed; sum over the pixels of each image":
            lambda c: {"value": _bernoulli_per_pixel(c["x"], c["logits"])},
        "it is summed over the whole batch; return one value per image": _per_pixel_sum(None),
        "it is averaged over the pixels; the log-likelihood of an image is their sum":
            lambda c: {"value": _bernoulli_per_pixel(c["x"], c["logits"]).mean(axis=(1, 2, 3))},
    },
    atol=1e-3, names={"value": "the log-likelihood"},
    hints={"value": "one value per image",
           "value!finite": "log(sigmoid(l)) underflows for large |l|; write it with softplus"},
    implementations=("bernoulli_log_likelihood", "sigmoid_cross_entropy_with_logits")).register()


def _kl_cases(rng):
    for rows, dim in ((4, 3), (2, 6)):
        yield {"label": f"for {rows}x{dim} parameters", "mean": rng.normal(0.0, 1.0, (rows, dim)),
               "log_var": rng.uniform(-2.0, 1.5, (rows, dim))}


def _kl_terms(case):
    return 0.5 * (np.exp(case["log_var"]) + case["mean"] ** 2 - 1.0 - case["log_var"])


Exercise(
    "ex04.2", "kl divergence",
    "compares kl_divergence on random 4x3 and 2x6 means and log-variances with the closed form "
    "0.5 sum(exp(log_var) + mean^2 - 1 - log_var) (tolerance 1e-5)",
    cases=_kl_cases,
    probe=lambda answer, case: {"value": answer(_tensor(case["mean"]), _tensor(case["log_var"]))},
    reference=lambda c: {"value": _kl_terms(c).sum(axis=-1)},
    mistakes={
        "it has the wrong sign: a KL divergence is never negative": lambda c: {"value": -_kl_terms(c).sum(axis=-1)},
        "the factor 1/2 is missing": lambda c: {"value": 2.0 * _kl_terms(c).sum(axis=-1)},
        "the -1 inside the sum is missing": lambda c: {"value": _kl_terms(c).sum(axis=-1) + 0.5 * c["mean"].shape[1]},
        "it is summed over the batch; return one value per example": lambda c: {"value": _kl_terms(c).sum()},
        "it is not summed over the latent dimensions": lambda c: {"value": _kl_terms(c)},
    },
    names={"value": "the KL divergence"}, hints={"value": "one value per example"},
    implementations=("kl_standard_normal", "kl_monte_carlo")).register()


def _elbo_parts(case):
    from vae import losses

    model = _tiny_model(seed=case["model_seed"])
    x, seed = case["images"], case["seed"]
    terms = losses.elbo_terms(model, x, seed=seed)
    mean, _ = model.encode(x)
    return {"elbo": losses.elbo(model, x, seed=seed).numpy().astype(np.float64),
            "log_likelihood": terms["log_likelihood"].numpy().astype(np.float64),
            "kl": terms["kl"].numpy().astype(np.float64),
            "from_mean": (losses.bernoulli_log_likelihood(x, model.decode(mean)) - terms["kl"]).numpy()}


def _elbo(key, transform=lambda value: value):
    return lambda case: {"value": transform(_memo("elbo", case, _elbo_parts)[key])}


Exercise(
    "ex04.3", "elbo",
    "compares elbo(model, x, seed) on a small MLP VAE with random weights and 4 random binary images "
    "with vae.losses.elbo(model, x, seed=seed) (tolerance 1e-3 nats)",
    cases=lambda rng: [_model_case(rng, 4)],
    probe=lambda answer, c: {"value": answer(_tiny_model(seed=c["model_seed"]), c["images"], c["seed"])},
    reference=_elbo("elbo"),
    mistakes={
        "the KL term has a plus sign; the ELBO subtracts it":
            lambda c: {"value": _memo("elbo", c, _elbo_parts)["log_likelihood"] + _memo("elbo", c, _elbo_parts)["kl"]},
        "that is the loss, the negative ELBO": _elbo("elbo", np.negative),
        "it decodes the mean instead of a sample z drawn with model.reparameterize": _elbo("from_mean"),
        "it is averaged over the batch; return one value per image": _elbo("elbo", np.mean),
        "it is summed over the batch; return one value per image": _elbo("elbo", np.sum),
        "the KL term is missing": _elbo("log_likelihood"),
    },
    atol=1e-3, names={"value": "the ELBO"}, hints={"value": "one value per image"},
    implementations=("elbo", "elbo_terms", "compute_losses")).register()


def _gap_cases(rng):
    yield {"label": "for 6 approximations", "offset": rng.normal(0.0, 1.5, 6), "ratio": rng.uniform(0.2, 4.0, 6)}
    yield {"label": "with the mean right", "offset": np.zeros(3), "ratio": np.array([0.5, 1.0, 2.0])}


def _gap(offset, ratio):
    return 0.5 * (ratio + offset ** 2 - 1.0 - np.log(ratio))


Exercise(
    "ex04.4", "elbo gap of the toy model",
    "checks elbo_gap(offset, ratio), log p(x) - ELBO in nats for the toy model whose posterior is Gaussian "
    "when q's mean is offset posterior standard deviations from the posterior mean and q's variance is "
    "ratio times the posterior variance, on fresh offsets and ratios (tolerance 1e-6)",
    cases=_gap_cases,
    probe=lambda answer, c: {"value": answer(c["offset"], c["ratio"])},
    reference=lambda c: {"value": _gap(c["offset"], c["ratio"])},
    mistakes={
        "that is KL(posterior || q), the divergence the other way round; the gap is KL(q || posterior)":
            lambda c: {"value": 0.5 * ((1.0 + c["offset"] ** 2) / c["ratio"] - 1.0 + np.log(c["ratio"]))},
        "the mean's term offset^2 / 2 is missing": lambda c: {"value": _gap(np.zeros_like(c["offset"]), c["ratio"])},
        "the log term has the wrong sign (the gap at the right variance must be 0)":
            lambda c: {"value": _gap(c["offset"], c["ratio"]) + np.log(c["ratio"])},
    },
    atol=1e-6, names={"value": "the gap"}, hints={"value": "one gap per (offset, ratio) pair"}).register()


# -- chapter 5 ---------------------------------------------------------------------------
def _decoder_cases(rng):
    for latent_dim in (2, 16):
        yield {"label": f"with latent_dim = {latent_dim}", "latent_dim": latent_dim,
               "z5": rng.normal(0.0, 3.0, (5, latent_dim)), "z1": rng.normal(0.0, 3.0, (1, latent_dim))}


def _probe_decoder(answer, case):
    import keras
    import tensorflow as tf

    decoder = answer(case["latent_dim"])
    if not callable(decoder):
        raise TypeError(f"build_decoder({case['latent_dim']}) returned {type(decoder).__name__}, not a model")
    outputs = {}
    for key in ("z5", "z1"):
        logits = decoder(_tensor(case[key]))
        outputs[f"shape_{key[1:]}"] = np.array(tuple(logits.shape))
        values = np.asarray(logits, dtype=np.float64)
    last = decoder.layers[-1] if isinstance(decoder, keras.Model) and decoder.layers else None
    outputs["float32"] = np.float64(getattr(logits, "dtype", None) in (tf.float32, "float32", np.float32))
    outputs["trainable"] = np.float64(bool(getattr(decoder, "trainable_weights", None)))
    outputs["probabilities"] = np.float64(getattr(last, "activation", None) is keras.activations.sigmoid
                                          or (values.min() >= 0.0 and values.max() <= 1.0))
    return outputs


Exercise(
    "ex05.1", "decoder output shape",
    "builds build_decoder(latent_dim) for latent sizes 2 and 16 and checks that random codes "
    "(5, latent_dim) and (1, latent_dim) give float32 logits shaped like the images, "
    "(batch, 28, 28, 1), with trainable weights and no final sigmoid",
    cases=_decoder_cases, probe=_probe_decoder,
    reference=lambda c: {"shape_5": [5, 28, 28, 1], "shape_1": [1, 28, 28, 1], "float32": 1.0,
                         "trainable": 1.0, "probabilities": 0.0},
    mistakes={
        "the source article's Dense(28, activation='sigmoid'): 28 numbers per code, not a 28 x 28 image; "
        "expected (5, 28, 28, 1)": lambda c: {"shape_5": [5, 28]},
        "every output lies in [0, 1]: the decoder must return logits (any real number); leave the sigmoid "
        "to the likelihood": lambda c: {"probabilities": 1.0},
        "the decoder has no trainable weights: build it from Keras layers": lambda c: {"trainable": 0.0},
    },
    atol=0.0, rtol=0.0,
    names={"shape_5": "the logits of 5 codes", "shape_1": "the logits of 1 code", "float32": "float32 logits",
           "trainable": "trainable weights", "probabilities": "logits (not probabilities)"},
    hints={"shape_5": "one logit per pixel, (batch, 28, 28, 1)", "shape_1": "one logit per pixel, (batch, 28, 28, 1)"},
    implementations=("ConvVAE", "MLPVAE")).register()


def _probe_train_step(answer, case):
    import keras

    model = _tiny_model(latent_dim=2, seed=case["model_seed"])
    loss = answer(model, keras.optimizers.SGD(learning_rate=case["learning_rate"]), _tensor(case["images"]),
                  case["seed"])
    return {"loss": loss, "weights": _flat_weights(model)}


def _reference_step(case):
    import keras
    import tensorflow as tf

    model = _tiny_model(latent_dim=2, seed=case["model_seed"])
    before = _flat_weights(model)
    with tf.GradientTape() as tape:
        loss = model.compute_losses(_tensor(case["images"]), seed=case["seed"])["loss"]
    gradients = tape.gradient(loss, model.trainable_variables)
    keras.optimizers.SGD(learning_rate=case["learning_rate"]).apply_gradients(zip(gradients, model.trainable_variables))
    return {"loss": float(loss), "weights": _flat_weights(model), "before": before}


def _step(case):
    return _memo("step", case, _reference_step)


Exercise(
    "ex05.2", "train step",
    "runs train_step(model, optimizer, x, seed) once on a small MLP VAE with random weights, SGD "
    "(learning rate 0.1) and 8 random binary images, and compares the returned loss and every updated "
    "weight with a reference step on an identical copy (GradientTape on "
    "VAE.compute_losses(x, seed)['loss']; tolerance 1e-4)",
    cases=lambda rng: [_model_case(rng, 8, learning_rate=0.1)], probe=_probe_train_step,
    reference=lambda c: {"loss": _step(c)["loss"], "weights": _step(c)["weights"]},
    mistakes={
        "the weights did not change: apply the gradients with optimizer.apply_gradients":
            lambda c: {"weights": _step(c)["before"]},
        "the step went uphill: differentiate the loss (the negative ELBO), not the ELBO":
            lambda c: {"weights": 2.0 * _step(c)["before"] - _step(c)["weights"]},
        "the returned loss is the ELBO; the loss to minimize is its negative": lambda c: {"loss": -_step(c)["loss"]},
        "the returned loss is summed over the batch; return the mean, in nats per image":
            lambda c: {"loss": 8 * _step(c)["loss"]},
    },
    tolerances={"loss": (1e-3, 1e-5), "weights": (1e-4, 1e-4)},
    names={"loss": "the returned loss", "weights": "the step"}, hints={"loss": "return the batch mean, a scalar"},
    implementations=("fit_epochs", "train_step")).register()


_RUN_STEPS = 40


def _short_run_cases(rng):
    yield _model_case(rng, 16, learning_rate=0.01, steps=_RUN_STEPS)


def _short_run(case, update: bool = True, fresh_optimizer: bool = False):
    """The batch-mean loss before each of ``steps`` Adam steps (draw seed ``seed + step``) on a fresh tiny model.

    ``update=False`` never applies the gradients; ``fresh_optimizer`` makes a new Adam at every step.
    """
    import keras
    import tensorflow as tf

    model = _tiny_model(latent_dim=2, seed=case["model_seed"])
    optimizer = keras.optimizers.Adam(learning_rate=case["learning_rate"])
    x, losses = _tensor(case["images"]), []
    for step in range(int(case["steps"])):
        with tf.GradientTape() as tape:
            loss = model.compute_losses(x, seed=case["seed"] + step)["loss"]
        losses.append(float(loss))
        if fresh_optimizer:
            optimizer = keras.optimizers.Adam(learning_rate=case["learning_rate"])
        if update:
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return {"losses": np.array(losses)}


def _probe_short_run(answer, case):
    import keras

    model = _tiny_model(latent_dim=2, seed=case["model_seed"])
    return {"losses": answer(model, keras.optimizers.Adam(learning_rate=case["learning_rate"]),
                             _tensor(case["images"]), int(case["steps"]), case["seed"])}


Exercise(
    "ex05.3", "a short training run",
    "runs train_for(model, optimizer, x, steps, seed) for 40 Adam steps (learning rate 0.01) on a small "
    "MLP VAE with random weights and 16 random binary images, and compares the loss recorded before each "
    "step (draw seed seed + step) with a reference run in the grader: each within 1 % (the final loss, "
    "a few seconds of training, is bounded by the reference's)",
    cases=_short_run_cases, probe=_probe_short_run,
    reference=lambda c: _memo("run", c, _short_run),
    mistakes={
        "the loss never went down: apply the gradients after each step":
            lambda c: _memo("run-frozen", c, lambda case: _short_run(case, update=False)),
        "a new optimizer is made at every step, so Adam's running averages restart each time; use the "
        "optimizer you are given": lambda c: _memo("run-fresh", c, lambda case: _short_run(case, fresh_optimizer=True)),
        "the losses are the ELBO; record the loss to minimize, its negative":
            lambda c: {"losses": -_memo("run", c, _short_run)["losses"]},
    },
    tolerances={"losses": (0.0, 1e-2)}, names={"losses": "the recorded losses"},
    hints={"losses": "one batch-mean loss per step, recorded before the step"},
    implementations=("fit_epochs", "fit")).register()


def _lambert_w(y):
    """The principal branch of Lambert's W for y >= 0 (w e^w = y), by Newton's method."""
    y = np.asarray(y, dtype=np.float64)
    w = np.log1p(y)
    for _ in range(50):
        w = w - (w * np.exp(w) - y) / (np.exp(w) * (w + 1.0))
    return w


def _crossing_cases(rng):
    yield {"label": "for 5 slopes", "slope": rng.uniform(0.4, 2.5, 5)}


Exercise(
    "ex05.4", "where the tied head's noise wins",
    "checks noise_crossing(slope), the negative mean m at which |m| equals the standard deviation "
    "exp(slope m / 2) of a head that ties log_var = slope * mean, on fresh slopes (tolerance 1e-6)",
    cases=_crossing_cases,
    probe=lambda answer, c: {"value": answer(c["slope"])},
    reference=lambda c: {"value": -2.0 / c["slope"] * _lambert_w(c["slope"] / 2.0)},
    mistakes={
        "that is where |m| equals the variance exp(slope m); the standard deviation is exp(slope m / 2)":
            lambda c: {"value": -1.0 / c["slope"] * _lambert_w(c["slope"])},
        "that has the wrong sign: the crossing is at a negative mean (for m > 0 the noise always wins)":
            lambda c: {"value": 2.0 / c["slope"] * _lambert_w(c["slope"] / 2.0)},
    },
    atol=1e-6, names={"value": "the crossing"}, hints={"value": "one mean per slope"}).register()


# -- chapter 6 ---------------------------------------------------------------------------
def _log_mean_exp_cases(rng):
    values = rng.normal(0.0, 2.0, (5, 3)).astype(np.float32)
    values[:, 1] += 1000.0
    values[:, 2] -= 1000.0
    for axis in (0, 1):
        yield {"label": f"with axis={axis}", "values": values, "axis": axis}


def _log_mean_exp(values, axis):
    values = np.asarray(values, dtype=np.float64)
    largest = values.max(axis=axis, keepdims=True)
    return np.squeeze(largest, axis=axis) + np.log(np.mean(np.exp(values - largest), axis=axis))


Exercise(
    "ex06.1", "log-mean-exp",
    "compares log_mean_exp(values, axis) on a random 5x3 array holding values near +1000 and -1000 "
    "with log(mean(exp(values))) computed stably, for axis 0 and axis 1 (tolerance 1e-4)",
    cases=_log_mean_exp_cases,
    probe=lambda answer, c: {"value": answer(c["values"], axis=c["axis"])},
    reference=lambda c: {"value": _log_mean_exp(c["values"], c["axis"])},
    mistakes={
        "that is log-sum-exp; subtract log(k) to get the log of the mean":
            lambda c: {"value": _log_mean_exp(c["values"], c["axis"]) + math.log(c["values"].shape[c["axis"]])},
        "that is the mean of the values, not the log of the mean of their exponentials":
            lambda c: {"value": c["values"].astype(np.float64).mean(axis=c["axis"])},
        "that is the maximum; add log(mean(exp(values - max)))":
            lambda c: {"value": c["values"].astype(np.float64).max(axis=c["axis"])},
    },
    atol=1e-4, names={"value": "log_mean_exp(values)"},
    hints={"value!finite": "exp overflows or underflows: subtract the maximum before exponentiating"},
    implementations=("log_mean_exp", "reduce_logsumexp", "logsumexp")).register()


def _iwae_cases(rng):
    for k in (16, 1):
        yield _model_case(rng, 3, label=f"with k = {k}", eps=rng.normal(0.0, 1.0, (k, 3, 3)))


def _iwae_inputs(case):
    import tensorflow as tf

    model = _tiny_model(seed=case["model_seed"])
    x = _tensor(case["images"])
    mean, log_var = model.encode(x)
    return model, x, mean, log_var, mean + tf.exp(0.5 * log_var) * _tensor(case["eps"])


def _log_weight_parts(case):
    import tensorflow as tf

    from vae import losses

    model, x, mean, log_var, z = _iwae_inputs(case)
    k, batch = case["eps"].shape[:2]
    logits = model.decode(tf.reshape(z, [k * batch, -1]))
    log_px_z = tf.reshape(losses.bernoulli_log_likelihood(tf.tile(x, [k, 1, 1, 1]), logits), [k, batch])
    return {"log_px_z": log_px_z.numpy().astype(np.float64),
            "log_pz": losses.log_normal_density(z, 0.0, 0.0).numpy().astype(np.float64),
            "log_qz": losses.log_normal_density(z, mean, log_var).numpy().astype(np.float64)}


def _iwae(combine, weights=(1.0, 1.0, -1.0)):
    def mistake(case):
        parts = _memo("iwae", case, _log_weight_parts)
        log_w = weights[0] * parts["log_px_z"] + weights[1] * parts["log_pz"] + weights[2] * parts["log_qz"]
        return {"value": combine(log_w)}
    return mistake


def _probe_iwae(answer, case):
    model, x, _, _, z = _iwae_inputs(case)
    return {"value": answer(model, x, z)}


Exercise(
    "ex06.2", "importance-weighted bound",
    "compares importance_weighted_bound(model, x, z) on a small MLP VAE with random weights, 3 random "
    "binary images and k = 16 and k = 1 codes drawn from q(z|x) with log mean_k exp(log p(x|z) + "
    "log p(z) - log q(z|x)) computed with vae.losses (tolerance 1e-3 nats)",
    cases=_iwae_cases, probe=_probe_iwae,
    reference=_iwae(lambda w: _log_mean_exp(w, 0)),
    mistakes={
        "that averages the log-weights (the ELBO); the bound is the log of the mean weight":
            _iwae(lambda w: w.mean(axis=0)),
        "that is log-sum-exp of the weights; subtract log(k)":
            _iwae(lambda w: _log_mean_exp(w, 0) + math.log(len(w))),
        "log p(z) is missing from the log-weights": _iwae(lambda w: _log_mean_exp(w, 0), (1.0, 0.0, -1.0)),
        "log q(z|x) should be subtracted, not added": _iwae(lambda w: _log_mean_exp(w, 0), (1.0, 1.0, 1.0)),
    },
    atol=1e-3, names={"value": "the bound"}, hints={"value": "one value per image"},
    implementations=("iwae_bound", "_log_weights")).register()


def _bits_per_dim_cases(rng):
    yield {"label": "for 784 dimensions", "nats": rng.uniform(60.0, 120.0, 3), "dims": 784}
    yield {"label": "for 3072 dimensions", "nats": float(rng.uniform(2000.0, 4000.0)), "dims": 3072}


Exercise(
    "ex06.3", "bits per dimension",
    "compares bits_per_dim on random negative log-likelihoods in nats for 784 dimensions (an array) "
    "and 3072 dimensions (a number) with nats / (dims ln 2) (tolerance 1e-6)",
    cases=_bits_per_dim_cases,
    probe=lambda answer, c: {"value": answer(c["nats"], c["dims"])},
    reference=lambda c: {"value": np.asarray(c["nats"]) / (c["dims"] * _LOG2)},
    mistakes={
        "it is divided by ln 2 but not by the number of dimensions": lambda c: {"value": np.asarray(c["nats"]) / _LOG2},
        "it is divided by the dimensions but still in nats: divide by ln 2 too":
            lambda c: {"value": np.asarray(c["nats"]) / c["dims"]},
        "it is multiplied by ln 2; a bit is ln 2 nats, so divide":
            lambda c: {"value": np.asarray(c["nats"]) * _LOG2 / c["dims"]},
        "it ignores the dims argument": lambda c: {"value": np.asarray(c["nats"]) / (784 * _LOG2)},
    },
    atol=1e-6, names={"value": "bits_per_dim(nll_nats, dims)"},
    implementations=("nats_to_bits_per_dim",)).register()


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def _normal_cdf_tail(x):
    """Phi(x) as 0.5 erfc(-x / sqrt 2): accurate in the lower tail."""
    return 0.5 * np.vectorize(math.erfc)(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


def _toy_cases(rng):
    yield {"label": "on 5 toy problems", "x": rng.normal(0.0, 2.0, 5), "noise_var": rng.uniform(0.2, 3.0, 5),
           "q_mean": rng.normal(0.0, 1.0, 5), "q_var": rng.uniform(0.1, 1.5, 5)}


def _toy_gap(case, reverse=False, prior=False):
    s = case["noise_var"]
    post_mean, post_var = (0.0, 1.0) if prior else (case["x"] / (1.0 + s), s / (1.0 + s))
    if reverse:
        return _kl_gaussians(post_mean, post_var, case["q_mean"], case["q_var"])
    return _kl_gaussians(case["q_mean"], case["q_var"], post_mean, post_var)


def _toy_log_px(case):
    v = 1.0 + case["noise_var"]
    return -0.5 * np.log(2.0 * np.pi * v) - case["x"] ** 2 / (2.0 * v)


_TOY_ARGS = ("x", "noise_var", "q_mean", "q_var")

Exercise(
    "ex06.4", "elbo gap on a gaussian toy model",
    "checks elbo_gap(x, noise_var, q_mean, q_var), log p(x) - ELBO for the model z ~ N(0, 1), "
    "x | z ~ N(z, noise_var) and the encoder q(z|x) = N(q_mean, q_var), on fresh random "
    "toy problems against KL(q || p(z|x)) in closed form (tolerance 1e-6 nats)",
    cases=_toy_cases,
    probe=lambda answer, c: {"value": answer(*(c[key] for key in _TOY_ARGS))},
    reference=lambda c: {"value": _toy_gap(c)},
    mistakes={
        "that is KL(p(z|x) || q), the divergence the other way round":
            lambda c: {"value": _toy_gap(c, reverse=True)},
        "that is KL(q || p(z)), the rate; the gap is the KL from the posterior p(z|x)":
            lambda c: {"value": _toy_gap(c, prior=True)},
        "that is the ELBO itself, log p(x) - gap": lambda c: {"value": _toy_log_px(c) - _toy_gap(c)},
    },
    atol=1e-6, names={"value": "the gap"}, hints={"value": "one gap per toy problem"}).register()


def _active_unit_cases(rng):
    for threshold in (0.01, 0.1):
        dim = 8
        active = int(rng.choice([1, 2, 3, 5, 6, 7]))
        spread = np.where(np.arange(dim) < active, rng.uniform(3.0, 10.0, dim), rng.uniform(0.1, 0.5, dim))
        means = rng.normal(0.0, 1.0, (50, dim)) * np.sqrt(spread * threshold) + rng.normal(0.0, 1.0, dim)
        yield {"label": f"with threshold {threshold}", "means": means[:, rng.permutation(dim)],
               "threshold": threshold}


def _count_active(case, axis=0, statistic=np.var, inactive=False):
    values = statistic(case["means"], axis=axis)
    count = np.sum(values > case["threshold"])
    return {"value": np.float64(case["means"].shape[1] - count if inactive else count)}


Exercise(
    "ex06.5", "active units",
    "checks active_units(means, threshold) on encoder means of 50 images and 8 units, drawn so that a "
    "random number of units vary across images, against the count of units whose variance across "
    "the images exceeds the threshold (thresholds 0.01 and 0.1; exact)",
    cases=_active_unit_cases,
    probe=lambda answer, c: {"value": answer(c["means"], c["threshold"])},
    reference=lambda c: _count_active(c),
    mistakes={
        "that counts images, not units: take the variance across the images (axis 0), one per unit":
            lambda c: _count_active(c, axis=1),
        "that thresholds the standard deviation; the criterion is the variance":
            lambda c: _count_active(c, statistic=np.std),
        "that counts the inactive units": lambda c: _count_active(c, inactive=True),
    },
    atol=0.0, rtol=0.0, names={"value": "the number of active units"},
    implementations=("active_units", "posterior_mean_variance", "ACTIVE_UNIT_THRESHOLD")).register()


# -- chapter 7 ---------------------------------------------------------------------------
def _interpolation_cases(rng):
    for steps in (7, 2):
        yield {"label": f"with {steps} steps", "z_start": rng.normal(size=5).astype(np.float32),
               "z_end": rng.normal(size=5).astype(np.float32), "steps": steps}


def _path(case, endpoint: bool = True):
    t = np.linspace(0.0, 1.0, case["steps"], endpoint=endpoint)[:, None]
    return (1.0 - t) * case["z_start"].astype(np.float64) + t * case["z_end"].astype(np.float64)


Exercise(
    "ex07.1", "latent interpolation",
    "compares interpolate(z_start, z_end, steps) for random 5-dimensional codes and 7 and 2 steps with "
    "the straight path (1 - t) z_start + t z_end: shape (steps, 5), both ends included (tolerance 1e-6)",
    cases=_interpolation_cases,
    probe=lambda answer, c: {"value": answer(c["z_start"], c["z_end"], c["steps"])},
    reference=lambda c: {"value": _path(c)},
    mistakes={
        "it runs from z_end to z_start": lambda c: {"value": _path(c)[::-1]},
        "it misses the last point, z_end (np.linspace includes both ends by default)":
            lambda c: {"value": _path(c, endpoint=False)},
        "it is transposed: one row per step, (steps, latent_dim)": lambda c: {"value": _path(c).T},
    },
    atol=1e-6, names={"value": "the path"}, hints={"value": "one row per step, both ends included"},
    implementations=("linear_interpolation", "spherical_interpolation")).register()


def _grid_cases(rng):
    for _ in range(2):
        low = float(rng.uniform(0.0005, 0.1))
        yield {"low": low, "high": 1.0 - float(rng.uniform(0.0005, 0.1))}


def _ppf(p):
    from vae.latent import _standard_normal_quantile

    return _standard_normal_quantile(np.asarray(p, dtype=np.float64))


def _grid_reach(case, square=True):
    mass = case["high"] - case["low"]
    return {"reach": _ppf(case["high"]), "mass": mass ** 2 if square else mass}


Exercise(
    "ex07.2", "reach of a quantile grid",
    "checks grid_reach(low, high), for the 2-D quantile grid whose axes run from the prior quantile low "
    "to the quantile high: (how many prior standard deviations its outer edge reaches along an axis, "
    "the prior mass inside the square) on fresh random low and high (tolerance 1e-6)",
    cases=_grid_cases,
    probe=lambda answer, c: dict(zip(("reach", "mass"), answer(c["low"], c["high"]))),
    reference=lambda c: _grid_reach(c),
    mistakes={
        "the mass is that of one axis; in 2-D it is the product of both axes' masses":
            lambda c: _grid_reach(c, square=False),
        "the reach is the probability high itself; turn it into standard deviations with the inverse CDF":
            lambda c: {"reach": np.float64(c["high"])},
        "the reach is read at the lower quantile (a negative number of standard deviations)":
            lambda c: {"reach": _ppf(c["low"])},
    },
    atol=1e-6, names={"reach": "the reach", "mass": "the mass inside the grid"},
    hints={"reach": "return a pair (reach, mass)"},
    implementations=("prior_quantiles", "prior_quantile_grid", "_standard_normal_quantile")).register()


def _cell_cases(rng):
    yield {"label": "for a 5 x 5 grid", "z": rng.normal(0.0, 1.2, (200, 2)) + [0.3, -0.2], "n": 5}
    yield {"label": "for a 4 x 4 grid", "z": rng.normal(0.0, 0.8, (120, 2)), "n": 4}


def _cells(case, quantile=True, transpose=False):
    z, n = case["z"], case["n"]
    if quantile:
        index = np.minimum(np.floor(_normal_cdf(z) * n), n - 1).astype(int)
    else:
        index = np.clip(np.floor((z + 3.0) / 6.0 * n), 0, n - 1).astype(int)
    counts = np.zeros((n, n))
    np.add.at(counts, (index[:, 0], index[:, 1]), 1.0)
    return {"value": counts.T if transpose else counts}


Exercise(
    "ex07.3", "codes per quantile cell",
    "checks cell_counts(z, n) on 200 and 120 random 2-D codes against the (n, n) table of how many codes "
    "fall in each cell of the prior's quantile grid (cell i along an axis holds Phi(z) in "
    "[i/n, (i+1)/n); row = first coordinate; exact)",
    cases=_cell_cases,
    probe=lambda answer, c: {"value": answer(c["z"], c["n"])},
    reference=lambda c: _cells(c),
    mistakes={
        "the table is transposed: rows follow the first coordinate z[:, 0]":
            lambda c: _cells(c, transpose=True),
        "the cells are equally wide in z (from -3 to 3); quantile cells are equally wide in Phi(z)":
            lambda c: _cells(c, quantile=False),
    },
    atol=0.0, rtol=0.0, names={"value": "the counts"}, hints={"value": "an (n, n) table"}).register()


# -- chapter 8 ---------------------------------------------------------------------------
def _rate_distortion(case):
    from vae.rate_distortion import rate_and_distortion

    rate, distortion = rate_and_distortion(_tiny_model(seed=case["model_seed"]), case["images"], samples=1,
                                           seed=case["seed"], batch_size=len(case["images"]))
    return np.array([rate, distortion])


def _point(transform):
    return lambda case: {"value": transform(_memo("rd", case, _rate_distortion))}


Exercise(
    "ex08.1", "rate-distortion point",
    "compares rate_distortion_point(model, images, seed) on a small MLP VAE with random weights and 16 "
    "random binary images with vae.rate_distortion.rate_and_distortion(model, images, samples=1, "
    "seed=seed): (rate, distortion) in nats per image (tolerance 1e-3)",
    cases=lambda rng: [_model_case(rng, 16)],
    probe=lambda answer, c: {"value": answer(_tiny_model(seed=c["model_seed"]), c["images"], c["seed"])},
    reference=_point(lambda p: p),
    mistakes={
        "rate and distortion are swapped": _point(lambda p: p[::-1]),
        "the distortion has the wrong sign: it is -log p(x|z), a positive number of nats":
            _point(lambda p: p * [1.0, -1.0]),
        "they are summed over the images; the point uses means per image": _point(lambda p: 16 * p),
    },
    atol=1e-3, names={"value": "(rate, distortion)"}, hints={"value": "a pair (rate_nats, distortion_nats)"},
    implementations=("rate_and_distortion", "evaluate_point")).register()


def _curve_cases(rng):
    for points in (6, 9):
        rates = np.sort(rng.uniform(2.0, 40.0, points))
        distortions = rng.uniform(60.0, 90.0) * np.exp(-rates / rng.uniform(8.0, 20.0)) + rng.uniform(50.0, 80.0)
        yield {"label": f"for {points} points", "rates": rates, "distortions": distortions}


def _chords(case, invert=False, sign=-1.0):
    d_rate, d_distortion = np.diff(case["rates"]), np.diff(case["distortions"])
    return {"value": sign * (d_rate / d_distortion if invert else d_distortion / d_rate)}


Exercise(
    "ex08.2", "exchange rates",
    "checks exchange_rates(rates, distortions) on random convex rate-distortion curves (rates increasing, "
    "nats) against each chord's -dD/dR, the beta at which its two ends tie (tolerance 1e-6)",
    cases=_curve_cases,
    probe=lambda answer, c: {"value": answer(c["rates"], c["distortions"])},
    reference=lambda c: _chords(c),
    mistakes={
        "the sign is wrong: the distortion falls as the rate rises, so -dD/dR is positive":
            lambda c: _chords(c, sign=1.0),
        "that is -dR/dD, the slope the other way up": lambda c: _chords(c, invert=True),
    },
    atol=1e-6, names={"value": "the exchange rates"}, hints={"value": "one per chord: len(rates) - 1 values"}).register()


def _operating_cases(rng):
    for case in _curve_cases(rng):
        yield {**case, "betas": np.exp(rng.uniform(np.log(0.3), np.log(4.0), 6))}


def _operating(case, on_rate=True, use_beta=True):
    rates, distortions = case["rates"][:, None], case["distortions"][:, None]
    betas = case["betas"][None, :] if use_beta else 1.0
    objective = distortions + betas * rates if on_rate else betas * distortions + rates
    return {"value": np.broadcast_to(np.argmin(objective, axis=0), case["betas"].shape).astype(np.float64)}


Exercise(
    "ex08.3", "beta-vae operating point",
    "checks operating_point(rates, distortions, beta) for 6 random betas on random convex curves against "
    "the index of the point a beta-VAE prefers, the minimum of D + beta R (exact)",
    cases=_operating_cases,
    probe=lambda answer, c: {"value": [answer(c["rates"], c["distortions"], float(b)) for b in c["betas"]]},
    reference=lambda c: _operating(c),
    mistakes={
        "beta weighs the distortion; the beta-VAE loss is D + beta R": lambda c: _operating(c, on_rate=False),
        "beta is ignored: that is the point of the plain ELBO, D + R": lambda c: _operating(c, use_beta=False),
    },
    atol=0.0, rtol=0.0, names={"value": "the chosen points"}, hints={"value": "one index per beta"}).register()


# -- chapter 9 ---------------------------------------------------------------------------
def _code_length_cases(rng):
    x = _binary_images(rng, 3)
    yield {"x": x, "logits": rng.normal(0.0, 2.0, x.shape).astype(np.float32)}


def _code_length(scale):
    return lambda c: {"value": scale * -_bernoulli_per_pixel(c["x"], c["logits"]).sum(axis=(1, 2, 3)) / _LOG2}


Exercise(
    "ex09.1", "code length",
    "compares code_length_bits(x, logits) on 3 random binary images and logits with "
    "-log2 p(x|z), in bits per image (tolerance 1e-3 bits)",
    cases=_code_length_cases,
    probe=lambda answer, c: {"value": answer(_tensor(c["x"]), _tensor(c["logits"]))},
    reference=_code_length(1.0),
    mistakes={
        "that is in nats; a bit is ln 2 nats, so divide by ln 2": _code_length(_LOG2),
        "it has the wrong sign: a code length is a positive number of bits": _code_length(-1.0),
        "it is averaged over the pixels; the code of an image is the sum over its pixels": _code_length(1 / 784),
    },
    atol=1e-3, names={"value": "the code length"}, hints={"value": "one value per image"}).register()


def _bits_back_inputs(case):
    model = _tiny_model(seed=case["model_seed"])
    x = _tensor(case["images"])
    mean, log_var = model.encode(x)
    return model, x, mean, log_var, model.reparameterize(mean, log_var, seed=case["seed"])


def _bits_back_parts(case):
    from vae import losses

    model, x, mean, log_var, z = _bits_back_inputs(case)
    return {"log_px_z": losses.bernoulli_log_likelihood(x, model.decode(z)).numpy().astype(np.float64),
            "log_pz": losses.log_normal_density(z, 0.0, 0.0).numpy().astype(np.float64),
            "log_qz": losses.log_normal_density(z, mean, log_var).numpy().astype(np.float64)}


def _bits_back(px, pz, qz, scale=1.0 / _LOG2):
    def cost(case):
        parts = _memo("bits-back", case, _bits_back_parts)
        return {"value": scale * (px * parts["log_px_z"] + pz * parts["log_pz"] + qz * parts["log_qz"])}
    return cost


def _probe_bits_back(answer, case):
    model, x, _, _, z = _bits_back_inputs(case)
    return {"value": answer(model, x, z)}


Exercise(
    "ex09.2", "bits-back cost",
    "compares bits_back_cost(model, x, z) on a small MLP VAE with random weights, 3 random binary images "
    "and one code per image with (-log p(x|z) - log p(z) + log q(z|x)) / ln 2 computed with vae.losses "
    "(tolerance 1e-3 bits)",
    cases=lambda rng: [_model_case(rng, 3)], probe=_probe_bits_back,
    reference=_bits_back(-1.0, -1.0, 1.0),
    mistakes={
        "no bits came back: subtract -log q(z|x), the bits the decoder recovers": _bits_back(-1.0, -1.0, 0.0),
        "log q(z|x) has the wrong sign": _bits_back(-1.0, -1.0, -1.0),
        "that is in nats; divide by ln 2": _bits_back(-1.0, -1.0, 1.0, scale=1.0),
        "only the bits of x given z are counted": _bits_back(-1.0, 0.0, 0.0),
    },
    atol=1e-3, names={"value": "the net cost"}, hints={"value": "one value per image"}).register()


def _discrete_cases(rng):
    for states in (4, 7):
        yield {"label": f"with {states} codes", "prior": rng.dirichlet(np.ones(states)),
               "likelihood": rng.uniform(0.01, 0.5, states), "posterior": rng.dirichlet(np.ones(states))}


def _discrete_cost(case, back=True, scale=1.0 / _LOG2, exact=False):
    p, likes, q = case["prior"], case["likelihood"], case["posterior"]
    if exact:
        return {"value": -np.log(np.sum(p * likes)) * scale}
    return {"value": np.sum(q * (-np.log(p) - np.log(likes) + (np.log(q) if back else 0.0))) * scale}


Exercise(
    "ex09.3", "bits-back on a discrete toy",
    "checks bits_back_toy(prior, likelihood, posterior), the expected net bits-back cost of one symbol x "
    "when z is drawn from the posterior q(z|x) (arrays over the codes: p(z), p(x|z), q(z|x)), on fresh "
    "random toys against E_q[-log2 p(z) - log2 p(x|z) + log2 q(z|x)] (tolerance 1e-6 bits)",
    cases=_discrete_cases,
    probe=lambda answer, c: {"value": answer(c["prior"], c["likelihood"], c["posterior"])},
    reference=lambda c: _discrete_cost(c),
    mistakes={
        "no bits came back: that is the two-part cost; subtract the -log2 q(z|x) bits the decoder recovers":
            lambda c: _discrete_cost(c, back=False),
        "that is in nats; divide by ln 2": lambda c: _discrete_cost(c, scale=1.0),
        "that is -log2 p(x), the cost only an exact posterior reaches; use the q given":
            lambda c: _discrete_cost(c, exact=True),
    },
    atol=1e-6, names={"value": "the expected net cost"}).register()


# -- chapter 10 --------------------------------------------------------------------------
def _latent_cases(rng):
    for size in (12, 5):
        yield {"label": f"for {size} latents", "y": np.round(rng.normal(0.0, 3.0, size)),
               "mean": rng.normal(0.0, 1.0, size), "scale": rng.uniform(0.5, 4.0, size)}


def _latent_bits(case, width=0.5, density=False, scale=1.0 / _LOG2):
    y, mean, sigma = case["y"], case["mean"], case["scale"]
    if density:
        log_p = -0.5 * np.log(2.0 * np.pi * sigma ** 2) - (y - mean) ** 2 / (2.0 * sigma ** 2)
    else:
        upper, lower = (y + width - mean) / sigma, (y - (1.0 - width) - mean) / sigma
        # both ends in the upper tail: the mass of the mirrored bin, without cancellation
        mirrored = lower > 0
        upper, lower = np.where(mirrored, -lower, upper), np.where(mirrored, -upper, lower)
        log_p = np.log(_normal_cdf_tail(upper) - _normal_cdf_tail(lower))
    return {"value": -np.sum(log_p) * scale}


Exercise(
    "ex10.1", "rate of integer latents",
    "checks latent_bits(y, mean, scale), the bits an entropy coder spends on integer latents y under the "
    "discretized Gaussian P(y) = Phi((y + 1/2 - mean) / scale) - Phi((y - 1/2 - mean) / scale), summed, "
    "on fresh random latents, means and scales (tolerance 1e-4 bits)",
    cases=_latent_cases,
    probe=lambda answer, c: {"value": answer(c["y"], c["mean"], c["scale"])},
    reference=lambda c: _latent_bits(c),
    mistakes={
        "that uses the density at y; an integer's probability is the mass of its bin [y - 1/2, y + 1/2]":
            lambda c: _latent_bits(c, density=True),
        "the bin is [y, y + 1]; it is centred on y, [y - 1/2, y + 1/2]": lambda c: _latent_bits(c, width=1.0),
        "that is in nats; divide by ln 2": lambda c: _latent_bits(c, scale=1.0),
    },
    atol=1e-4, names={"value": "the rate"}, hints={"value": "one number: the sum over the latents"},
    implementations=("gaussian_bits", "log_normal_cdf", "standard_normal_cdf")).register()


def _psnr_cases(rng):
    yield {"label": "with peak 1", "mse": rng.uniform(1e-4, 0.05, 4), "peak": 1.0}
    yield {"label": "with peak 255", "mse": rng.uniform(1.0, 300.0, 4), "peak": 255.0}


def _psnr(case, factor=10.0, squared=True, log=np.log10):
    peak = case["peak"] ** 2 if squared else case["peak"]
    return {"value": factor * log(peak / case["mse"])}


Exercise(
    "ex10.2", "psnr from mse",
    "checks psnr_from_mse(mse, peak) on random mean squared errors for peaks 1 and 255 against "
    "10 log10(peak^2 / mse) in dB (tolerance 1e-6)",
    cases=_psnr_cases,
    probe=lambda answer, c: {"value": answer(c["mse"], c["peak"])},
    reference=lambda c: _psnr(c),
    mistakes={
        "the peak is not squared: PSNR compares the squared peak with the mean squared error":
            lambda c: _psnr(c, squared=False),
        "that is 20 log10 of a power ratio; 20 log10 goes with amplitudes, 10 log10 with peak^2 / mse":
            lambda c: _psnr(c, factor=20.0),
        "that uses the natural log; decibels are 10 log10": lambda c: _psnr(c, log=np.log),
    },
    atol=1e-6, names={"value": "the PSNR"}, implementations=("psnr",)).register()


def _bd_cases(rng):
    for _ in range(2):
        psnr = np.sort(rng.uniform(18.0, 34.0, 5))
        anchor = np.exp(0.18 * psnr - 4.0 + rng.normal(0.0, 0.03, 5))
        shift = rng.uniform(-0.5, 0.3)
        test_psnr = np.sort(psnr + rng.uniform(-1.0, 1.0))
        test = np.exp(0.18 * test_psnr - 4.0 + shift + rng.normal(0.0, 0.03, 5))
        yield {"anchor_rate": anchor, "anchor_psnr": psnr, "test_rate": test, "test_psnr": test_psnr}


_BD_ARGS = ("anchor_rate", "anchor_psnr", "test_rate", "test_psnr")


def _bd(case, swap=False, log=True, percent=True):
    rates = [case[key] for key in _BD_ARGS]
    if swap:
        rates = rates[2:] + rates[:2]
    fits = [np.polyint(np.poly1d(np.polyfit(psnr, np.log(rate) if log else rate, 3)))
            for rate, psnr in (rates[:2], rates[2:])]
    low = max(np.min(rates[1]), np.min(rates[3]))
    high = min(np.max(rates[1]), np.max(rates[3]))
    mean = ((fits[1](high) - fits[1](low)) - (fits[0](high) - fits[0](low))) / (high - low)
    value = (np.exp(mean) - 1.0) if log else mean / np.mean(rates[0])
    return {"value": np.float64(value * (100.0 if percent else 1.0))}


Exercise(
    "ex10.3", "bd-rate",
    "checks bd_rate_percent(anchor_rate, anchor_psnr, test_rate, test_psnr) on two random 5-point curves "
    "against Bjontegaard's delta rate: cubic fits of log-rate against PSNR, averaged over the PSNR "
    "overlap, exp(mean difference) - 1, in percent (tolerance 1e-6 percentage points)",
    cases=_bd_cases,
    probe=lambda answer, c: {"value": answer(*(c[key] for key in _BD_ARGS))},
    reference=lambda c: _bd(c),
    mistakes={
        "the curves are swapped: the rate difference is test minus anchor": lambda c: _bd(c, swap=True),
        "that is a fraction; return percent": lambda c: _bd(c, percent=False),
        "the fit is of the rate itself; Bjontegaard fits the log of the rate": lambda c: _bd(c, log=False),
    },
    atol=1e-6, names={"value": "the BD-rate"}, implementations=("bd_rate", "_cubic_of_log_rate")).register()


_BD_OPTIONS = ("negative: the test codec needs fewer bits at the same PSNR",
               "positive: the test codec needs more bits at the same PSNR",
               "zero: BD-rate compares rates, and the curves' rates are the same")

Exercise(
    "ex10.4", "reading a bd-rate off a plot",
    "checks which_bd_rate(), a multiple-choice answer: the index (0, 1 or 2) of the sign of the BD-rate of a curve "
    "lying above the anchor's on a PSNR-against-rate plot; exact",
    cases=lambda rng: [{"options": len(_BD_OPTIONS)}],
    probe=lambda answer, c: {"value": answer()},
    reference=lambda c: {"value": np.float64(0)},
    mistakes={
        "option 1 reads the plot the wrong way round: above means more PSNR at the same rate":
            lambda c: {"value": np.float64(1)},
        "option 2 compares the two curves at the same rate; BD-rate compares them at the same PSNR":
            lambda c: {"value": np.float64(2)},
    },
    atol=0.0, rtol=0.0, names={"value": "the option chosen"}, hints={"value": "return one integer"},
    explanation="A curve above the anchor reaches every PSNR at a lower rate (move left along a "
                "horizontal line to meet it), so the mean log-rate difference at equal PSNR is "
                "negative and so is the BD-rate: the test codec saves bits.").register()
