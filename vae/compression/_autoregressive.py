"""p(x|z) of an autoregressive decoder on the ANS stack: the PixelVAE's pixels pushed at once, popped one by one.

For :class:`vae.pixelcnn.PixelCNNVAE` the likelihood of a batch is
``p(x|z) = prod_i p(x_i | x_<i, z)`` over the 784 pixels in raster order.
The sender knows every pixel, so it has all 784 conditional probabilities
without waiting; the receiver learns pixel i only by popping it, so it
computes pixel i's probability after pixels 0..i-1 are decoded: 784
sequential steps, each for the whole batch at once (one pass per pixel
position, not per image).

Bits back is exact only if the receiver's probabilities equal the sender's
to the last bit. Floating-point results of the same network can differ
between a graph and an eager call, between input shapes (another blocking
of a matrix product) or between networks that are causal only "up to
rounding". So both sides compute every logit with the *same* functions on
tensors of the *same* shapes, and rely only on exact causality (an output
never reads an input it must not see, so unknown pixels, set to 0 by the
receiver, do not enter its arithmetic at all):

- ``conditions``: the feature map of z projected for every layer, once
  per batch, from the same codes on both sides;
- ``links``: the vertical stacks on the whole 28x28 image, shifted down one
  row; row r's link reads rows < r only. The sender runs it once on the
  image, the receiver once per row on the image decoded so far;
- ``row_logits``: the horizontal stacks and the head on one row
  ``(batch, 1, 28, 1)``; column c reads columns < c only. The sender runs
  it once per row (28 calls), the receiver once per pixel (784 calls).

Batch padding: every network call sees its batch padded with blank images
(:mod:`vae._padding`, which says why).

Stack order: the sender pushes the pixels position 783 first and position
0 last (``encode_reverse`` of the sequence ordered by pixel position, then
image), so the receiver pops position 0 of every image first.

Introduced in chapter 11.
"""

from __future__ import annotations

import constriction
import keras
import numpy as np
import tensorflow as tf

from vae.checks import PIXELS
from vae._padding import padded
from vae.pixelcnn import COLUMNS, ROWS, _shift_down

AUTOREGRESSIVE = "pixelcnn"
"""The decoder kind (``model.decoder_name``, the header's ``decoder``) coded by this module."""


def decoder_kind(model) -> str:
    """``"pixelcnn"`` for an autoregressive decoder, else ``"factorized"`` (as in :data:`vae.defaults.DECODERS`).

    Introduced in chapter 11.
    """
    return getattr(model, "decoder_name", "factorized")


def pixel_distribution(logits: np.ndarray) -> tuple:
    """Bernoulli pixels of the given logits as ``(constriction model, parameters, symbol offset)``.

    The one conversion of logits into the probabilities constriction
    quantizes, for the factorized decoders and the autoregressive one:
    ``P(pixel = 1) = 1 / (1 + exp(-logit))`` in float64, under constriction's
    Bernoulli with ``perfect=True``: the faster ``perfect=False``
    approximation rounds the probabilities of near-certain pixels coarsely;
    on MNIST, where most pixels are almost surely black, it cost 2.5 % more
    bits (0.1782 against 0.1738 bits/pixel on 500 test digits with chapter
    9's conv model), so we pay the slower model construction.

    Args:
        logits: float32 or float64 logits, any shape (flattened in C order).

    Introduced in chapter 11.
    """
    logits = np.ascontiguousarray(logits, dtype=np.float64).ravel()
    return constriction.stream.model.Bernoulli(perfect=True), (np.exp(-np.logaddexp(0.0, -logits)),), 0


class _Passes:
    """The three compiled pieces of a PixelCNN decoder, shared by sender and receiver (see the module docstring)."""

    def __init__(self, model):
        layers = model.gated_layers

        def conditions(codes):
            condition = model.conditioner(codes)
            return [layer.conditions(condition) for layer in layers]

        def links(images, conditions):
            v, result = images, []
            for layer, (cond_v, _) in zip(layers, conditions):
                v, pre = layer.vertical(v, cond_v)
                result.append(layer.link(_shift_down(pre)))
            return result

        def row_logits(row, links, conditions_h):
            h = row
            for layer, link, cond_h in zip(layers, links, conditions_h):
                h = layer.horizontal(h, link, cond_h)
            return model.head_logits(model.head_hidden(keras.ops.relu(h)))

        # one graph per input shape (no reduce_retracing): a batch of the same size runs the same kernels
        self.conditions = tf.function(conditions)
        self.links = tf.function(links)
        self.row_logits = tf.function(row_logits)


