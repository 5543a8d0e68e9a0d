"""p(z) of a mixture prior on the ANS stack: the codes pushed under one component, with bits back on which.

A VampPrior (:class:`vae.vampprior.VampPrior`, chapter 11) is the mixture
``p(z) = (1/K) sum_k N(z; mean_k, var_k)`` of ``K`` diagonal Gaussians. It
does not factorize over the latent axis, so the codes cannot be pushed one
number at a time under it as :mod:`vae.compression.bitsback` does for the
standard normal. Each component does factorize, so the codec pushes the code
under one component ``k`` and gets the bits spent on choosing ``k`` back, the
same trick as for z itself. Its prior describes itself as
``("mixture", means, stds)``, each ``(K, latent_dim)`` in units of z (see
:meth:`vae.priors.Prior.quantized`).

With ``b`` the code's bins (int ``(latent_dim,)``), ``P_k(b)`` the
probability of those bins under component ``k`` quantized on the grid as
``constriction``'s ``QuantizedGaussian`` does it (the product over the code
numbers of each bin's mass), and ``P(b) = (1/K) sum_k P_k(b)`` the quantized
mixture, the sender, after pushing the pixels, does for each image:

1. **pop** ``k`` under the responsibilities ``p(k | b) = P_k(b) / sum_j P_j(b)``:
   reads ``-log2 p(k | b)`` bits off the stack;
2. **push** ``b`` under component ``k``: ``-log2 P_k(b)`` bits;
3. **push** ``k`` under the uniform ``1/K``: ``log2 K`` bits.

The stack grows by ``log2 K - log2 P_k(b) + log2 p(k | b) = -log2 P(b)``
bits: the code costs its probability under the mixture, not under the
component it was pushed with. The receiver pops ``k`` (uniform), pops ``b``
under component ``k``, then pushes ``k`` back under ``p(k | b)``, which it
computes from the same bins, so the bits borrowed in step 1 are on the stack
again. That needs both sides to compute exactly the same responsibilities:
they come from one network call on the pseudo-inputs (the component means
and variances, the same tensor shapes on both sides) followed by float64
NumPy arithmetic on the bins, which is deterministic.

Overheads, all small: ``constriction`` stores the responsibilities as
integers out of 2**24 with every component given at least one unit
(``Categorical(perfect=False)``, so no component is ever impossible), and
the bits given back are those of the rounded responsibilities (a component
of negligible responsibility is popped with probability about
``K / 2**24``, and then costs up to 24 bits more); the masses ``P_k(b)``
here are computed in float64 with the same leaky floor as constriction's,
not read from its integer tables: they agree to about 0.002 bit per code
number except in the far tails, where constriction rounds to whole units;
and each image borrows ``ceil(log2 K)`` more bits before it pushes
(:func:`component_bits`, part of
:func:`vae.compression.bitsback.borrowed_bits_per_image`), which only the
first image takes from the initial words. On a small test model the stack
grows by the information content ``-log2 p(x|z) - log2 P(b) + log2 Q(b|x)``
to within half a bit per batch of 16 (tests/test_compression_vampprior.py).
The price is time: ``K * latent_dim`` bin masses per image on each side;
for K = 500 and 16 code numbers (an untrained conv VAE, 400 digits in
batches of 100, two CPU cores) about 2.4 ms more per image each way, three
to five times the standard prior's codec. With
``K = 1`` there is no component to code and this reduces to one Gaussian.

Introduced in chapter 11.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

MIXTURE = "mixture"
"""The kind of :meth:`vae.priors.Prior.quantized` description coded by this module."""

_PRECISION = 24
"""constriction's probabilities are integers out of ``2**_PRECISION``; each symbol gets at least one."""

_MIN_STD_BINS = 1e-6
"""Component standard deviations, in bins, are floored here (as the posterior's are in bitsback)."""

_erfc = np.frompyfunc(math.erfc, 1, 1)


def component_bits(model, grid) -> int:
    """``ceil(log2 K)``, the bits an image pops for its component, if the prior is a K-mixture; else 0.

    Args:
        model: a VAE whose ``prior.quantized`` describes p(z) (see :class:`vae.priors.Prior`).
        grid: a :class:`vae.compression.LatentGrid`.

    Introduced in chapter 11.
    """
    kind, *parameters = model.prior.quantized(grid, 1)
    return math.ceil(math.log2(len(parameters[0]))) if kind == MIXTURE else 0


def _components(description: tuple, grid) -> tuple[np.ndarray, np.ndarray]:
    """The mixture's means and standard deviations in units of bins, float64 ``(K, latent_dim)`` each."""
    _, means, stds = description
    means = np.asarray(means, dtype=np.float64) / grid.bin_width
    stds = np.maximum(np.asarray(stds, dtype=np.float64) / grid.bin_width, _MIN_STD_BINS)
    return means, stds


