"""Bits back for the Ladder VAE (chapter 11): every stochastic layer popped under q and pushed under p.

:class:`vae.ladder.LadderVAE` has layers z_1 (bottom) ... z_L (top), the
generative model ``p(z_L) p(z_{L-1}|z_L) ... p(z_1|z_2) p(x|z_1)`` and the
top-down inference ``q(z_L|x) q(z_{L-1}|z_L, x) ... q(z_1|z_2, x)``. The
one-layer steps of :mod:`vae.compression.bitsback` (``model.encode``,
``model.decode``, ``model.prior``) would see only z_1, so a ladder is coded
here, layer by layer (hierarchical BB-ANS). For one batch:

Encoding (sender, who knows x):

1. run the bottom-up pass on x once;
2. walk down: **pop** z_L under q(z_L|x), then each z_i under
   q(z_i | z_{i+1}, x) for i = L-1 .. 1, where z_{i+1} is the *grid value*
   just popped (bins times the bin width), never an unrounded number, so
   that the receiver, who only ever sees grid values, can compute the same
   distribution;
3. **push** x under p(x|z_1), then z_1 under p(z_1|z_2), z_2 under
   p(z_2|z_3), ..., z_{L-1} under p(z_{L-1}|z_L), and z_L under N(0, I)
   last.

Decoding (receiver) runs the mirror image: pop z_L under N(0, I), z_{L-1}
under p(z_{L-1}|z_L), ..., z_1 under p(z_1|z_2), then x under p(x|z_1);
then it runs the bottom-up pass on the recovered x, recomputes every q from
it and the grid values, and **pushes** the codes back under them in the
reverse order of the sender's pops: z_1 under q(z_1|z_2, x) first, z_L
under q(z_L|x) last. Every distribution is a Gaussian per code number,
quantized to the bins of the :class:`~vae.compression.bitsback.LatentGrid`
with constriction's ``QuantizedGaussian`` in units of bins, its parameters
float64 numpy arrays converted from the networks' float32 outputs. The
networks are called with the same inputs and the same shapes on both sides
(the encoder on the batch of images, each top-down network on the batch of
grid values above), which is what makes the receiver's probabilities equal
the sender's to the last bit. As everywhere in the codec
(:mod:`vae._padding`), every network sees the batch
padded with blank images (zero codes) to a multiple of
:data:`~vae._padding.BATCH_MULTIPLE`. Measured with
small untrained ladders of two and three layers on a machine with two
cores: unpadded, every one of 20 files (1 to 200 digits, batches of at
most 4 or 25) compressed with the default threads failed to decode in a
process with one thread, a single digit's too; padded, all 20 decoded. The
header's image checksum catches any platform where the arithmetic still
differs.

Cost. The stack grows per image by ``-log2 p(x|z_1) - sum_i log2
p(z_i|z_{i+1}) + sum_i log2 q(z_i|z_{i+1}, x)``, a one-sample estimate of
the negative ELBO over all layers (the bin width cancels to first order, as
in the one-layer codec). But all L pops of an image come before its first
push, so the stack must already hold what every layer borrows: the codec
reserves ``sum(latent_dims)`` code numbers' worth of initial bits per image
(:func:`vae.compression.bitsback.borrowed_bits_per_image`).

Why not Bit-Swap. Bit-Swap (Kingma, Abbeel and Ho, 2019) interleaves the
steps for a model whose inference is a bottom-up Markov chain
``q(z_1|x) q(z_2|z_1) ... q(z_L|z_{L-1})``: pop z_1, push x, pop z_2, push
z_1 under p(z_1|z_2), ..., so from the second layer on each pop is paid
for by the push just before it, and the initial bits shrink from the sum
over layers to about the largest single step. Its receiver walks down:
having popped z_i under p(z_i|z_{i+1}), it pushes z_{i+1} back under
q(z_{i+1}|z_i), which it can compute because that q does not involve x.
The Ladder allows neither half. Its inference runs top-down, like its
generative model: the sender needs z_{i+1} before it can pop z_i, so z_1,
which x's push needs, is popped last, and the receiver needs z_L first, so
z_L's push under N(0, I) must come last; every pop of an image therefore
precedes its first push. And its q depends on x in every layer:
``LadderVAE._conditionals`` combines each layer's p(z_i|z_{i+1}) with the
bottom-up Gaussian ``(mean_hat_i, var_hat_i)`` that the encoder computes
from x, and q(z_L|x) *is* the top one; so the receiver, who learns x last,
can return the bits of no layer before it has decoded x.
:func:`borrowed_bits_per_layer` measures what each layer's pop takes, so a
chapter can show what an order like Bit-Swap's would save in initial bits
for a model whose inference allowed it.

Introduced in chapter 11.
"""

from __future__ import annotations

import constriction
import numpy as np

from vae.compression import _autoregressive as autoregressive
from vae._padding import padded

LADDER = "ladder"
"""The architecture (``model.architecture``, the header's ``architecture``) coded by this module."""


def is_hierarchical(model) -> bool:
    """Whether ``model`` is a Ladder VAE, whose layers this module codes. Introduced in chapter 11."""
    return getattr(model, "architecture", None) == LADDER


