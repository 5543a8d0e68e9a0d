"""Log-likelihoods, KL divergences and the bounds built from them.

Every function returns one number per example, shape ``(batch,)``, in nats
(natural-log units). Signs follow the maths: log-likelihoods and bounds are
log-probabilities (usually negative); KL divergences are non-negative. A loss
to minimize is the *negative* of a bound.
"""

from __future__ import annotations

import math

import tensorflow as tf

from vae.checks import PIXELS, check_images, check_number, check_positive_int
from vae.seeding import stateless_seed

LOG_2PI = math.log(2.0 * math.pi)


def _as_float32(value) -> tf.Tensor:
    """Any number, array or tensor (float64 included) as a float32 tensor."""
    return tf.cast(tf.convert_to_tensor(value), tf.float32)


def _sum_over_pixels(per_pixel: tf.Tensor) -> tf.Tensor:
    """Sum a ``(batch, ...)`` tensor over every axis but the first -> ``(batch,)``."""
    return tf.reduce_sum(tf.reshape(per_pixel, [tf.shape(per_pixel)[0], -1]), axis=1)


def bernoulli_log_likelihood(x, logits) -> tf.Tensor:
    """log p(x | z) for a factorized Bernoulli decoder, from logits, in nats.

    Computed as ``-softplus(-l) * x - softplus(l) * (1 - x)`` summed over pixels
    (what ``tf.nn.sigmoid_cross_entropy_with_logits`` computes), which never
    takes the log of a rounded-off sigmoid, so it is stable for large |logits|.

    Args:
        x: targets, ``(batch, 28, 28, 1)`` (any trailing shape), values in [0, 1].
        logits: decoder outputs of the same shape; ``sigmoid(logits)`` is the
            probability that a pixel is on.

    Returns:
        ``(batch,)`` log-likelihoods in nats (<= 0 for binary x).

    Introduced in chapter 4.
    """
    x = _as_float32(x)
    logits = _as_float32(logits)
    per_pixel = -tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)
    return _sum_over_pixels(per_pixel)


def gaussian_log_likelihood(x, mean, log_var) -> tf.Tensor:
    """log N(x; mean, exp(log_var)) with a diagonal covariance, in nats.

    Squared error is this up to a constant when ``log_var`` is fixed: that is
    the Gaussian assumption behind an MSE reconstruction loss.

    Args:
        x: observations ``(batch, ...)``.
        mean: means, same shape as ``x``.
        log_var: log-variances, broadcastable to ``x`` (a scalar gives a fixed
            variance shared by every pixel).

    Returns:
        ``(batch,)`` log-densities in nats.

    Introduced in chapter 4.
    """
    x = _as_float32(x)
    mean = _as_float32(mean)
    log_var = tf.broadcast_to(_as_float32(log_var), tf.shape(x))
    per_dim = -0.5 * (LOG_2PI + log_var + tf.square(x - mean) * tf.exp(-log_var))
    return _sum_over_pixels(per_dim)


def log_normal_density(z, mean, log_var) -> tf.Tensor:
    """log N(z; mean, diag(exp(log_var))) summed over the last axis, in nats.

    Args:
        z: points ``(..., latent_dim)``.
        mean, log_var: broadcastable to ``z``.

    Returns:
        log-densities of shape ``z.shape[:-1]``.

    Introduced in chapter 4.
    """
    z = _as_float32(z)
    mean = _as_float32(mean)
    log_var = _as_float32(log_var)
    per_dim = -0.5 * (LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var))
    return tf.reduce_sum(per_dim, axis=-1)


def kl_standard_normal(mean, log_var) -> tf.Tensor:
    """KL( N(mean, diag(exp(log_var))) || N(0, I) ) in closed form, in nats.

    ``0.5 * sum(exp(log_var) + mean**2 - 1 - log_var)`` over the latent axis.

    Args:
        mean, log_var: ``(batch, latent_dim)``.

    Returns:
        ``(batch,)`` KL divergences, >= 0.

    Introduced in chapter 4.
    """
    mean = _as_float32(mean)
    log_var = _as_float32(log_var)
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)


