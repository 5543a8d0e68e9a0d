"""Bits-back coding with asymmetric numeral systems (BB-ANS) for binary digits.

The coder is ``constriction``'s ANS stack; this module only decides what is
pushed and popped. For a batch of binary images ``x`` (Townsend, Bird and
Barber 2019):

1. **pop** a latent code ``z`` from the stack under the model's posterior
   q(z|x) (``model.encode``): this *reads* about -log2 q(z|x) bits off the
   stack, the bits we later get back;
2. **push** ``x`` under the decoder's Bernoulli p(x|z) (``model.decode``):
   -log2 p(x|z) bits; for the autoregressive PixelVAE of chapter 11, whose
   p(x|z) = prod_i p(x_i | x_<i, z) the receiver can only evaluate pixel
   by pixel, see :mod:`vae.compression._autoregressive`;
3. **push** ``z`` under the prior p(z) (``model.prior.quantized``, see
   :class:`vae.priors.Prior`): -log2 p(z) bits; for a mixture prior such
   as the VampPrior of chapter 11, pushed under one component with bits
   back on which, see :mod:`vae.compression._mixture`.

The stack grows by -log2 p(x|z) - log2 p(z) + log2 q(z|x) bits per image,
whose average is the negative ELBO. Decoding runs the three steps backwards
and in reverse order: pop ``z`` under the prior, pop ``x`` under p(x|z), then
push ``z`` back under q(z|x) computed from the recovered ``x``, which returns
the borrowed bits to the stack exactly.

The continuous code is discretized on a uniform grid (:class:`LatentGrid`):
bins of width ``2**-bin_width_log2`` on ``[-latent_range, latent_range]``,
with both q(z|x) and p(z) quantized to the same bins. Because the bin width
appears in both the popped and the pushed probability it cancels to first
order; what remains is an error of order (bin width / posterior std)^2,
negligible here.

The grid must not have too many bins either. ``constriction`` stores each
probability as an integer out of 2**24 and gives every bin of the range at
least one unit ("leaky" quantization, so that any symbol stays codable). A
pop under q(z|x) therefore lands, with probability about
``bins / 2**24`` per code number, in a bin anywhere in the range instead of
near the posterior, and the digit decoded from that code costs hundreds of
extra bits. The default grid keeps that rare (see :class:`LatentGrid`).
"""

from __future__ import annotations

import dataclasses
import math

import constriction
import numpy as np

from vae.checks import PIXELS  # noqa: F401  (the codec counts bits per pixel with it)
from vae.compression import _autoregressive as autoregressive
from vae.compression import _hierarchical as hierarchical
from vae.compression import _mixture as mixture
from vae._padding import padded
from vae.models import VAE


@dataclasses.dataclass(frozen=True)
class LatentGrid:
    """The uniform grid on which codes are stored.

    The default, bins of 2**-6 on [-6, 6], has 769 bins: narrow enough
    compared with the shipped conv model's posterior standard deviations
    (0.045 and up) for the rounding to cost almost nothing, and few enough that a
    leaky pop (see the module docstring) hits about one code number in
    22,000. The earlier default, 2**-9 on [-8, 8], had 8,193 bins; on the
    10,000 test digits its file was 3.0 % above the negative ELBO, this
    grid's 0.9 % (chapter 9 measures both).

    Attributes:
        bin_width_log2: bins are ``2**-bin_width_log2`` wide, in units of z.
        latent_range: codes are clipped to ``[-latent_range, latent_range]``
            (the prior puts about 2e-9 of its mass outside 6).

    Introduced in chapter 9.
    """

    bin_width_log2: int = 6
    latent_range: float = 6.0

    def __post_init__(self):
        if isinstance(self.bin_width_log2, bool) or not isinstance(self.bin_width_log2, int) \
                or not 0 <= self.bin_width_log2 <= 16:
            raise ValueError(f"bin_width_log2 must be an int in 0..16, got {self.bin_width_log2!r}")
        if not 0 < self.latent_range <= 64:
            raise ValueError(f"latent_range must be in (0, 64], got {self.latent_range!r}")

    @property
    def bin_width(self) -> float:
        return 2.0 ** -self.bin_width_log2

    @property
    def max_bin(self) -> int:
        """Bins are the integers ``-max_bin .. max_bin``."""
        return int(round(self.latent_range / self.bin_width))

    @property
    def bins(self) -> int:
        """Number of bins, ``2 * max_bin + 1``."""
        return 2 * self.max_bin + 1

    @property
    def initial_bits_per_code(self) -> int:
        """Bits to reserve per code number of the first batch.

        Popping a number whose posterior has standard deviation sigma reads
        about ``log2(sigma * sqrt(2 pi e) / bin_width)`` bits (the entropy of
        the rounded Gaussian); we reserve enough for sigma = 1.5, wider than
        any posterior of a unit that follows the prior. With the default grid that is 9 bits.
        """
        return math.ceil(math.log2(1.5 * math.sqrt(2 * math.pi * math.e)) + self.bin_width_log2)

    def gaussian(self):
        """constriction's quantized Gaussian over this grid's bins."""
        return constriction.stream.model.QuantizedGaussian(-self.max_bin, self.max_bin)

    def codes(self, bins: np.ndarray) -> np.ndarray:
        """Bin indices -> code values ``bins * bin_width`` as float32."""
        return (bins.astype(np.float64) * self.bin_width).astype(np.float32)


