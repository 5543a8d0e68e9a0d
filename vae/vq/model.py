"""The VQ-VAE: an encoder to a 7x7 grid of vectors, a codebook, a decoder, and a PixelCNN prior over the indices.

Shapes for 28x28 grey digits (``D`` the code dimension, ``K`` codebook entries)::

    encoder   (batch, 28, 28, 1) -> z_e (batch, 7, 7, D)
    quantize  z_e -> indices (batch, 7, 7) int, the nearest codebook entry (Euclidean)
    decoder   codebook[indices] (batch, 7, 7, D) -> x̂ (batch, 28, 28, 1), grey levels (clipped to [0, 1])
    prior     indices -> logits (batch, 7, 7, K) (:mod:`vae.vq.prior`)

Training (``fit``) minimizes, per batch,

    MSE(x, x̂) + ‖sg(z_e) − e‖² + β ‖z_e − sg(e)‖² + prior cross-entropy

with ``e`` the chosen codebook vectors, ``sg`` stop-gradient and the
straight-through estimator ``z_q = z_e + sg(e − z_e)`` carrying the decoder's
gradient to the encoder (van den Oord et al. 2017, β = 0.25). The prior
learns the indices of the current encoder (they are constants to it).

**Codebook collapse** (entries that no encoder output ever picks, so the
codebook loss never moves them) is cured by dead-code restarts: the model
keeps an exponential moving average of how often each entry is chosen,
and an entry whose average falls below ``1/(dead_factor·K)`` of the
vectors is moved onto a random encoder output of the current batch.
``restarts=False`` switches the cure off (to measure what it buys).

The decoder is :func:`vae.lossy.transforms.synthesis_transform`, which runs
in exact integer arithmetic; with the exact prior this makes the coded
files decode identically everywhere (:mod:`vae.vq.coding`).

``fit`` reports ``loss``, ``mse`` (grey levels 0..255), ``psnr`` (dB, peak 1,
of the batch's mean MSE), ``prior_bits`` (the prior's cross-entropy in bits
per index), ``perplexity`` (2 to the entropy of the batch's code
histogram) and ``live_codes`` (entries whose moving average is above the
restart threshold).

Introduced in chapter 10.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from vae.checks import check_int, check_number
from vae.lossy import transforms
from vae._tracked_steps import TrackedSteps
from vae.vq.prior import pixelcnn

GRID = 7
PIXELS = 28 * 28
GREY_PEAK = 255.0


def vq_encoder(code_dim: int, filters: int) -> keras.Sequential:
    """Encoder: 28x28x1 -> conv5 s2 -> 14x14 -> conv5 s2 -> 7x7 -> conv3 -> conv1 -> (7, 7, code_dim).

    Introduced in chapter 10.
    """
    return keras.Sequential([
        keras.Input(transforms.IMAGE_SHAPE),
        keras.layers.Conv2D(filters, 5, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(filters, 5, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(code_dim, 1),
    ], name="encoder")


class VQVAE(TrackedSteps, keras.Model):
    """A VQ-VAE with a PixelCNN prior for 28x28 grey digits.

    Args:
        codebook_size: K, entries in the codebook.
        code_dim: D, the dimension of each code vector.
        filters: width of the encoder and decoder convolutions.
        beta: weight of the commitment loss.
        prior_embedding, prior_filters, prior_layers: the PixelCNN's sizes.
        restarts: whether dead codebook entries are restarted (the cure of collapse).
        usage_decay: decay of the moving average of each entry's usage (per step).
        dead_factor: an entry is dead when its average share of vectors is below ``1/(dead_factor·K)``.
        seed: seed of the restarts' random choices.

    Introduced in chapter 10.
    """

    architecture = "vqvae"

    def __init__(self, codebook_size: int = 256, code_dim: int = 32, filters: int = 64, beta: float = 0.25,
                 prior_embedding: int = 32, prior_filters: int = 64, prior_layers: int = 3,
                 restarts: bool = True, usage_decay: float = 0.99, dead_factor: float = 32.0,
                 seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        self.codebook_size = check_int(codebook_size, "codebook_size", 2)
        self.code_dim = check_int(code_dim, "code_dim", 1)
        self.filters = check_int(filters, "filters", 2)
        self.beta = check_number(beta, "beta")
        self.prior_embedding = check_int(prior_embedding, "prior_embedding", 1)
        self.prior_filters = check_int(prior_filters, "prior_filters", 1)
        self.prior_layers = check_int(prior_layers, "prior_layers", 1)
        self.restarts = bool(restarts)
        self.usage_decay = check_number(usage_decay, "usage_decay", strict=True)
        self.dead_factor = check_number(dead_factor, "dead_factor", strict=True)
        self.noise_seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.encoder = vq_encoder(self.code_dim, self.filters)
        self.decoder = transforms.synthesis_transform(self.code_dim, self.filters)
        self.prior = pixelcnn(self.codebook_size, GRID, self.prior_embedding, self.prior_filters, self.prior_layers)
        bound = 1.0 / self.codebook_size
        self.codebook = self.add_weight(shape=(self.codebook_size, self.code_dim), name="codebook",
                                        initializer=keras.initializers.RandomUniform(-bound, bound, seed=seed))
        self.usage = self.add_weight(shape=(self.codebook_size,), name="usage", trainable=False,
                                     initializer=keras.initializers.Constant(1.0 / self.codebook_size))
        self.restarted = self.add_weight(shape=(), name="restarted", trainable=False, initializer="zeros")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "mse", "psnr", "prior_bits", "perplexity", "live_codes")}
        self.built = True

    # -- the pieces ---------------------------------------------------------------------
    def encode(self, x):
        """Encoder outputs ``z_e`` ``(batch, 7, 7, D)`` of images ``(batch, 28, 28, 1)`` in [0, 1]."""
        return self.encoder(tf.convert_to_tensor(x, tf.float32))

    def nearest(self, z_e):
        """int32 indices ``(batch, 7, 7)`` of the codebook entries nearest to ``z_e`` (Euclidean)."""
        flat = tf.reshape(z_e, (-1, self.code_dim))
        distances = (tf.reduce_sum(flat ** 2, axis=1, keepdims=True) - 2.0 * flat @ tf.transpose(self.codebook)
                     + tf.reduce_sum(self.codebook ** 2, axis=1)[None, :])
        return tf.reshape(tf.argmin(distances, axis=1, output_type=tf.int32), tf.shape(z_e)[:-1])

    def indices(self, x):
        """The code grid of images: int32 ``(batch, 7, 7)`` in ``0..K-1``."""
        return self.nearest(self.encode(x))

    def decode(self, indices):
        """Images ``(batch, 28, 28, 1)`` in [0, 1] of index grids ``(batch, 7, 7)`` (float decoder)."""
        vectors = tf.gather(self.codebook, tf.convert_to_tensor(indices, tf.int32))
        return tf.clip_by_value(self.decoder(vectors), 0.0, 1.0)

    def prior_logits(self, indices):
        """The prior's logits ``(batch, 7, 7, K)``; position (r, c) depends only on the indices before it."""
        return self.prior(tf.convert_to_tensor(indices, tf.int32))

    def prior_bits(self, indices):
        """-log2 p(indices) under the prior, per image ``(batch,)`` float32 (bits for 49 indices)."""
        indices = tf.convert_to_tensor(indices, tf.int32)
        nats = tf.nn.sparse_softmax_cross_entropy_with_logits(indices, self.prior_logits(indices))
        return tf.reduce_sum(nats, axis=(1, 2)) / math.log(2.0)

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Draw ``n`` digits: index grids from the prior, position by position, then decoded.

        Returns:
            float32 ``(n, 28, 28, 1)`` in [0, 1].
        """
        grid = self.sample_indices(n, seed, temperature)
        return self.decode(grid).numpy()

    def sample_indices(self, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """``n`` index grids ``(n, 7, 7)`` int32 drawn from the prior in raster order (NumPy generator ``seed``)."""
        n = check_int(n, "n", 1)
        check_number(temperature, "temperature", strict=True)
        rng = np.random.default_rng(seed)
        grid = np.zeros((n, GRID, GRID), np.int32)
        for row in range(GRID):
            for col in range(GRID):
                logits = self.prior_logits(grid[:, :row + 1]).numpy()[:, row, col].astype(np.float64) / temperature
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                grid[:, row, col] = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(
                    0, self.codebook_size - 1)
        return grid

    # -- the losses ---------------------------------------------------------------------
    def losses_of(self, x, training: bool = False) -> dict:
        """Every term of the loss of a batch of images, and what the metrics need (batch means)."""
        x = tf.cast(x, tf.float32)
        z_e = self.encoder(x, training=training)
        indices = self.nearest(z_e)
        e = tf.gather(self.codebook, indices)
        z_q = z_e + tf.stop_gradient(e - z_e)
        reconstruction = self.decoder(z_q, training=training)
        if not training:
            reconstruction = tf.clip_by_value(reconstruction, 0.0, 1.0)
        mse = tf.reduce_mean(tf.square(x - reconstruction))
        codebook_loss = tf.reduce_mean(tf.square(tf.stop_gradient(z_e) - e))
        commitment = tf.reduce_mean(tf.square(z_e - tf.stop_gradient(e)))
        prior_nats = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.stop_gradient(indices), self.prior(indices, training=training)))
        counts = tf.math.bincount(tf.reshape(indices, [-1]), minlength=self.codebook_size,
                                  maxlength=self.codebook_size, dtype=tf.float32)
        share = counts / tf.reduce_sum(counts)
        entropy = -tf.reduce_sum(tf.where(share > 0, share * tf.math.log(tf.maximum(share, 1e-30)), 0.0))
        mse255 = mse * GREY_PEAK ** 2
        return {"loss": mse + codebook_loss + self.beta * commitment + prior_nats,
                "mse": mse255, "psnr": 10.0 * tf.math.log(GREY_PEAK ** 2 / tf.maximum(mse255, 1e-10)) / math.log(10.0),
                "prior_bits": prior_nats / math.log(2.0), "perplexity": tf.exp(entropy),
                "live_codes": tf.reduce_sum(tf.cast(self.usage >= self._threshold(), tf.float32)),
                "share": share, "z_e": z_e, "reconstruction": reconstruction}

    def _threshold(self) -> float:
        return 1.0 / (self.dead_factor * self.codebook_size)

    def _update_usage_and_restart(self, share, z_e) -> None:
        """Move the usage averages; put dead entries on random encoder outputs of the batch."""
        usage = self.usage_decay * self.usage + (1.0 - self.usage_decay) * share
        if not self.restarts:
            self.usage.assign(usage)
            return
        dead = usage < self._threshold()
        flat = tf.reshape(tf.stop_gradient(z_e), (-1, self.code_dim))
        picks = keras.random.randint((self.codebook_size,), 0, tf.shape(flat)[0], seed=self.seed_generator)
        self.codebook.assign(tf.where(dead[:, None], tf.gather(flat, picks), self.codebook))
        self.usage.assign(tf.where(dead, 1.0 / self.codebook_size, usage))
        self.restarted.assign_add(tf.reduce_sum(tf.cast(dead, tf.float32)))

    def call(self, x, training: bool = False):
        """Reconstructions ``(batch, 28, 28, 1)`` through the codebook (float decoder)."""
        return self.losses_of(x, training=training)["reconstruction"]

    # -- fit (vae._tracked_steps) ---------------------------------------------------------
    _batch_values = losses_of  # fit: one Adam step on the VQ-VAE's loss and the prior's cross-entropy

    def _after_train_step(self, values: dict) -> None:
        """After each step: the usage averages and the restarts."""
        self._update_usage_and_restart(values["share"], values["z_e"])

    def get_config(self) -> dict:
        """The constructor arguments, plus ``architecture``, as plain JSON types."""
        return {"architecture": self.architecture, "codebook_size": self.codebook_size, "code_dim": self.code_dim,
                "filters": self.filters, "beta": self.beta, "prior_embedding": self.prior_embedding,
                "prior_filters": self.prior_filters, "prior_layers": self.prior_layers,
                "restarts": self.restarts, "usage_decay": self.usage_decay, "dead_factor": self.dead_factor,
                "seed": self.noise_seed}

    @classmethod
    def from_config(cls, config: dict) -> "VQVAE":
        config = dict(config)
        architecture = config.pop("architecture", cls.architecture)
        if architecture != cls.architecture:
            raise ValueError(f"expected a {cls.architecture!r} config, got architecture {architecture!r}")
        return cls(**config)


def codebook_usage(indices, codebook_size: int) -> dict:
    """How a set of index grids uses the codebook: ``{"used", "fraction", "perplexity", "entropy_bits"}``.

    ``perplexity`` is 2 to the entropy (bits) of the index histogram: K for a
    uniform use of all entries, 1 for a collapsed codebook. Introduced in chapter 10.
    """
    counts = np.bincount(np.asarray(indices).ravel(), minlength=codebook_size).astype(np.float64)
    share = counts / counts.sum()
    nonzero = share[share > 0]
    entropy = float(-(nonzero * np.log2(nonzero)).sum())
    return {"used": int((counts > 0).sum()), "fraction": float((counts > 0).mean()),
            "perplexity": float(2.0 ** entropy), "entropy_bits": entropy}