def log_masses(bins: np.ndarray, means: np.ndarray, stds: np.ndarray, grid) -> np.ndarray:
    """``log P_k(b)``: the log-probability of each code's bins under each component, float64 ``(batch, K)`` nats.

    Each code number's bin ``[b - 1/2, b + 1/2]`` (in bins; the outermost
    bins also take the tails beyond them) gets its Gaussian mass, shrunk
    and floored as constriction's leaky quantizer does:
    ``mass * (1 - bins / 2**24) + 2**-24``. The mass is a difference of
    ``erfc`` on the side of the mean the bin lies on, so far tails keep
    their relative precision.

    Args:
        bins: code bins, int ``(batch, latent_dim)``.
        means, stds: the components in units of bins, float64 ``(K, latent_dim)``.
        grid: the :class:`vae.compression.LatentGrid` of the bins.

    Introduced in chapter 11.
    """
    b = np.asarray(bins, dtype=np.float64)[:, None, :]                      # (batch, 1, latent_dim)
    lower = np.where(b == -grid.max_bin, -np.inf, (b - 0.5 - means) / stds)  # (batch, K, latent_dim)
    upper = np.where(b == grid.max_bin, np.inf, (b + 0.5 - means) / stds)
    below = lower + upper < 0  # the bin lies mostly below the mean: mirror it into the upper tail
    near, far = np.where(below, -upper, lower), np.where(below, -lower, upper)
    mass = 0.5 * (_erfc(near / math.sqrt(2.0)) - _erfc(far / math.sqrt(2.0))).astype(np.float64)
    floor = 2.0 ** -_PRECISION
    return np.log(np.maximum(mass, 0.0) * (1.0 - grid.bins * floor) + floor).sum(axis=-1)


def _responsibilities(bins: np.ndarray, means: np.ndarray, stds: np.ndarray, grid) -> np.ndarray:
    """``p(k | b)``, float64 ``(batch, K)``, rows summing to 1."""
    log_mass = log_masses(bins, means, stds, grid)
    log_mass -= log_mass.max(axis=1, keepdims=True)
    weights = np.exp(log_mass)
    return weights / weights.sum(axis=1, keepdims=True)


def _component_gaussians(means, stds, components: np.ndarray) -> tuple:
    """Per-code-number parameters of the chosen components, flat ``(batch * latent_dim,)`` each."""
    return means[components].ravel(), stds[components].ravel()


def push_codes(coder, bins: np.ndarray, description: tuple, grid) -> None:
    """Push a batch's code bins under the mixture, with bits back on the component (steps 1-3 above).

    Args:
        coder: a ``constriction.stream.stack.AnsCoder``.
        bins: code bins, int32 ``(batch, latent_dim)``.
        description: ``("mixture", means, stds)`` from ``model.prior.quantized``.
        grid: the :class:`vae.compression.LatentGrid`.

    Introduced in chapter 11.
    """
    means, stds = _components(description, grid)
    count = len(means)
    bins = np.asarray(bins, dtype=np.int32)
    if count > 1:                                                                   # 1. borrow k | b
        probabilities = _responsibilities(bins, means, stds, grid)
        components = np.asarray(coder.decode(constriction.stream.model.Categorical(perfect=False),
                                             probabilities), dtype=np.int32)
    else:
        components = np.zeros(len(bins), dtype=np.int32)
    coder.encode_reverse(bins.ravel(), grid.gaussian(), *_component_gaussians(means, stds, components))  # 2. b | k
    if count > 1:                                                                   # 3. k
        coder.encode_reverse(components, constriction.stream.model.Uniform(count))


def pop_codes(coder, batch: int, description: tuple, grid) -> np.ndarray:
    """Pop a batch's code bins pushed by :func:`push_codes`, returning the borrowed bits.

    Returns:
        the code bins, int32 ``(batch, latent_dim)``.

    Introduced in chapter 11.
    """
    means, stds = _components(description, grid)
    count, latent_dim = means.shape
    if count > 1:                                                                   # 3. k
        components = np.asarray(coder.decode(constriction.stream.model.Uniform(count), batch), dtype=np.int32)
    else:
        components = np.zeros(batch, dtype=np.int32)
    bins = np.asarray(coder.decode(grid.gaussian(), *_component_gaussians(means, stds, components)),
                      dtype=np.int32).reshape(batch, latent_dim)                    # 2. b | k
    if count > 1:                                                                   # 1. return k | b
        probabilities = _responsibilities(bins, means, stds, grid)
        coder.encode_reverse(components, constriction.stream.model.Categorical(perfect=False), probabilities)
    return bins
