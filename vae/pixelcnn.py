"""A VAE with an autoregressive decoder: a small gated PixelCNN over the 784 binary pixels, conditioned on z.

PixelVAE (Gulrajani et al., 2017; see also Chen et al., 2017): the encoder
is :class:`vae.models.ConvVAE`'s, and the decoder models

    p(x | z) = prod_i p(x_i | x_<i, z)

pixel by pixel in raster order (row by row, left to right), each factor a
Bernoulli whose logit a gated PixelCNN (van den Oord et al., 2016) computes
from the pixels above and to the left and from a 28x28 feature map of z,
added to every layer.

The network (all convolutions padded so that no output sees its own pixel
or a later one):

- a *vertical stack* sees the rows above: its convolutions cover rows
  ``r - k//2 .. r`` and its features reach the pixel rows below only after a
  shift down by one row;
- a *horizontal stack* sees the current row to the left: the first layer
  (mask type A) covers columns ``c - k//2 - 1 .. c - 1`` of the image, later
  layers (type B) columns ``c - k//2 .. c`` of the previous layer, with a
  residual connection; each layer adds the vertical stack's shifted features
  through a 1x1 convolution, so there is no blind spot;
- both use the gated unit ``tanh(a) * sigmoid(b)``;
- the conditioning: ``z -> dense -> 7x7 -> two transposed convolutions ->
  28x28xC_z``, projected by a 1x1 convolution into each layer's gate.

The first layer has a 7x7 kernel, later ones 3x3; with ``L`` layers the
vertical receptive field reaches ``3 + (L - 1)`` rows above a pixel, so
``layers`` is also the knob that restricts what the decoder can model on its
own (a small receptive field leaves more for z, one of the two remedies for
posterior collapse; free bits, ``free_bits``, is the other).

Because ``p(x|z)`` no longer factorizes, the model adds to the contract of
:mod:`vae.models`:

- ``log_prob(x, z) -> (batch,)``: ``log p(x|z)`` in nats, in one pass
  (teacher forcing); :mod:`vae.losses` (ELBO, importance-weighted bound) and
  so :mod:`vae.evaluation` call it instead of ``decode``;
- ``decode_logits(x, z)``: the 784 conditional logits of ``x`` under z;
- ``generate(z, seed)``: images drawn pixel by pixel (784 steps);
  ``sample(n)`` and ``reconstruct(x)`` use it.

``decode(z)`` has no meaning here (there are no logits before the pixels
are known) and raises a ``TypeError`` that says what to call instead; the
bits-back codec codes its pixels one by one instead
(:mod:`vae.compression._autoregressive`).

Introduced in chapter 11.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vae import defaults, losses
from vae.checks import (
    IMAGE_SHAPE,
    check_images,
    check_latents,
    check_positive_int,
)
from vae.models import ConvVAE, _float32, _FreeBits

FIRST_KERNEL = 7
"""Kernel size of the first (type A) layer."""

KERNEL = 3
"""Kernel size of the later (type B) layers."""

CONDITION_CHANNELS = 16
"""Channels of the 28x28 feature map of z that every layer adds to its gate."""

ROWS, COLUMNS = IMAGE_SHAPE[0], IMAGE_SHAPE[1]


def vertical_reach(layers: int) -> int:
    """Rows above its own that the vertical stack's last layer sees: ``7//2 + (layers - 1) * (3//2)``.

    A pixel's logit depends on the rows ``r - 1 - vertical_reach .. r - 1``
    above it (the shift adds one) and on the pixels to its left.

    Introduced in chapter 11.
    """
    return FIRST_KERNEL // 2 + (check_positive_int(layers, "layers") - 1) * (KERNEL // 2)


def _pad(x, top=0, left=0, right=0):
    """Zeros above, left and right of a ``(batch, rows, columns, channels)`` map."""
    return tf.pad(x, [[0, 0], [top, 0], [left, right], [0, 0]])


def _shift_right(x):
    """Move a map one column right (a zero column on the left, the last column dropped)."""
    return tf.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]])[:, :, :-1]


def _gate(pre_activation):
    """``tanh(a) * sigmoid(b)`` of the two halves of the channels."""
    a, b = tf.split(pre_activation, 2, axis=-1)
    return tf.tanh(a) * tf.sigmoid(b)


class GatedLayer(keras.layers.Layer):
    """One layer of the gated PixelCNN: a vertical and a horizontal stack, both conditioned on z.

    Args:
        channels: ``C``, features of each stack.
        kernel: the kernel size ``k`` (odd).
        first: the type A layer (its horizontal convolution does not see
            the current pixel, and it has no residual connection).

    The three parts are separate methods so that the sampler can run the
    vertical stack once per row and the horizontal one once per pixel:
    :meth:`vertical` ``(v, cond_v) -> (v_out, v_pre)``, :meth:`link`
    ``(v_pre shifted down) -> (.., 2C)`` and :meth:`horizontal`
    ``(h, link, cond_h) -> h_out``. Maps are ``(batch, rows, 28, channels)``
    with any number of rows.

    Introduced in chapter 11.
    """

    def __init__(self, channels: int, kernel: int, first: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.kernel, self.first = channels, kernel, first
        half = kernel // 2
        self.vertical_conv = keras.layers.Conv2D(2 * channels, (half + 1, kernel), name="vertical_conv")
        self.horizontal_conv = keras.layers.Conv2D(2 * channels, (1, half + 1), name="horizontal_conv")
        self.link_conv = keras.layers.Conv2D(2 * channels, 1, name="link")
        self.condition_vertical = keras.layers.Conv2D(2 * channels, 1, use_bias=False, name="condition_vertical")
        self.condition_horizontal = keras.layers.Conv2D(2 * channels, 1, use_bias=False,
                                                        name="condition_horizontal")
        self.output_conv = keras.layers.Conv2D(channels, 1, name="horizontal_out")

    def conditions(self, condition):
        """The 28x28 feature map of z projected for both stacks: ``(cond_v, cond_h)``, each ``(.., 2C)``."""
        return self.condition_vertical(condition), self.condition_horizontal(condition)

    def vertical(self, v, cond_v):
        """Vertical stack: ``(v_out (.., C), v_pre (.., 2C))``; row r sees rows <= r of the input."""
        pre = self.vertical_conv(_pad(v, top=self.kernel // 2, left=self.kernel // 2, right=self.kernel // 2)) + cond_v
        return _gate(pre), pre

    def link(self, shifted_v_pre):
        """The vertical stack's contribution to the horizontal one (its input already shifted down)."""
        return self.link_conv(shifted_v_pre)

    def horizontal(self, h, link, cond_h):
        """Horizontal stack: column c sees columns < c (first layer) or <= c (later) of the input."""
        source = _shift_right(h) if self.first else h
        gated = _gate(self.horizontal_conv(_pad(source, left=self.kernel // 2)) + link + cond_h)
        out = self.output_conv(gated)
        return out if self.first else h + out

    def call(self, v, h, condition):
        """Teacher forcing on whole maps: ``(v_out, h_out)``."""
        cond_v, cond_h = self.conditions(condition)
        v_out, v_pre = self.vertical(v, cond_v)
        return v_out, self.horizontal(h, self.link(_shift_down(v_pre)), cond_h)


def _shift_down(x):
    """Move a map one row down (a zero row on top, the last row dropped)."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


class PixelCNNVAE(_FreeBits, ConvVAE):
    """:class:`vae.models.ConvVAE`'s encoder with a gated PixelCNN decoder conditioned on z (PixelVAE).

    Args:
        latent_dim, filters, hidden: the encoder's sizes, as for
            :class:`vae.models.ConvVAE`; ``filters`` and ``hidden`` also size
            the network that maps z to the 28x28 conditioning map.
        pixelcnn_layers: gated layers (the first 7x7 type A, the rest 3x3
            type B); fewer layers, smaller receptive field
            (:func:`vertical_reach`).
        pixelcnn_channels: features ``C`` of each stack.
        free_bits: ``λ`` in nats: the training loss floors each latent
            unit's KL, averaged over the batch, at ``λ`` (Kingma et al.,
            2016): ``sum_j max(λ, mean_batch KL_j)``. 0 (the default) is the
            plain ELBO. The reported ``kl`` is always the true KL. Only with
            the standard normal prior, whose KL splits over the units.
        seed, beta, prior, pseudo_inputs: see :class:`vae.models.VAE`.

    Introduced in chapter 11.
    """

    decoder_name = "pixelcnn"

    def __init__(self, latent_dim: int = defaults.TRAINING["latent_dim"],
                 pixelcnn_layers: int = defaults.PIXELCNN_OPTIONS["layers"],
                 pixelcnn_channels: int = defaults.PIXELCNN_OPTIONS["channels"],
                 free_bits: float = 0.0, **kwargs):
        self.pixelcnn_layers = check_positive_int(pixelcnn_layers, "pixelcnn_layers")
        self.pixelcnn_channels = check_positive_int(pixelcnn_channels, "pixelcnn_channels")
        super().__init__(latent_dim, **kwargs)
        self._track_free_bits(free_bits)
        if self.free_bits and self.prior_name != "standard":
            raise ValueError("free bits needs the standard normal prior, whose KL splits over the latent units")

    # -- the decoder ------------------------------------------------------------------------
    def build_decoder(self) -> keras.Model:
        """``[images, z] -> logits`` ``(batch, 28, 28, 1)``: teacher forcing, one pass."""
        f1, f2 = self.filters
        z = keras.Input((self.latent_dim,), name="z")
        h = keras.layers.Dense(self.hidden, activation="relu", name="dense")(z)
        h = keras.layers.Dense(7 * 7 * f2, activation="relu", name="project")(h)
        h = keras.layers.Reshape((7, 7, f2), name="to_feature_map")(h)
        h = keras.layers.Conv2DTranspose(f2, 3, strides=2, padding="same", activation="relu", name="up1")(h)
        h = keras.layers.Conv2DTranspose(f1, 3, strides=2, padding="same", activation="relu", name="up2")(h)
        condition = keras.layers.Conv2D(CONDITION_CHANNELS, 1, name="condition")(h)
        self.conditioner = keras.Model(z, condition, name="conditioner")

        self.gated_layers = [GatedLayer(self.pixelcnn_channels, FIRST_KERNEL if i == 0 else KERNEL,
                                        first=i == 0, name=f"gated{i + 1}")
                             for i in range(self.pixelcnn_layers)]
        self.head_hidden = keras.layers.Conv2D(self.pixelcnn_channels, 1, activation="relu", name="head")
        self.head_logits = keras.layers.Conv2D(1, 1, name="logits")

        images = keras.Input(IMAGE_SHAPE, name="images")
        codes = keras.Input((self.latent_dim,), name="z")
        cond = self.conditioner(codes)
        v, h = images, images
        for layer in self.gated_layers:
            v, h = layer(v, h, cond)
        logits = self._head(h)
        return keras.Model([images, codes], logits, name="pixelcnn_decoder")

    def _head(self, h):
        return self.head_logits(self.head_hidden(keras.ops.relu(h)))

    # -- the public contract ----------------------------------------------------------------
    def decode(self, z):
        """Not defined for an autoregressive decoder: raises ``TypeError``.

        Use :meth:`log_prob` (likelihood of given pixels), :meth:`decode_logits`
        (their conditional logits) or :meth:`generate` (draw pixels).
        """
        raise TypeError("the PixelCNN decoder has no logits without the pixels: use log_prob(x, z), "
                        "decode_logits(x, z) or generate(z)")

    def decode_logits(self, x, z):
        """Logits of ``p(x_i | x_<i, z)`` for every pixel of ``x``: ``(batch, 28, 28, 1)`` float32.

        One pass (teacher forcing): pixel i's logit depends only on the
        pixels before it in raster order and on z. Introduced in chapter 11.
        """
        return _float32(self.decoder([check_images(x), check_latents(z, self.latent_dim)]))

    def log_prob(self, x, z):
        """``log p(x|z) = sum_i log p(x_i | x_<i, z)`` in nats, ``(batch,)``.

        Args:
            x: binary images ``(batch, 28, 28, 1)``.
            z: codes ``(batch, latent_dim)``.

        Introduced in chapter 11.
        """
        return losses.bernoulli_log_likelihood(x, self.decode_logits(x, z))

    def generate(self, z, seed=None, return_logits: bool = False):
        """Draw binary images from ``p(x|z)`` pixel by pixel: ``(batch, 28, 28, 1)`` float32 of 0s and 1s.

        The vertical stack runs once per row, on the rows its receptive field
        reaches (:func:`vertical_reach`), and the horizontal stack once per
        pixel, on one row: 28 small passes plus 784 one-row passes, in a
        ``tf.while_loop`` (works inside ``tf.function``).

        Args:
            z: codes ``(batch, latent_dim)``.
            seed: an int for a repeatable draw (``tf.random.stateless_uniform``
                with the key ``[seed, 0]``), or None (the model's generator).
            return_logits: also return the logits each pixel was drawn from,
                which equal :meth:`decode_logits` of the result.

        Introduced in chapter 11.
        """
        z = check_latents(z, self.latent_dim)
        n = tf.shape(z)[0]
        shape = tf.stack([n, ROWS, COLUMNS, 1])
        if seed is None:
            uniform = keras.random.uniform(shape, seed=self.seed_generator)
        else:
            uniform = tf.random.stateless_uniform(shape, seed=tf.stack([tf.cast(seed, tf.int64),
                                                                         tf.constant(0, tf.int64)]))
        if getattr(self, "_compiled_sampler", None) is None:  # one graph, any batch size
            self._compiled_sampler = tf.function(lambda codes, noise: _sample_pixels(self, codes, noise),
                                                 reduce_retracing=True)
        images, logits = self._compiled_sampler(z, tf.cast(uniform, tf.float32))
        return (images, logits) if return_logits else images

    def sample(self, n: int, seed: int | None = None):
        """``n`` binary images: ``z ~ p(z)``, then :meth:`generate`; ``(n, 28, 28, 1)`` in {0, 1}.

        Unlike the factorized models' grey Bernoulli means, these are the
        drawn pixels themselves. Introduced in chapter 11.
        """
        n = check_positive_int(n, "n")
        z = self.prior.sample(n, self.seed_generator if seed is None else seed)
        return self.generate(z, seed=None if seed is None else seed + 1)

    def reconstruct(self, x, sample: bool = False, seed: int | None = None):
        """Binary images drawn from ``p(x|z)`` at the posterior mean (or a posterior draw with ``sample``)."""
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var, seed=seed) if sample else mean
        return self.generate(z, seed=seed)

    def call(self, x, training: bool = False):
        """Teacher-forced logits of ``x``: from a sampled code when training, else from the mean."""
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var) if training else mean
        return self.decode_logits(x, z)

    # -- training -----------------------------------------------------------------------------
    def _elbo_losses(self, x, seed=None):
        """Batch means: ``reconstruction``, ``kl`` (the true KL), ``kl_floored`` (free bits), ``loss``.

        ``loss = reconstruction + beta * kl_floored`` where ``kl_floored =
        sum_j max(free_bits, mean_batch KL_j)``; with ``free_bits = 0`` it
        is the KL itself and the loss the negative (β-)ELBO.
        """
        mean, log_var = (_float32(part) for part in self.encoder(x))
        z = self.reparameterize(mean, log_var, seed=seed)
        reconstruction = -tf.reduce_mean(self.log_prob(x, z))
        kl = tf.reduce_mean(self.prior.kl(mean, log_var, z))
        floored = kl
        if self.free_bits:
            floored = losses._free_bits_kl(kl_units(mean, log_var), self.free_bits)
        return {"loss": reconstruction + self.beta * floored, "reconstruction": reconstruction, "kl": kl,
                "kl_floored": floored}

    def get_config(self) -> dict:
        config = {**super().get_config(), "decoder": self.decoder_name, "pixelcnn_layers": self.pixelcnn_layers,
                  "pixelcnn_channels": self.pixelcnn_channels}
        if self.free_bits:
            config["free_bits"] = self.free_bits
        return config


def kl_units(mean, log_var):
    """``KL(q(z_j|x) || N(0, 1))`` of each latent unit j, ``(batch, latent_dim)`` nats; their sum is the KL.

    Introduced in chapter 11.
    """
    return losses._kl_normal_units(mean, log_var)


def kl_per_unit(model, images, batch_size: int = 500) -> list[float]:
    """Mean ``KL(q(z_j|x) || N(0, 1))`` over ``images`` of each latent unit j: ``latent_dim`` floats, nats.

    A collapsed unit has a KL near 0 (its posterior is the prior whatever
    the image); the sum over units is the model's mean KL. Works for any
    model with ``encode``. Introduced in chapter 11.
    """
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        total = total + tf.reduce_sum(kl_units(*model.encode(batch)), axis=0).numpy().astype("float64")
        count += len(batch)
    return [float(value) / count for value in total]


def _sample_pixels(model: PixelCNNVAE, z, uniform):
    """The sampler behind :meth:`PixelCNNVAE.generate`: ``(images, logits)``, each ``(n, 28, 28, 1)``."""
    layers = model.gated_layers
    n = tf.shape(z)[0]
    condition = model.conditioner(z)
    conditions = [layer.conditions(condition) for layer in layers]  # (cond_v, cond_h) per layer
    reach = vertical_reach(len(layers))
    dtype = condition.dtype
    row_shape = tf.stack([n, 1, COLUMNS, 1])

    def row_links(images, row):
        """Each layer's link for row ``row``: its vertical stack at row - 1 (zeros above the image)."""
        low = tf.maximum(row - 1 - reach, 0)
        high = tf.maximum(row, 1)  # row 0: computed on a row of zeros, then multiplied by 0
        v = tf.cast(images[:, low:high], dtype)
        links = []
        for layer, (cond_v, _) in zip(layers, conditions):
            v, pre = layer.vertical(v, cond_v[:, low:high])
            above = pre[:, -1:] * tf.cast(row > 0, dtype)
            links.append(layer.link(above))
        return links

    def pixel_logits(current_row, links, row):
        h = tf.cast(current_row, dtype)
        for layer, link, (_, cond_h) in zip(layers, links, conditions):
            h = layer.horizontal(h, link, cond_h[:, row:row + 1])
        return tf.cast(model._head(h), tf.float32)  # (n, 1, 28, 1)

    def draw_row(row, images, logits):
        links = row_links(images, row)

        def draw_pixel(column, current, row_logits):
            column_logits = tf.reshape(pixel_logits(current, links, row)[:, :, column], [n, 1, 1, 1])
            noise = tf.reshape(uniform[:, row, column], [n, 1, 1, 1])
            bit = tf.cast(noise < tf.sigmoid(column_logits), tf.float32)
            one_hot = tf.reshape(tf.one_hot(column, COLUMNS), [1, 1, COLUMNS, 1])
            return column + 1, current + bit * one_hot, row_logits + column_logits * one_hot

        _, current, row_logits = tf.while_loop(
            lambda column, *_: column < COLUMNS, draw_pixel,
            (tf.constant(0), tf.zeros(row_shape), tf.zeros(row_shape)))
        row_mask = tf.reshape(tf.one_hot(row, ROWS), [1, ROWS, 1, 1])
        return row + 1, images + current * row_mask, logits + row_logits * row_mask

    empty = tf.zeros(tf.stack([n, ROWS, COLUMNS, 1]))
    _, images, logits = tf.while_loop(lambda row, *_: row < ROWS, draw_row, (tf.constant(0), empty, empty))
    return images, logits