def _passes(model) -> _Passes:
    passes = getattr(model, "_bits_back_passes", None)
    if passes is None:
        passes = _Passes(model)
        model._bits_back_passes = passes
    return passes


def _row_inputs(links: list, conditions: list, row: int) -> tuple[list, list]:
    """Row ``row`` of every layer's link and horizontal condition: ``(batch, 1, 28, 2C)`` each."""
    return [link[:, row:row + 1] for link in links], [cond_h[:, row:row + 1] for _, cond_h in conditions]


def _column_distribution(logits: np.ndarray, column: int) -> tuple:
    """The Bernoulli of one pixel position for the whole batch, from a row's logits ``(batch, 1, 28, 1)``."""
    return pixel_distribution(logits[:, 0, column, 0])


def push_pixels(coder, model, images: np.ndarray, codes: np.ndarray) -> None:
    """Push a batch's pixels under ``p(x_i | x_<i, z)``, so that position 0 comes off first.

    Args:
        coder: a ``constriction.stream.stack.AnsCoder``.
        model: a :class:`vae.pixelcnn.PixelCNNVAE`.
        images: uint8 ``(batch, 28, 28)`` of 0s and 1s.
        codes: float32 ``(batch, latent_dim)``, the grid values of the popped bins.

    Costs one pass of the vertical stacks and 28 one-row passes of the
    horizontal ones. Introduced in chapter 11.
    """
    passes, batch = _passes(model), len(images)
    pixels = padded(images.astype(np.float32)[..., None])
    conditions = passes.conditions(tf.constant(padded(codes)))
    links = passes.links(tf.constant(pixels), conditions)
    probabilities = np.empty((PIXELS, batch))  # by pixel position, then image: the order of the pops
    for row in range(ROWS):
        logits = np.asarray(passes.row_logits(tf.constant(pixels[:, row:row + 1]),
                                              *_row_inputs(links, conditions, row)))[:batch]
        for column in range(COLUMNS):
            family, (probabilities[row * COLUMNS + column],), offset = _column_distribution(logits, column)
    symbols = images.reshape(batch, PIXELS).T.astype(np.int32).ravel() + offset
    coder.encode_reverse(symbols, family, probabilities.ravel())


def pop_pixels(coder, model, codes: np.ndarray) -> np.ndarray:
    """Pop a batch's pixels in raster order, the mirror of :func:`push_pixels`.

    Args:
        coder: the ANS coder, with the pixels of this batch on top.
        model: the same :class:`vae.pixelcnn.PixelCNNVAE` as the sender's.
        codes: float32 ``(batch, latent_dim)``, already popped under the prior.

    Returns:
        uint8 ``(batch, 28, 28)`` of 0s and 1s.

    Costs 28 passes of the vertical stacks (one per row, on the image
    decoded so far) and 784 one-row passes. Introduced in chapter 11.
    """
    passes, batch = _passes(model), len(codes)
    conditions = passes.conditions(tf.constant(padded(codes)))
    pixels = padded(np.zeros((batch, ROWS, COLUMNS, 1), np.float32))  # the padding images stay blank
    for row in range(ROWS):
        links = passes.links(tf.constant(pixels), conditions)  # rows < row are known; row's link reads only them
        row_links, row_conditions = _row_inputs(links, conditions, row)
        current = np.zeros((len(pixels), 1, COLUMNS, 1), np.float32)
        for column in range(COLUMNS):
            logits = np.asarray(passes.row_logits(tf.constant(current), row_links, row_conditions))[:batch]
            family, parameters, offset = _column_distribution(logits, column)
            current[:batch, 0, column, 0] = np.asarray(coder.decode(family, *parameters), np.int32) - offset
        pixels[:, row] = current[:, 0]
    return pixels[:batch, ..., 0].astype(np.uint8)

