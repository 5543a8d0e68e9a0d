"""The checks of the graded exercises, one per exercise, registered in :data:`vae.grading.EXERCISES`.

Each check runs the learner's function on fixed inputs and compares it with
the package's own implementation; common mistakes are recognized by name.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np

from vae.grading.checking import Exercise, WrongAnswer

_LOG2 = math.log(2.0)


# -- how answers are called and compared -----------------------------------------------
def _call(answer, *args, **kwargs):
    """Call the learner's function with its prints and warnings swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return answer(*args, **kwargs)


def _shape(shape) -> str:
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _as_array(value, what: str) -> np.ndarray:
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise WrongAnswer(f"{what} should be numbers, got {type(value).__name__}") from None
    return array


def _compare(what: str, got, expected, *, atol: float, rtol: float = 1e-5,
             mistakes: dict | None = None, shape_hint: str = "", nonfinite_hint: str = "") -> None:
    """Raise :class:`WrongAnswer` unless ``got`` matches ``expected`` within the tolerances.

    ``mistakes`` maps a description of a common mistake to the value that
    mistake produces; a result matching one of them is reported by name.
    """
    got = _as_array(got, what)
    expected = np.asarray(expected, dtype=np.float64)
    candidates = dict(mistakes or {})
    candidates.setdefault("it has the wrong sign", -expected)
    candidates.setdefault("it is twice the reference (is a factor 1/2 missing?)", 2.0 * expected)
    candidates.setdefault("it is half the reference (a factor 1/2 too many?)", 0.5 * expected)
    if got.shape == expected.shape and np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=atol):
        return
    for description, value in candidates.items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.all(np.isfinite(got)) and np.allclose(got, value, rtol=rtol, atol=atol):
            raise WrongAnswer(f"{what} is wrong: {description}")
    if got.shape != expected.shape:
        hint = f" ({shape_hint})" if shape_hint else ""
        raise WrongAnswer(f"{what} has shape {_shape(got.shape)}, expected {_shape(expected.shape)}{hint}")
    if not np.all(np.isfinite(got)):
        kind = "NaN" if np.isnan(got).any() else "infinite"
        hint = f" ({nonfinite_hint})" if nonfinite_hint else ""
        raise WrongAnswer(f"{what} holds {kind} values where the reference is finite{hint}")
    error = np.abs(got - expected) - atol - rtol * np.abs(expected)
    index = np.unravel_index(int(np.argmax(error)), got.shape) if got.shape else ()
    where = f" at index {_shape(index)}" if got.shape else ""
    raise WrongAnswer(f"{what} differs from the reference{where}: expected {expected[index]:.5g}, "
                 f"got {got[index]:.5g}")


def _tiny_model(latent_dim: int = 3, seed: int = 0):
    """A small MLP VAE whose weights come from a NumPy generator (global seeds untouched)."""
    from vae.models import MLPVAE

    model = MLPVAE(latent_dim=latent_dim, hidden=(32,), seed=seed)
    rng = np.random.default_rng(100 + seed)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.3, tuple(variable.shape)).astype(np.float32))
    return model


def _flat_weights(model) -> np.ndarray:
    return np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables]).astype(np.float64)


def _binary_images(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((count, 28, 28, 1)) < 0.25).astype(np.float32)


def _encoded_images(count: int, seed: int):
    """The tiny model, ``count`` binary images ``(count, 28, 28, 1)`` and their posterior ``(mean, log_var)``."""
    model = _tiny_model()
    images = _binary_images(count, seed)
    return model, images, model.encode(images)


def _gaussian_parameters(rows: int, dim: int, seed: int):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    mean = tf.constant(rng.normal(0.0, 1.0, (rows, dim)), tf.float32)
    log_var = tf.constant(rng.uniform(-2.0, 1.5, (rows, dim)), tf.float32)
    return mean, log_var


# -- chapter 2 -------------------------------------------------------------------------
@Exercise.register("ex02.1", "pca reconstruction",
           "compares pca_reconstruct on 10 random grey images, a mean image and 5 orthonormal "
           "directions with vae.autoencoders.PCA.reconstruct of the same analysis (tolerance 1e-4)")
