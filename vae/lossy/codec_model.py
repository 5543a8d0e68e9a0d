"""The learned codec as a Keras model: transform coding trained as a VAE with a uniform posterior.

``LearnedCodec`` holds the four transforms (:mod:`vae.lossy.transforms`),
a factorized density for the hyper-latents z and a Gaussian conditional
for the latents y whose scales the hyper-synthesis predicts
(:mod:`vae.lossy.entropy_models`).

Training (``fit``) adds uniform noise ``U(-½, ½)`` to y and z in place of
rounding: the rate is ``-log2`` of their likelihoods, in bits, and the
synthesis sees y rounded with a straight-through gradient. The loss per
image is::

    loss = bpp + λ · MSE₂₅₅

with ``bpp`` the rate in bits per pixel (bits / 784) and ``MSE₂₅₅`` the mean
squared error on grey levels 0..255 (``255² ·`` the MSE of images in
[0, 1]): the convention of the learned-compression literature (e.g.
CompressAI), so λ ≈ 0.001..0.05 spans low to high quality.
``fit`` reports ``loss``, ``bpp``, ``mse`` (on 0..255) and ``psnr`` (dB,
peak 1, of the batch's mean MSE).

Public contract:

* ``analyse(x) -> y`` ``(batch, 7, 7, C)`` for images ``(batch, 28, 28, 1)`` in [0, 1];
* ``synthesise(y) -> x̂`` ``(batch, 28, 28, 1)`` in [0, 1];
* ``hyper_analyse(y) -> z`` ``(batch, 4, 4, Cz)``, ``log_scales(z) -> log σ`` ``(batch, 7, 7, C)``;
* ``rate_distortion(x, training)`` -> dict of per-batch means;
* ``get_config()``/``from_config`` and :func:`save_codec`/:func:`load_codec`.

Introduced in chapter 10.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from vae.checks import check_images, check_int, check_number
from vae.lossy import transforms
from vae.lossy.entropy_models import FactorizedDensity, ScaleLadder, gaussian_bits
from vae._tracked_steps import TrackedSteps

PIXELS = 28 * 28
GREY_PEAK = 255.0


class LearnedCodec(TrackedSteps, keras.Model):
    """A scale-hyperprior transform codec for 28x28 grey digits.

    Args:
        channels: latent channels C (y is 7x7xC).
        hyper_channels: hyper-latent channels Cz (z is 4x4xCz).
        filters: width of the analysis and synthesis convolutions.
        hyper_filters: width of the hyper-transforms.
        lmbda: λ, the weight of the distortion (MSE on 0..255) against the rate (bits per pixel).
        seed: seed of the training noise.

    Introduced in chapter 10.
    """

    architecture = "hyperprior"

    def __init__(self, channels: int = 16, hyper_channels: int = 8, filters: int = 64, hyper_filters: int = 32,
                 lmbda: float = 0.01, seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_int(channels, "channels", 1)
        self.hyper_channels = check_int(hyper_channels, "hyper_channels", 1)
        self.filters = check_int(filters, "filters", 2)
        self.hyper_filters = check_int(hyper_filters, "hyper_filters", 1)
        self.lmbda = check_number(lmbda, "lmbda", strict=True)
        self.noise_seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ladder = ScaleLadder()
        self.analysis = transforms.analysis_transform(self.channels, self.filters)
        self.synthesis = transforms.synthesis_transform(self.channels, self.filters)
        self.hyper_analysis = transforms.hyper_analysis_transform(self.channels, self.hyper_channels,
                                                                  self.hyper_filters)
        self.hyper_synthesis = transforms.hyper_synthesis_transform(self.channels, self.hyper_channels,
                                                                    self.hyper_filters)
        self.hyper_density = FactorizedDensity(self.hyper_channels, name="hyper_density")
        self.hyper_density.build(None)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "bpp", "mse", "psnr")}
        self.built = True

    # -- the transforms -----------------------------------------------------------------
    def analyse(self, x):
        """Latents ``y`` ``(batch, 7, 7, C)`` (float, before quantization) of images in [0, 1]."""
        return self.analysis(check_images(x))

    def synthesise(self, y):
        """Reconstructions ``(batch, 28, 28, 1)`` in [0, 1] of latents ``(batch, 7, 7, C)`` (rounded or not)."""
        return tf.clip_by_value(self.synthesis(tf.convert_to_tensor(y, tf.float32)), 0.0, 1.0)

    def hyper_analyse(self, y):
        """Hyper-latents ``z`` ``(batch, 4, 4, Cz)`` of latents y (h_a sees ``|y|``)."""
        return self.hyper_analysis(tf.abs(tf.convert_to_tensor(y, tf.float32)))

    def log_scales(self, z):
        """Predicted log σ ``(batch, 7, 7, C)`` of each latent, from (noisy or rounded) hyper-latents."""
        return self.hyper_synthesis(tf.convert_to_tensor(z, tf.float32))

    # -- rate and distortion ------------------------------------------------------------
    def _noise(self, like):
        return keras.random.uniform(tf.shape(like), -0.5, 0.5, seed=self.seed_generator)

    def rate_distortion(self, x, training: bool = False) -> dict:
        """Rate, distortion and loss of a batch of images ``(batch, 28, 28, 1)``, as batch means.

        With ``training`` the latents get uniform noise (the training
        objective); otherwise they are rounded (what the coder will code,
        up to the integer tables).

        Returns:
            ``{"loss", "bpp", "bits_y", "bits_z", "mse" (0..255 scale), "psnr" (dB of the mean MSE),
            "reconstruction"}``; bits are per image.
        """
        x = tf.cast(x, tf.float32)
        y = self.analysis(x)
        z = self.hyper_analyse(y)
        if training:
            y_tilde, z_tilde = y + self._noise(y), z + self._noise(z)
            y_hat = y + tf.stop_gradient(tf.round(y) - y)    # the synthesis learns from rounded latents
        else:
            y_tilde = y_hat = tf.round(y)
            z_tilde = tf.round(z)
        scale = self.ladder.training_scale(self.log_scales(z_tilde))
        bits_y = tf.reduce_sum(gaussian_bits(y_tilde, scale), axis=(1, 2, 3))
        bits_z = -tf.reduce_sum(tf.math.log(self.hyper_density(z_tilde)), axis=(1, 2, 3)) / math.log(2.0)
        reconstruction = self.synthesis(y_hat)
        if not training:
            reconstruction = tf.clip_by_value(reconstruction, 0.0, 1.0)
        mse = tf.reduce_mean(tf.square(x - reconstruction)) * GREY_PEAK ** 2
        bpp = tf.reduce_mean(bits_y + bits_z) / PIXELS
        return {"loss": bpp + self.lmbda * mse, "bpp": bpp, "bits_y": tf.reduce_mean(bits_y),
                "bits_z": tf.reduce_mean(bits_z), "mse": mse,
                "psnr": 10.0 * tf.math.log(GREY_PEAK ** 2 / tf.maximum(mse, 1e-10)) / math.log(10.0),
                "reconstruction": reconstruction}

    def call(self, x, training: bool = False):
        """Reconstructions of rounded latents (no entropy coding), ``(batch, 28, 28, 1)``."""
        return self.rate_distortion(x, training=training)["reconstruction"]

    # -- fit (vae._tracked_steps) ---------------------------------------------------------
    _batch_values = rate_distortion  # fit: one Adam step on bpp + λ·MSE₂₅₅ with noisy latents

    def get_config(self) -> dict:
        """The constructor arguments, plus ``architecture``, as plain JSON types."""
        return {"architecture": self.architecture, "channels": self.channels,
                "hyper_channels": self.hyper_channels, "filters": self.filters,
                "hyper_filters": self.hyper_filters, "lmbda": self.lmbda, "seed": self.noise_seed}

    @classmethod
    def from_config(cls, config: dict) -> "LearnedCodec":
        config = dict(config)
        architecture = config.pop("architecture", cls.architecture)
        if architecture != cls.architecture:
            raise ValueError(f"expected a {cls.architecture!r} codec config, got architecture {architecture!r}")
        return cls(**config)