def kl_monte_carlo(z, mean, log_var) -> tf.Tensor:
    """Single-sample Monte Carlo estimates of KL(q(z|x) || N(0, I)), in nats.

    Each estimate is ``log q(z|x) - log p(z)`` at a sample ``z ~ q(z|x)``; their
    average over samples is an unbiased estimate of :func:`kl_standard_normal`.

    Args:
        z: samples from q, ``(batch, latent_dim)`` or ``(samples, batch, latent_dim)``.
        mean, log_var: q's parameters, ``(batch, latent_dim)``.

    Returns:
        estimates of shape ``z.shape[:-1]`` (one per sample; any sign).

    Introduced in chapter 4.
    """
    log_q = log_normal_density(z, mean, log_var)
    log_p = log_normal_density(z, 0.0, 0.0)
    return log_q - log_p


def elbo(model, x, beta=1.0, seed=None, log_likelihood=bernoulli_log_likelihood) -> tf.Tensor:
    """The evidence lower bound per example, with one reparameterized sample.

    ``E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))``, the expectation estimated
    with one sample and the KL in closed form. With ``beta == 1`` it is a lower
    bound on ``log p(x)``; with any other beta it is a training objective, not
    a bound.

    Args:
        model: a :class:`vae.models.VAE` (anything with ``encode``,
            ``reparameterize`` and ``decode``).
        x: images ``(batch, 28, 28, 1)`` in [0, 1].
        beta: weight of the KL term (a number >= 0 or a scalar tensor).
        seed: optional int for a reproducible sample.
        log_likelihood: ``f(x, decoder_output) -> (batch,)``; the Bernoulli
            default matches the package's decoders.

    Returns:
        ``(batch,)`` ELBO values in nats.

    Introduced in chapter 4.
    """
    if isinstance(beta, (int, float)):  # a number is checked; a tensor (a schedule's variable) is trusted
        check_number(beta, "beta")
    terms = elbo_terms(model, x, seed=seed, log_likelihood=log_likelihood)
    return terms["log_likelihood"] - beta * terms["kl"]


def elbo_terms(model, x, seed=None, log_likelihood=bernoulli_log_likelihood) -> dict[str, tf.Tensor]:
    """The two terms of the ELBO per example: ``log_likelihood`` and ``kl``.

    Args:
        model: a :class:`vae.models.VAE`.
        x: images ``(batch, 28, 28, 1)`` in [0, 1].
        seed: optional int for a reproducible sample.
        log_likelihood: ``f(x, decoder_output) -> (batch,)``.

    Returns:
        ``{"log_likelihood": (batch,), "kl": (batch,)}`` in nats.

    Introduced in chapter 4.
    """
    mean, log_var = model.encode(x)
    z = model.reparameterize(mean, log_var, seed=seed)
    return {"log_likelihood": _decoder_log_likelihood(model, x, z, log_likelihood),
            "kl": _prior_kl(model, mean, log_var, z)}


def _decoder_log_likelihood(model, x, z, log_likelihood) -> tf.Tensor:
    """``log p(x|z)`` per example, ``(batch,)`` nats: ``log_likelihood(x, model.decode(z))``.

    A model whose decoder does not factorize over the pixels (an
    autoregressive one, :class:`vae.pixelcnn.PixelCNNVAE`) has no logits
    without the pixels; it gives ``log p(x|z)`` itself, ``model.log_prob(x, z)``,
    and takes only the default Bernoulli likelihood.

    Introduced in chapter 11.
    """
    if hasattr(model, "log_prob"):
        if log_likelihood is not bernoulli_log_likelihood:
            raise ValueError(f"{type(model).__name__} computes its own log p(x|z); it takes no log_likelihood")
        return model.log_prob(x, z)
    return log_likelihood(x, model.decode(z))


def _prior_kl(model, mean, log_var, z) -> tf.Tensor:
    """``KL(q(z|x) || p(z))`` per example under ``model.prior``, in nats, ``(batch,)``.

    A model's prior (:class:`vae.priors.Prior`) gives its own KL: the closed
    form for the standard normal, a one-sample estimate at ``z`` for a prior
    without one. A model without a ``prior`` attribute (a hand-made one) has
    the standard normal, :func:`kl_standard_normal`.

    Introduced in chapter 4.
    """
    prior = getattr(model, "prior", None)
    return kl_standard_normal(mean, log_var) if prior is None else prior.kl(mean, log_var, z)


def _prior_log_prob(model, z) -> tf.Tensor:
    """``log p(z)`` under ``model.prior`` (the standard normal without one), ``z.shape[:-1]``, nats.

    Introduced in chapter 6.
    """
    prior = getattr(model, "prior", None)
    return log_normal_density(z, 0.0, 0.0) if prior is None else prior.log_prob(z)