# -- the three distributions, each as (constriction model, parameters, symbol offset) --------
# A symbol coded under a distribution is ``value + offset``: code bins -max_bin..max_bin
# (offset 0 for a quantized Gaussian, max_bin for a categorical over the bins), pixels 0/1.

def _posterior(model, images: np.ndarray, grid: LatentGrid) -> tuple:
    """q(z|x) of a batch on the grid, from ``model.encode``.

    Args:
        images: binary images, uint8 ``(batch, 28, 28)``.
    """
    batch = len(images)
    mean, log_var = model.encode(padded(images[..., None].astype(np.float32)))  # see vae._padding
    mean = np.asarray(mean, dtype=np.float64)[:batch].ravel()
    std = np.exp(0.5 * np.asarray(log_var, dtype=np.float64)[:batch].ravel())
    return grid.gaussian(), (mean / grid.bin_width, np.maximum(std / grid.bin_width, 1e-6)), 0


def _likelihood(model, bins: np.ndarray, grid: LatentGrid) -> tuple:
    """p(x|z) of every pixel, from ``model.decode`` at the codes of ``bins``.

    Args:
        bins: code bins, int32 ``(batch, latent_dim)``.
    """
    logits = np.asarray(model.decode(padded(grid.codes(bins))))[:len(bins)]  # see vae._padding
    return autoregressive.pixel_distribution(logits)


def _prior(description: tuple, grid: LatentGrid) -> tuple:
    """p(z) of a batch's codes on the grid, from the ``description`` that ``model.prior.quantized`` returns.

    A Gaussian or a categorical per code number (see :class:`vae.priors.Prior`).
    """
    kind, *parameters = description
    if kind == "gaussian":
        mean, std = (np.asarray(p, dtype=np.float64) for p in parameters)
        return grid.gaussian(), (mean / grid.bin_width, std / grid.bin_width), 0
    if kind == "categorical":
        (probabilities,) = parameters
        return constriction.stream.model.Categorical(perfect=False), (np.asarray(probabilities, np.float64),), \
            grid.max_bin
    raise ValueError(f"a prior's quantized() must describe a 'gaussian', a 'categorical' or a 'mixture', "
                     f"got {kind!r}")


def _push(coder, values: np.ndarray, distribution: tuple) -> None:
    """Encode ``values`` (flat ints) onto the stack under ``distribution``."""
    family, parameters, offset = distribution
    coder.encode_reverse(np.asarray(values, np.int32).ravel() + offset, family, *parameters)


def _pop(coder, distribution: tuple) -> np.ndarray:
    """Decode values off the stack under ``distribution``: flat int32, the mirror of :func:`_push`."""
    family, parameters, offset = distribution
    return np.asarray(coder.decode(family, *parameters), np.int32) - offset