def layer_sizes(model) -> tuple[int, ...]:
    """Code numbers per stochastic layer, bottom first: a ladder's ``latent_dims``, else ``(latent_dim,)``.

    Introduced in chapter 11.
    """
    return tuple(int(d) for d in model.latent_dims) if is_hierarchical(model) else (int(model.latent_dim),)


def header_latent_dim(model) -> int | list[int]:
    """What a file's header records as ``latent_dim``: a ladder's list of layer sizes, else the code size.

    Introduced in chapter 11.
    """
    return list(layer_sizes(model)) if is_hierarchical(model) else int(model.latent_dim)


# -- Gaussians on the grid, in units of bins ---------------------------------------------------
def _gaussian(grid, mean, log_var) -> tuple:
    """``(mean, std)`` of a Gaussian per code number in units of bins: float64 ``(batch * d,)``.

    Args:
        mean, log_var: ``(batch, d)`` in units of z (float32 tensors or arrays).
    """
    mean = np.asarray(mean, dtype=np.float64).ravel()
    std = np.exp(0.5 * np.asarray(log_var, dtype=np.float64).ravel())
    return mean / grid.bin_width, np.maximum(std / grid.bin_width, 1e-6)


def _standard_normal(grid, batch: int, dim: int) -> tuple:
    """p(z_L) = N(0, I) of ``batch`` codes of ``dim`` numbers, as :func:`_gaussian` gives it."""
    return _gaussian(grid, np.zeros((batch, dim)), np.zeros((batch, dim)))


def _push(coder, grid, bins: np.ndarray, parameters: tuple) -> None:
    """Encode code bins (any shape, row-major) under the quantized Gaussians ``parameters``."""
    coder.encode_reverse(np.asarray(bins, np.int32).ravel(), grid.gaussian(), *parameters)


def _pop(coder, grid, parameters: tuple) -> np.ndarray:
    """Decode code bins under the quantized Gaussians ``parameters``: flat int32."""
    return np.asarray(coder.decode(grid.gaussian(), *parameters), np.int32)


def _bottom_up(model, images: np.ndarray) -> list:
    """The encoder's outputs for uint8 images ``(batch, 28, 28)``, float32 tensors of the *padded* batch
    (blank images appended up to a multiple of :data:`~vae._padding.BATCH_MULTIPLE`)."""
    return model._bottom_up(padded(images[..., None].astype(np.float32)))


def _codes_above(grid, bins: np.ndarray) -> np.ndarray:
    """Grid values of a layer's bins ``(batch, d)``, padded with zero codes like :func:`_bottom_up`'s batch."""
    return padded(grid.codes(bins))


def _rows(batch: int, *tensors) -> list[np.ndarray]:
    """The first ``batch`` rows of each (padded) network output, as numpy arrays."""
    return [np.asarray(t)[:batch] for t in tensors]


def _pop_posteriors(coder, model, bottom_up: list, batch: int, grid, pop=_pop) -> tuple[list, list]:
    """Step 2 of encoding: pop z_L, ..., z_1 under q, each given the grid value above it.

    Args:
        pop: ``pop(coder, grid, parameters) -> flat int32``, :func:`_pop`
            by default (:func:`borrowed_bits_per_layer` passes one that counts).

    Returns:
        ``(bins, priors)``, lists bottom first: int32 ``(batch, latent_dims[i])``
        code bins, and p(z_i | z_{i+1}) of each layer as :func:`_gaussian`
        gives it (N(0, I) for the top), computed from the same grid values.
    """
    sizes = layer_sizes(model)
    bins, priors = [None] * len(sizes), [None] * len(sizes)
    z_above = None
    for i in reversed(range(len(sizes))):
        q_mean, q_log_var, p_mean, p_log_var = _rows(batch, *model._conditionals(bottom_up, i, z_above))
        priors[i] = _gaussian(grid, p_mean, p_log_var)
        bins[i] = pop(coder, grid, _gaussian(grid, q_mean, q_log_var)).reshape(batch, sizes[i])
        z_above = _codes_above(grid, bins[i])
    return bins, priors


def _likelihood(model, bins_1: np.ndarray, grid) -> tuple:
    """p(x|z_1) of every pixel at the grid values of z_1's bins ``(batch, latent_dims[0])``."""
    return autoregressive.pixel_distribution(np.asarray(model.decode(_codes_above(grid, bins_1)))[:len(bins_1)])


# -- one batch ----------------------------------------------------------------------------------
def encode_batch(coder, model, images: np.ndarray, grid) -> np.ndarray:
    """Push one batch of binary images onto ``coder`` with hierarchical bits back (module docstring).

    Args:
        coder: a ``constriction.stream.stack.AnsCoder``.
        model: a :class:`vae.ladder.LadderVAE`.
        images: uint8 ``(batch, 28, 28)`` of 0s and 1s.
        grid: a :class:`~vae.compression.bitsback.LatentGrid`.

    Returns:
        the code bins of every layer, int32 ``(batch, sum(latent_dims))``,
        z_1's numbers first (code values are ``bins * grid.bin_width``).

    Introduced in chapter 11.
    """
    batch = len(images)
    bins, priors = _pop_posteriors(coder, model, _bottom_up(model, images), batch, grid)  # borrow, top down
    family, parameters, offset = _likelihood(model, bins[0], grid)                           # x | z_1
    coder.encode_reverse(np.asarray(images, np.int32).ravel() + offset, family, *parameters)
    for layer_bins, prior in zip(bins, priors):                                              # z_1 ... z_L
        _push(coder, grid, layer_bins, prior)
    return np.concatenate(bins, axis=1)


