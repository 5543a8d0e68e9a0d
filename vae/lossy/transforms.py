"""The four transforms of the learned codec, as small Keras convolutional networks.

Shapes for 28x28 grey digits (``C`` latent channels, ``Cz`` hyper-latent channels)::

    analysis          g_a  (batch, 28, 28, 1)  -> y  (batch, 7, 7, C)
    synthesis         g_s  (batch, 7, 7, C)    -> x̂  (batch, 28, 28, 1), grey levels (not yet clipped to [0, 1])
    hyper-analysis    h_a  (batch, 7, 7, C)    -> z  (batch, 4, 4, Cz)   (it sees |y|: only scales matter)
    hyper-synthesis   h_s  (batch, 4, 4, Cz)   -> r  (batch, 7, 7, C), r = log σ of each y

The two transforms the *decoder* runs (g_s and h_s) use only 3x3 convolutions
with stride 1 and "same" padding, ReLU, nearest-neighbour 2x upsampling and a
one-pixel crop: :mod:`vae.lossy.exact` can then run them in exact integer
arithmetic, so every machine decodes the same bits (chapter 10). The
encoder-only transforms (g_a, h_a) may use anything.

Introduced in chapter 10.
"""

from __future__ import annotations

import keras

class NearestUpSampling2D(keras.layers.UpSampling2D):
    """2x nearest-neighbour upsampling through ``tf.image.resize``: the same numbers as Keras's
    ``UpSampling2D(interpolation="nearest")``, whose gradient (built on ``repeat``) makes oneDNN
    log an error line on CPUs without AVX-512. Introduced in chapter 10."""

    def __init__(self, **kwargs):
        super().__init__(2, interpolation="nearest", **kwargs)

    def call(self, inputs):
        import tensorflow as tf

        shape = tf.shape(inputs)
        return tf.image.resize(inputs, (2 * shape[1], 2 * shape[2]), method="nearest")

    def get_config(self) -> dict:
        return {key: value for key, value in super().get_config().items()
                if key not in ("size", "interpolation", "data_format")}


IMAGE_SHAPE = (28, 28, 1)
LATENT_SIZE = 7    # y is 7x7 per channel
HYPER_SIZE = 4     # z is 4x4 per channel


def analysis_transform(channels: int, filters: int) -> keras.Sequential:
    """g_a: 28x28x1 -> conv5 s2 -> 14x14 -> conv5 s2 -> 7x7 -> conv3 -> (7, 7, channels).

    No biases: the network is then positively homogeneous, and a black patch
    (most of every digit) maps to latents that are exactly 0, which the
    entropy model can make nearly free. With biases, the background's
    latents sat at a learned offset that every digit paid for. Introduced in chapter 10.
    """
    return keras.Sequential([
        keras.Input(IMAGE_SHAPE),
        keras.layers.Conv2D(filters, 5, strides=2, padding="same", activation="relu", use_bias=False),
        keras.layers.Conv2D(filters, 5, strides=2, padding="same", activation="relu", use_bias=False),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu", use_bias=False),
        keras.layers.Conv2D(channels, 3, padding="same", use_bias=False),
    ], name="analysis")


def synthesis_transform(channels: int, filters: int) -> keras.Sequential:
    """g_s: (7, 7, channels) -> conv3 -> up2 -> 14x14 -> conv3 -> up2 -> 28x28 -> conv3 -> conv3 -> (28, 28, 1).

    The output is linear (no sigmoid): the codec clips it to [0, 1]. Introduced in chapter 10.
    """
    return keras.Sequential([
        keras.Input((LATENT_SIZE, LATENT_SIZE, channels)),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        NearestUpSampling2D(),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        NearestUpSampling2D(),
        keras.layers.Conv2D(filters // 2, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(1, 3, padding="same"),
    ], name="synthesis")


def hyper_analysis_transform(channels: int, hyper_channels: int, filters: int) -> keras.Sequential:
    """h_a: (7, 7, channels) -> conv3 -> conv3 s2 -> (4, 4, hyper_channels); applied to |y|.

    No biases, as in g_a: zero latents give zero hyper-latents. Introduced in chapter 10.
    """
    return keras.Sequential([
        keras.Input((LATENT_SIZE, LATENT_SIZE, channels)),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu", use_bias=False),
        keras.layers.Conv2D(hyper_channels, 3, strides=2, padding="same", use_bias=False),
    ], name="hyper_analysis")


def hyper_synthesis_transform(channels: int, hyper_channels: int, filters: int) -> keras.Sequential:
    """h_s: (4, 4, hyper_channels) -> up2 -> 8x8 -> crop -> 7x7 -> conv3 -> conv3 -> (7, 7, channels) of log σ.

    Introduced in chapter 10.
    """
    return keras.Sequential([
        keras.Input((HYPER_SIZE, HYPER_SIZE, hyper_channels)),
        NearestUpSampling2D(),
        keras.layers.Cropping2D(((0, 1), (0, 1))),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(channels, 3, padding="same"),
    ], name="hyper_synthesis")