def _check_pca(answer):
    from vae.autoencoders import PCA

    rng = np.random.default_rng(21)
    directions, _ = np.linalg.qr(rng.normal(size=(784, 5)))  # 5 orthonormal columns
    pca = PCA(mean=rng.random(784), components=directions.T, singular_values=np.arange(5.0, 0.0, -1.0))
    test = rng.random((10, 28, 28, 1)).astype(np.float32)
    expected = pca.reconstruct(test)
    rows = test.reshape(10, 784).astype(np.float64)
    got = _call(answer, test, pca.mean, pca.components)
    _compare("the reconstruction", got, expected, atol=1e-4, mistakes={
        "the mean image was not added back": (expected.reshape(10, 784) - pca.mean).reshape(expected.shape),
        "the images were not centred before the projection":
            ((rows @ pca.components.T) @ pca.components + pca.mean).reshape(expected.shape),
    }, shape_hint="reshape the rows back into (n, 28, 28, 1) images")


# -- chapter 3 -------------------------------------------------------------------------
@Exercise.register("ex03.1", "reparameterization",
           "compares reparameterize(mean, log_var, eps) on 5x4 fixed parameters with "
           "VAE.reparameterize given the same noise (tolerance 1e-5), then the gradients of z "
           "with respect to mean and log_var")
def _check_reparameterize(answer):
    import tensorflow as tf

    model = _tiny_model(latent_dim=4)
    mean, log_var = _gaussian_parameters(5, 4, seed=31)
    eps = model.reparameterize(tf.zeros_like(mean), tf.zeros_like(log_var), seed=11)
    weights = tf.constant(np.linspace(0.5, 1.5, 20).reshape(5, 4), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([mean, log_var])
        expected = model.reparameterize(mean, log_var, seed=11)
        got = _call(answer, mean, log_var, eps)
        expected_total = tf.reduce_sum(expected * weights)
        got_total = tf.reduce_sum(tf.cast(got, tf.float32) * weights) if tf.is_tensor(got) else None
    _compare("z", got, expected, atol=1e-5, mistakes={
        "the noise is scaled by the variance exp(log_var); the standard deviation is exp(log_var / 2)":
            mean + tf.exp(log_var) * eps,
        "the noise is scaled by log_var itself; the standard deviation is exp(log_var / 2)":
            mean + log_var * eps,
        "the noise is scaled by exp(log_var) / 2; the standard deviation is exp(log_var / 2)":
            mean + 0.5 * tf.exp(log_var) * eps,
        "the mean is missing": tf.exp(0.5 * log_var) * eps,
    })
    gradients = tape.gradient(got_total, [mean, log_var]) if got_total is not None else [None, None]
    if any(g is None for g in gradients):
        raise WrongAnswer("z is right, but no gradient flows back to mean and log_var: "
                     "write it with TensorFlow operations (tf.exp), not NumPy")
    reference = tape.gradient(expected_total, [mean, log_var])
    _compare("dz/dmean", gradients[0], reference[0], atol=1e-5)
    _compare("dz/dlog_var", gradients[1], reference[1], atol=1e-5)


@Exercise.register("ex03.2", "sampling with an unknown batch size",
           "traces sample_codes in a tf.function whose inputs have an unknown batch size, checks "
           "the shapes for batches of 1 and 7, then checks that 20,000 draws have the mean and "
           "standard deviation of N(mean, exp(log_var)) (within 5 % of a standard deviation) and "
           "that every row gets its own noise")
def _check_sample_codes(answer):
    import tensorflow as tf

    spec = tf.TensorSpec([None, 3], tf.float32)
    traced = tf.function(lambda mean, log_var: _call(answer, mean, log_var), input_signature=[spec, spec])
    try:
        for batch in (1, 7):
            z = traced(tf.zeros([batch, 3]), tf.zeros([batch, 3]))
            if tuple(z.shape) != (batch, 3):
                raise WrongAnswer(f"z has shape {_shape(z.shape)} for a batch of {batch}, expected {_shape((batch, 3))}")
    except WrongAnswer:
        raise
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001
        raise WrongAnswer(f"it fails inside tf.function with an unknown batch size ({type(error).__name__}); "
                     f"take the noise's shape from tf.shape(mean), not mean.shape") from None
    mean_row = np.array([0.5, -1.0, 2.0], np.float32)
    log_var_row = np.array([0.0, -1.5, 1.0], np.float32)
    count = 20000
    z = traced(tf.constant(np.tile(mean_row, (count, 1))), tf.constant(np.tile(log_var_row, (count, 1))))
    z = _as_array(z, "z")
    std = np.exp(0.5 * log_var_row.astype(np.float64))
    if np.allclose(z, z[0]):
        raise WrongAnswer("every row got the same noise: draw one eps per row (shape tf.shape(mean))")
    sample_std = z.std(axis=0)
    if np.allclose(sample_std, np.exp(log_var_row), rtol=0.05) and not np.allclose(sample_std, std, rtol=0.05):
        raise WrongAnswer("the spread is exp(log_var), the variance; the standard deviation is exp(log_var / 2)")
    if not np.all(np.abs(z.mean(axis=0) - mean_row) < 0.05 * std):
        raise WrongAnswer(f"the draws' mean is {np.round(z.mean(axis=0), 2).tolist()}, "
                     f"expected {mean_row.tolist()}")
    if not np.allclose(sample_std, std, rtol=0.05):
        raise WrongAnswer(f"the draws' standard deviation is {np.round(sample_std, 2).tolist()}, "
                     f"expected {np.round(std, 2).tolist()}")


# -- chapter 4 -------------------------------------------------------------------------
@Exercise.register("ex04.1", "bernoulli log-likelihood",
           "compares bernoulli_log_likelihood on 3 binary images and logits that include "
           "+-40 and +-200 with vae.losses.bernoulli_log_likelihood: one value per image, "
           "finite, within 1e-3 nats")
def _check_bernoulli(answer):
    import tensorflow as tf

    from vae import losses

    x = _binary_images(3, seed=41)
    rng = np.random.default_rng(42)
    logits = rng.normal(0.0, 3.0, x.shape).astype(np.float32)
    logits[0, 0, :4, 0] = [40.0, -40.0, 200.0, -200.0]
    x[0, 0, :4, 0] = [0.0, 1.0, 0.0, 1.0]  # confident and wrong: the naive formula takes log(0)
    expected = losses.bernoulli_log_likelihood(x, logits).numpy()
    per_pixel = -tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits).numpy().astype(np.float64)
    got = _call(answer, tf.constant(x), tf.constant(logits))
    _compare("the log-likelihood", got, expected, atol=1e-3, mistakes={
        "it is summed over the batch axis (axis 0); sum over the pixels of each image": per_pixel.sum(axis=0),
        "it is summed over the last axis only; sum over every pixel of each image": per_pixel.sum(axis=-1),
        "it is not summed; sum over the pixels of each image": per_pixel,
        "it is summed over the whole batch; return one value per image": per_pixel.sum(),
        "it is averaged over the pixels; the log-likelihood of an image is their sum": per_pixel.mean(axis=(1, 2, 3)),
    }, shape_hint="one value per image", nonfinite_hint="log(sigmoid(l)) underflows for large |l|; "
                                                         "write it with softplus")