def log_mean_exp(values, axis: int = 0) -> tf.Tensor:
    """``log(mean(exp(values), axis))`` computed without overflow.

    Introduced in chapter 6.
    """
    values = _as_float32(values)
    count = tf.cast(tf.shape(values)[axis], tf.float32)
    return tf.reduce_logsumexp(values, axis=axis) - tf.math.log(count)


def _log_weights(model, x, mean, log_var, num_samples: int, seed, log_likelihood) -> tf.Tensor:
    """``log p(x, z) - log q(z|x)`` for ``num_samples`` draws: ``(num_samples, batch)``."""
    shape = tf.concat([[num_samples], tf.shape(mean)], axis=0)
    if seed is None:
        eps = tf.random.normal(shape)
    else:
        eps = tf.random.stateless_normal(shape, seed=seed)  # seed: the [seed, index] pair
    z = mean + tf.exp(0.5 * log_var) * eps  # (k, batch, latent)
    batch = tf.shape(mean)[0]
    flat_z = tf.reshape(z, [-1, tf.shape(mean)[1]])  # decoded at once: (k * batch, 28, 28, 1)
    x_tiled = tf.tile(x, [num_samples, 1, 1, 1])
    log_px_z = tf.reshape(_decoder_log_likelihood(model, x_tiled, flat_z, log_likelihood), [num_samples, batch])
    log_pz = _prior_log_prob(model, z)
    log_qz = log_normal_density(z, mean, log_var)
    return log_px_z + log_pz - log_qz


def iwae_bound(model, x, k: int, chunk_size: int = 100, seed=None,
               log_likelihood=bernoulli_log_likelihood) -> tf.Tensor:
    """The importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i|x), in nats.

    Burda, Grosse and Salakhutdinov (2016). With ``k = 1`` it is a one-sample
    ELBO; it rises toward ``log p(x)`` as ``k`` grows. The ``k`` samples are
    drawn in chunks of ``chunk_size`` and combined with a running
    log-sum-exp, so memory grows with ``batch * chunk_size``, not with ``k``.
    Each of the ``batch * chunk_size`` codes is decoded at once: for the MLP
    decoder that is about 3 kB of activations per code, for the conv decoder
    about 160 kB (its 14x14x64 and 28x28x32 feature maps), so a batch of 50
    digits with chunks of 100 needs roughly 0.8 GB with the conv model.

    Args:
        model: a :class:`vae.models.VAE`.
        x: images ``(batch, 28, 28, 1)`` in [0, 1].
        k: number of importance samples per image (>= 1).
        chunk_size: samples drawn at once (>= 1).
        seed: optional int; chunk ``c`` then uses the stateless seed ``(seed, c + 1)``.
        log_likelihood: ``f(x, decoder_output) -> (batch,)``.

    Returns:
        ``(batch,)`` bound values in nats; ``-iwae_bound`` estimates the
        negative log-likelihood.

    Introduced in chapter 6.
    """
    k = check_positive_int(k, "k")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    x = check_images(x)
    mean, log_var = model.encode(x)
    running = None
    # Inside tf.function the chunks are independent ops that may run at once; an autoregressive decoder's
    # activations are large enough that k / chunk_size of them would not fit in memory, so its chunks wait
    # for the previous one (the same numbers, in order).
    one_at_a_time = hasattr(model, "log_prob")
    for chunk_index, start in enumerate(range(0, k, chunk_size)):
        size = min(chunk_size, k - start)
        chunk_seed = None if seed is None else stateless_seed(seed, chunk_index + 1)
        with tf.control_dependencies([running] if one_at_a_time and running is not None else []):
            log_w = _log_weights(model, x, mean, log_var, size, chunk_seed, log_likelihood)
        chunk_lse = tf.reduce_logsumexp(log_w, axis=0)
        running = chunk_lse if running is None else tf.reduce_logsumexp(
            tf.stack([running, chunk_lse]), axis=0)
    return running - math.log(k)


def nats_to_bits_per_dim(nats, dims: int = PIXELS):
    """Convert nats per image to bits per dimension: ``nats / (dims * ln 2)``.

    Args:
        nats: a number or array of nats per image (e.g. a negative log-likelihood).
        dims: dimensions per image (784 for 28x28 MNIST).

    Returns:
        bits per dimension, same type and shape as ``nats``.

    Introduced in chapter 1.
    """
    check_positive_int(dims, "dims")
    return nats / (dims * math.log(2.0))