def decode_batch(coder, model, batch: int, grid) -> np.ndarray:
    """Pop one batch of ``batch`` images off ``coder``: :func:`encode_batch` run backwards.

    Returns:
        uint8 ``(batch, 28, 28)`` of 0s and 1s; the bits borrowed when
        encoding are back on the stack.

    Introduced in chapter 11.
    """
    sizes = layer_sizes(model)
    bins = [None] * len(sizes)
    for i in reversed(range(len(sizes))):                                                    # z_L ... z_1
        if i == len(sizes) - 1:
            prior = _standard_normal(grid, batch, sizes[i])
        else:
            prior = _gaussian(grid, *_rows(batch, *model._conditional_prior(i, _codes_above(grid, bins[i + 1]))))
        bins[i] = _pop(coder, grid, prior).reshape(batch, sizes[i])
    family, parameters, offset = _likelihood(model, bins[0], grid)                           # x | z_1
    images = (np.asarray(coder.decode(family, *parameters), np.int32) - offset).reshape(batch, 28, 28)
    images = images.astype(np.uint8)
    bottom_up = _bottom_up(model, images)
    posteriors = [None] * len(sizes)
    for i in reversed(range(len(sizes))):
        z_above = _codes_above(grid, bins[i + 1]) if i + 1 < len(sizes) else None
        q_mean, q_log_var, _, _ = model._conditionals(bottom_up, i, z_above)
        posteriors[i] = _gaussian(grid, *_rows(batch, q_mean, q_log_var))
    for layer_bins, posterior in zip(bins, posteriors):                                      # return bits,
        _push(coder, grid, layer_bins, posterior)                                            # z_1 first
    return images


# -- what each layer borrows --------------------------------------------------------------------
def borrowed_bits_per_layer(model, images, grid, initial_seed: int = 0) -> np.ndarray:
    """The bits each image's pop under q takes from the stack, per layer, as the codec's encoder pops them.

    Runs step 2 of :func:`encode_batch` (the top-down pops, nothing pushed)
    on a stack of ample pseudo-random words, popping each layer image by
    image and reading constriction's ``num_valid_bits`` before and after
    each image's codes. A popped code number takes about ``-log2`` of its
    bin's probability under q, so an image's row sums to about
    ``-log2 q(z_1..z_L | x)`` at its grid values. Everything of an image that
    the Ladder pops comes before its first push, so the first image of a
    file borrows its whole row from the initial bits; an order like
    Bit-Swap's, which only a bottom-up Markov inference model allows (module
    docstring), would borrow about one layer's pop from them instead.

    Args:
        model: a :class:`vae.ladder.LadderVAE`.
        images: 0/1 images ``(batch, 28, 28)`` or ``(batch, 28, 28, 1)``.
        grid: a :class:`~vae.compression.bitsback.LatentGrid`.
        initial_seed: seed of the stack's words, hence of the codes popped.

    Returns:
        float64 ``(batch, L)``, bits, layers bottom first (column 0 is z_1).
        ``num_valid_bits`` counts whole bits, so each entry is within a bit
        of the information popped; a column's sum is within a bit of the
        layer's total.

    Raises:
        ValueError: ``model`` is not a Ladder VAE.

    Introduced in chapter 11.
    """
    from vae.compression.codec import binary_images  # the codec imports this module

    if not is_hierarchical(model):
        raise ValueError(f"borrowed_bits_per_layer measures a Ladder VAE's layers, got a "
                         f"{getattr(model, 'architecture', type(model).__name__)} model")
    images = binary_images(images)
    sizes = layer_sizes(model)
    words = int(np.ceil(2 * len(images) * sum(sizes) * grid.initial_bits_per_code / 32)) + 2
    coder = constriction.stream.stack.AnsCoder(
        np.random.default_rng(initial_seed).integers(0, 2**32, size=words, dtype=np.uint32), seal=True)
    bits = np.zeros((len(images), len(sizes)))
    layer = iter(reversed(range(len(sizes))))

    def counting_pop(coder, grid, parameters):
        i, (mean, std) = next(layer), parameters
        dim, values = sizes[i], []
        for image in range(len(images)):
            part = slice(image * dim, (image + 1) * dim)
            before = coder.num_valid_bits()
            values.append(_pop(coder, grid, (mean[part], std[part])))
            bits[image, i] = before - coder.num_valid_bits()
        return np.concatenate(values)

    _pop_posteriors(coder, model, _bottom_up(model, images), len(images), grid, pop=counting_pop)
    return bits