@Exercise.register("ex04.2", "kl divergence",
           "compares kl_divergence on 4x3 fixed means and log-variances with "
           "vae.losses.kl_standard_normal (tolerance 1e-5)")
def _check_kl(answer):
    from vae import losses

    mean, log_var = _gaussian_parameters(4, 3, seed=43)
    expected = losses.kl_standard_normal(mean, log_var).numpy()
    m, lv = mean.numpy().astype(np.float64), log_var.numpy().astype(np.float64)
    got = _call(answer, mean, log_var)
    _compare("the KL divergence", got, expected, atol=1e-5, mistakes={
        "it has the wrong sign: a KL divergence is never negative": -expected,
        "the factor 1/2 is missing": 2.0 * expected,
        "the -1 inside the sum is missing": expected + 0.5 * m.shape[1],
        "it is summed over the batch; return one value per example": expected.sum(),
        "it is not summed over the latent dimensions": 0.5 * (np.exp(lv) + m ** 2 - 1.0 - lv),
    }, shape_hint="one value per example")


@Exercise.register("ex04.3", "elbo",
           "compares elbo(model, x, seed) on a small MLP VAE and 4 binary images with "
           "vae.losses.elbo(model, x, seed=seed) (tolerance 1e-3 nats)")
def _check_elbo(answer):
    from vae import losses

    model = _tiny_model()
    x = _binary_images(4, seed=44)
    expected = losses.elbo(model, x, seed=5).numpy()
    terms = losses.elbo_terms(model, x, seed=5)
    log_likelihood, kl = terms["log_likelihood"].numpy(), terms["kl"].numpy()
    mean, log_var = model.encode(x)
    from_mean = losses.bernoulli_log_likelihood(x, model.decode(mean)).numpy() - kl
    got = _call(answer, model, x, 5)
    _compare("the ELBO", got, expected, atol=1e-3, mistakes={
        "the KL term has a plus sign; the ELBO subtracts it": log_likelihood + kl,
        "that is the loss, the negative ELBO": -expected,
        "it decodes the mean instead of a sample z drawn with model.reparameterize": from_mean,
        "it is averaged over the batch; return one value per image": expected.mean(),
        "it is summed over the batch; return one value per image": expected.sum(),
        "the KL term is missing": log_likelihood,
    }, shape_hint="one value per image")