def borrowed_bits_per_image(model, grid: LatentGrid) -> int:
    """The bits reserved for what one image pops before anything of it is pushed.

    The codec starts the stack with this many bits (rounded up to whole
    words) and lets each batch grow only as far as the stack holds this
    much per image (the ramp of :mod:`vae.compression.codec`):
    ``grid.initial_bits_per_code`` per code number popped under q(z|x), of
    every layer of a Ladder VAE (whose pops all come before its first push,
    see :mod:`vae.compression._hierarchical`), plus, for a prior that is a
    mixture of ``K`` components, the ``ceil(log2 K)`` bits of its component
    (:mod:`vae.compression._mixture`).

    Introduced in chapter 9.
    """
    if hierarchical.is_hierarchical(model):
        return sum(hierarchical.layer_sizes(model)) * grid.initial_bits_per_code
    return model.latent_dim * grid.initial_bits_per_code + mixture.component_bits(model, grid)


# -- one batch: encode, and its mirror ------------------------------------------------------
def encode_batch(coder, model: VAE, images: np.ndarray, grid: LatentGrid) -> np.ndarray:
    """Push one batch of binary images onto ``coder`` with bits back.

    Three steps, each undone by :func:`decode_batch` in reverse order: pop
    ``z`` under q(z|x), push ``x`` under p(x|z), push ``z`` under p(z). The
    model takes part only through its public contract (``encode``,
    ``decode``, ``prior``), so any model that keeps it compresses; a
    PixelCNN decoder (chapter 11, no ``decode``) has its pixels pushed by
    :mod:`vae.compression._autoregressive` instead, and a Ladder VAE's
    layers are all coded by :mod:`vae.compression._hierarchical`.

    Args:
        coder: a ``constriction.stream.stack.AnsCoder``.
        model: a :class:`vae.models.VAE` (or any model with that contract).
        images: uint8 ``(batch, 28, 28)`` of 0s and 1s.
        grid: the latent discretization.

    Returns:
        the code bins popped under q(z|x) and pushed under the prior, int32
        ``(batch, latent_dim)`` (code values are ``bins * grid.bin_width``);
        for a Ladder VAE every layer's, ``(batch, sum(latent_dims))``.

    Introduced in chapter 9.
    """
    if hierarchical.is_hierarchical(model):  # a Ladder VAE: every layer (chapter 11)
        return hierarchical.encode_batch(coder, model, images, grid)
    batch = len(images)
    bins = _pop(coder, _posterior(model, images, grid)).reshape(batch, model.latent_dim)  # 1. borrow bits
    if autoregressive.decoder_kind(model) == autoregressive.AUTOREGRESSIVE:                # 2. x | z
        autoregressive.push_pixels(coder, model, images, grid.codes(bins))
    else:
        _push(coder, images, _likelihood(model, bins, grid))
    prior = model.prior.quantized(grid, batch)                                              # 3. z
    if prior[0] == mixture.MIXTURE:
        mixture.push_codes(coder, bins, prior, grid)
    else:
        _push(coder, bins, _prior(prior, grid))
    return bins


def decode_batch(coder, model: VAE, batch: int, grid: LatentGrid) -> np.ndarray:
    """Pop one batch of ``batch`` images off ``coder``: :func:`encode_batch` run backwards.

    Returns:
        uint8 ``(batch, 28, 28)`` of 0s and 1s; the bits borrowed when
        encoding are back on the stack.

    Introduced in chapter 9.
    """
    if hierarchical.is_hierarchical(model):  # a Ladder VAE: every layer (chapter 11)
        return hierarchical.decode_batch(coder, model, batch, grid)
    prior = model.prior.quantized(grid, batch)                                              # 3. z
    if prior[0] == mixture.MIXTURE:
        bins = mixture.pop_codes(coder, batch, prior, grid)
    else:
        bins = _pop(coder, _prior(prior, grid)).reshape(batch, model.latent_dim)
    if autoregressive.decoder_kind(model) == autoregressive.AUTOREGRESSIVE:                # 2. x | z
        images = autoregressive.pop_pixels(coder, model, grid.codes(bins))
    else:
        images = _pop(coder, _likelihood(model, bins, grid)).reshape(batch, 28, 28).astype(np.uint8)
    _push(coder, bins, _posterior(model, images, grid))                                     # 1. return bits
    return images
