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
    return _sum_over_pixels(_log_normal_units(x, mean, log_var))


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
    return tf.reduce_sum(_log_normal_units(z, mean, log_var), axis=-1)


def _log_normal_units(z, mean, log_var) -> tf.Tensor:
    """``log N(z; mean, exp(log_var))`` of each coordinate, nats, the broadcast shape of the three.

    The one formula behind :func:`gaussian_log_likelihood` and
    :func:`log_normal_density`, which sum it over pixels or latent units.
    """
    return -0.5 * (LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var))


def kl_standard_normal(mean, log_var) -> tf.Tensor:
    """KL( N(mean, diag(exp(log_var))) || N(0, I) ) in closed form, in nats.

    ``0.5 * sum(exp(log_var) + mean**2 - 1 - log_var)`` over the latent axis.

    Args:
        mean, log_var: ``(batch, latent_dim)``.

    Returns:
        ``(batch,)`` KL divergences, >= 0.

    Introduced in chapter 4.
    """
    return tf.reduce_sum(_kl_normal_units(_as_float32(mean), _as_float32(log_var)), axis=-1)


def _kl_normal_units(mean_q, log_var_q, mean_p=None, log_var_p=None) -> tf.Tensor:
    """``KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p)))`` of each unit, nats, >= 0.

    Without ``mean_p`` and ``log_var_p`` the second Gaussian is N(0, 1) and
    the terms are ``0.5 * (exp(log_var_q) + mean_q**2 - 1 - log_var_q)``,
    whose sum over the units is :func:`kl_standard_normal`. With them (float32
    tensors broadcastable to ``mean_q``, e.g. a conditional prior's parameters
    in :class:`vae.ladder.LadderVAE`) the general closed form.
    Shapes: those of ``mean_q``, e.g. ``(batch, latent_dim)``.
    """
    if mean_p is None and log_var_p is None:
        return 0.5 * (tf.exp(log_var_q) + tf.square(mean_q) - 1.0 - log_var_q)
    return 0.5 * (log_var_p - log_var_q
                  + (tf.exp(log_var_q) + tf.square(mean_q - mean_p)) * tf.exp(-log_var_p) - 1.0)


def _free_bits_kl(kl_units, free_bits: float) -> tf.Tensor:
    """The KL a free-bits loss minimizes: ``sum_j max(free_bits, mean_batch KL_j)``, a scalar in nats.

    Kingma et al. (2016): each latent unit's KL, averaged over the batch, is
    floored at ``free_bits`` nats, so a unit whose KL is below the floor gets
    no gradient pushing it further toward the prior. ``kl_units`` is
    ``(batch, units)`` (:func:`_kl_normal_units`); with ``free_bits = 0`` the
    value is the batch-mean KL. Used by :class:`vae.pixelcnn.PixelCNNVAE`
    and :class:`vae.ladder.LadderVAE` (each of its layers).
    """
    return tf.reduce_sum(tf.maximum(tf.reduce_mean(kl_units, axis=0), free_bits))


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
    if _has_layers(model, log_likelihood):
        return model.elbo_terms(x, seed=seed)
    mean, log_var = model.encode(x)
    z = model.reparameterize(mean, log_var, seed=seed)
    return {"log_likelihood": _decoder_log_likelihood(model, x, z, log_likelihood),
            "kl": _prior_kl(model, mean, log_var, z)}


def _has_layers(model, log_likelihood) -> bool:
    """Whether ``model`` has several stochastic layers (:class:`vae.ladder.LadderVAE`).

    Such a model gives its own ELBO terms (``model.elbo_terms(x, seed)``) and
    importance weights (``model.log_weights(x, num_samples, seed)``), with its
    own Bernoulli likelihood, so it takes only the default ``log_likelihood``.

    Introduced in chapter 11.
    """
    if not hasattr(model, "log_weights"):
        return False
    if log_likelihood is not bernoulli_log_likelihood:
        raise ValueError(f"{type(model).__name__} computes its own log p(x|z); it takes no log_likelihood")
    return True


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
    digits with chunks of 100 needs roughly 0.8 GB with the conv model. A
    model with several stochastic layers (:class:`vae.ladder.LadderVAE`)
    gives each chunk's weights itself (``model.log_weights``).

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
    layered = _has_layers(model, log_likelihood)
    if not layered:
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
            if layered:
                log_w = model.log_weights(x, size, chunk_seed)
            else:
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