# -- chapter 5 -------------------------------------------------------------------------
@Exercise.register("ex05.1", "decoder output shape",
           "builds build_decoder(latent_dim) for latent sizes 2 and 16 and checks that codes "
           "(5, latent_dim) and (1, latent_dim) give float32 logits shaped like the images, "
           "(batch, 28, 28, 1), as vae.models.ConvVAE's decoder does, with trainable weights and "
           "no final sigmoid")
def _check_decoder(answer):
    import keras
    import tensorflow as tf

    from vae.models import ConvVAE

    rng = np.random.default_rng(51)
    for latent_dim in (2, 16):
        decoder = _call(answer, latent_dim)
        if not callable(decoder):
            raise WrongAnswer(f"build_decoder({latent_dim}) returned {type(decoder).__name__}, not a model")
        reference = ConvVAE(latent_dim=latent_dim, filters=(4, 8), hidden=16).decoder
        for batch in (5, 1):
            z = tf.constant(rng.normal(0.0, 3.0, (batch, latent_dim)), tf.float32)
            expected_shape = tuple(reference(z).shape)
            logits = _call(decoder, z)
            shape = tuple(getattr(logits, "shape", np.shape(logits)))
            if shape != expected_shape:
                raise WrongAnswer(f"the decoder maps codes {_shape(z.shape)} to shape {_shape(shape)}, "
                             f"expected {_shape(expected_shape)}")
            if getattr(logits, "dtype", None) not in (tf.float32, "float32", np.float32):
                raise WrongAnswer(f"the logits have dtype {getattr(logits, 'dtype', type(logits).__name__)}, "
                             f"expected float32")
        if not getattr(decoder, "trainable_weights", None):
            raise WrongAnswer("the decoder has no trainable weights: build it from Keras layers")
        last = decoder.layers[-1] if isinstance(decoder, keras.Model) and decoder.layers else None
        activation = getattr(last, "activation", None)
        values = _as_array(_call(decoder, tf.constant(rng.normal(0.0, 3.0, (5, latent_dim)), tf.float32)),
                           "logits")
        if activation is keras.activations.sigmoid or (values.min() >= 0.0 and values.max() <= 1.0):
            raise WrongAnswer("every output lies in [0, 1]: the decoder must return logits (any real "
                         "number); leave the sigmoid to the likelihood")


@Exercise.register("ex05.2", "train step",
           "runs train_step(model, optimizer, x, seed) once on a small MLP VAE with SGD "
           "(learning rate 0.1) and 8 binary images, and compares the returned loss and every "
           "updated weight with a reference step on an identical copy (GradientTape on "
           "VAE.compute_losses(x, seed)['loss']; tolerance 1e-4)")
def _check_train_step(answer):
    import keras
    import tensorflow as tf

    model, reference = _tiny_model(latent_dim=2), _tiny_model(latent_dim=2)
    x = tf.constant(_binary_images(8, seed=52))
    before = _flat_weights(model)
    got_loss = _call(answer, model, keras.optimizers.SGD(learning_rate=0.1), x, 7)
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        expected_loss = reference.compute_losses(x, seed=7)["loss"]
    gradients = tape.gradient(expected_loss, reference.trainable_variables)
    optimizer.apply_gradients(zip(gradients, reference.trainable_variables))
    expected_loss = float(expected_loss)
    _compare("the returned loss", got_loss, expected_loss, atol=1e-3, mistakes={
        "that is the ELBO; the loss to minimise is its negative": -expected_loss,
        "it is summed over the batch; return the mean, in nats per image": 8 * expected_loss,
    }, shape_hint="return the batch mean, a scalar")
    after, expected = _flat_weights(model), _flat_weights(reference)
    _compare("the step", after, expected, atol=1e-4, rtol=1e-4, mistakes={
        "the weights did not change: apply the gradients with optimizer.apply_gradients": before,
        "the step went uphill: differentiate the loss (the negative ELBO), not the ELBO":
            2.0 * before - expected,
    })


# -- chapter 6 -------------------------------------------------------------------------
@Exercise.register("ex06.1", "log-mean-exp",
           "compares log_mean_exp(values, axis) on a 5x3 array holding values near +1000 and "
           "-1000 with vae.losses.log_mean_exp, for axis 0 and axis 1 (tolerance 1e-4)")
def _check_log_mean_exp(answer):
    from vae import losses

    rng = np.random.default_rng(61)
    values = rng.normal(0.0, 2.0, (5, 3)).astype(np.float32)
    values[:, 1] += 1000.0
    values[:, 2] -= 1000.0
    for axis in (0, 1):
        expected = losses.log_mean_exp(values, axis=axis).numpy()
        count = values.shape[axis]
        got = _call(answer, values, axis=axis)
        _compare(f"log_mean_exp(values, axis={axis})", got, expected, atol=1e-4, mistakes={
            "that is log-sum-exp; subtract log(k) to get the log of the mean": expected + math.log(count),
            "that is the mean of the values, not the log of the mean of their exponentials":
                values.astype(np.float64).mean(axis=axis),
            "that is the maximum; add log(mean(exp(values - max)))": values.astype(np.float64).max(axis=axis),
        }, nonfinite_hint="exp overflows or underflows: subtract the maximum before exponentiating")


@Exercise.register("ex06.2", "importance-weighted bound",
           "compares importance_weighted_bound(model, x, z) on a small MLP VAE, 3 binary images "
           "and k = 1 and k = 16 codes drawn as vae.losses.iwae_bound draws them, with "
           "vae.losses.iwae_bound(model, x, k, seed=seed) (tolerance 1e-3 nats)")
def _check_iwae(answer):
    import tensorflow as tf

    from vae import losses
    from vae.seeding import stateless_seed

    model, x, (mean, log_var) = _encoded_images(3, seed=62)
    for k in (16, 1):
        eps = tf.random.stateless_normal([k, 3, model.latent_dim], seed=stateless_seed(9, 1))
        z = mean + tf.exp(0.5 * log_var) * eps
        expected = losses.iwae_bound(model, x, k, chunk_size=k, seed=9).numpy()
        flat = tf.reshape(z, [-1, model.latent_dim])
        log_px_z = tf.reshape(losses.bernoulli_log_likelihood(tf.tile(x, [k, 1, 1, 1]), model.decode(flat)), [k, 3])
        log_w = (log_px_z + losses.log_normal_density(z, 0.0, 0.0) - losses.log_normal_density(z, mean, log_var))
        log_w = log_w.numpy().astype(np.float64)
        got = _call(answer, model, x, z)
        _compare(f"the bound with k = {k}", got, expected, atol=1e-3, mistakes={
            "that averages the log-weights (the ELBO); the bound is the log of the mean weight":
                log_w.mean(axis=0),
            "that is log-sum-exp of the weights; subtract log(k)": expected + math.log(k),
            "log p(z) is missing from the log-weights":
                losses.log_mean_exp(log_w - losses.log_normal_density(z, 0.0, 0.0).numpy(), axis=0).numpy(),
            "log q(z|x) should be subtracted, not added":
                losses.log_mean_exp(log_w + 2 * losses.log_normal_density(z, mean, log_var).numpy(), axis=0).numpy(),
        }, shape_hint="one value per image")


@Exercise.register("ex06.3", "bits per dimension",
           "compares bits_per_dim on [80.0, 86.76, 100.5] nats for 784 dimensions and on 3000 "
           "nats for 3072 dimensions with vae.losses.nats_to_bits_per_dim (tolerance 1e-6)")
def _check_bits_per_dim(answer):
    from vae import losses

    for nats, dims in ((np.array([80.0, 86.76, 100.5]), 784), (3000.0, 3072)):
        expected = losses.nats_to_bits_per_dim(nats, dims)
        got = _call(answer, nats, dims)
        _compare(f"bits_per_dim(..., dims={dims})", got, expected, atol=1e-6, mistakes={
            "it is divided by ln 2 but not by the number of dimensions": np.asarray(nats) / _LOG2,
            "it is divided by the dimensions but still in nats: divide by ln 2 too": np.asarray(nats) / dims,
            "it is multiplied by ln 2; a bit is ln 2 nats, so divide": np.asarray(nats) * _LOG2 / dims,
            "it ignores the dims argument": np.asarray(nats) / (784 * _LOG2),
        })


# -- chapter 7 -------------------------------------------------------------------------
@Exercise.register("ex07.1", "latent interpolation",
           "compares interpolate(z_start, z_end, steps) for 5-dimensional codes and 7 and 2 steps "
           "with vae.latent.linear_interpolation: shape (steps, 5), both ends included "
           "(tolerance 1e-6)")
def _check_interpolation(answer):
    from vae.latent import linear_interpolation

    rng = np.random.default_rng(71)
    start, end = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    for steps in (7, 2):
        expected = linear_interpolation(start, end, steps)
        got = _call(answer, start, end, steps)
        t_open = np.linspace(0.0, 1.0, steps, endpoint=False)[:, None]
        _compare(f"the path with {steps} steps", got, expected, atol=1e-6, mistakes={
            "it runs from z_end to z_start": expected[::-1],
            "it misses the last point, z_end (np.linspace includes both ends by default)":
                (1 - t_open) * start + t_open * end,
            "it is transposed: one row per step, (steps, latent_dim)": expected.T,
        }, shape_hint="one row per step, both ends included")


# -- chapter 8 -------------------------------------------------------------------------
@Exercise.register("ex08.1", "rate-distortion point",
           "compares rate_distortion_point(model, images, seed) on a small MLP VAE and 16 binary "
           "images with vae.rate_distortion.rate_and_distortion(model, images, samples=1, "
           "seed=seed): (rate, distortion) in nats per image (tolerance 1e-3)")
def _check_rate_distortion(answer):
    from vae.rate_distortion import rate_and_distortion

    model = _tiny_model()
    images = _binary_images(16, seed=81)
    rate, distortion = rate_and_distortion(model, images, samples=1, seed=3, batch_size=16)
    got = _call(answer, model, images, 3)
    if isinstance(got, dict):
        raise WrongAnswer("return a pair (rate_nats, distortion_nats), not a dict")
    _compare("(rate, distortion)", got, [rate, distortion], atol=1e-3, mistakes={
        "rate and distortion are swapped": [distortion, rate],
        "the distortion has the wrong sign: it is -log p(x|z), a positive number of nats": [rate, -distortion],
        "they are summed over the images; the point uses means per image": [16 * rate, 16 * distortion],
    }, shape_hint="a pair (rate_nats, distortion_nats)")


# -- chapter 9 -------------------------------------------------------------------------
@Exercise.register("ex09.1", "code length",
           "compares code_length_bits(x, logits) on 3 binary images with "
           "-vae.losses.bernoulli_log_likelihood(x, logits) / ln 2, in bits per image "
           "(tolerance 1e-3 bits)")
def _check_code_length(answer):
    import tensorflow as tf

    from vae import losses

    x = _binary_images(3, seed=91)
    logits = np.random.default_rng(92).normal(0.0, 2.0, x.shape).astype(np.float32)
    nats = -losses.bernoulli_log_likelihood(x, logits).numpy().astype(np.float64)
    expected = nats / _LOG2
    got = _call(answer, tf.constant(x), tf.constant(logits))
    _compare("the code length", got, expected, atol=1e-3, mistakes={
        "that is in nats; a bit is ln 2 nats, so divide by ln 2": nats,
        "it has the wrong sign: a code length is a positive number of bits": -expected,
        "it is averaged over the pixels; the code of an image is the sum over its pixels": expected / 784,
    }, shape_hint="one value per image")


@Exercise.register("ex09.2", "bits-back cost",
           "compares bits_back_cost(model, x, z) on a small MLP VAE, 3 binary images and one code "
           "per image with (-log p(x|z) - log p(z) + log q(z|x)) / ln 2 computed with vae.losses "
           "(tolerance 1e-3 bits)")
def _check_bits_back(answer):
    import tensorflow as tf

    from vae import losses

    model, x, (mean, log_var) = _encoded_images(3, seed=93)
    z = model.reparameterize(mean, log_var, seed=4)
    log_px_z = losses.bernoulli_log_likelihood(x, model.decode(z)).numpy().astype(np.float64)
    log_pz = losses.log_normal_density(z, 0.0, 0.0).numpy().astype(np.float64)
    log_qz = losses.log_normal_density(z, mean, log_var).numpy().astype(np.float64)
    expected = (-log_px_z + losses.kl_monte_carlo(z, mean, log_var).numpy()) / _LOG2
    got = _call(answer, model, tf.constant(x), z)
    _compare("the net cost", got, expected, atol=1e-3, mistakes={
        "no bits came back: subtract -log q(z|x), the bits the decoder recovers": (-log_px_z - log_pz) / _LOG2,
        "log q(z|x) has the wrong sign": (-log_px_z - log_pz - log_qz) / _LOG2,
        "that is in nats; divide by ln 2": expected * _LOG2,
        "only the bits of x given z are counted": -log_px_z / _LOG2,
    }, shape_hint="one value per image")
