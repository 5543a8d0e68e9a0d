"""A Ladder VAE: several stochastic layers with a top-down inference path.

Generative path ``p(z_L) p(z_{L-1}|z_L) ... p(z_1|z_2) p(x|z_1)`` with
``p(z_L) = N(0, I)``, Gaussian conditionals and Bernoulli pixels.
Inference (Sønderby et al., 2016) runs a bottom-up pass that gives each
layer a Gaussian ``(mu_hat_i, var_hat_i)``, then walks down from the top:
``q(z_L|x)`` is the top bottom-up Gaussian, and below it
``q(z_i|z_{i+1}, x)`` is the *precision-weighted* combination of the
bottom-up Gaussian and the prior ``p(z_i|z_{i+1})``:
``var = 1 / (1/var_hat + 1/var_p)``, ``mu = var * (mu_hat/var_hat +
mu_p/var_p)``. We keep the paper's combination (not the later residual
parametrization) because it needs no extra network and makes a posterior
that can never be wider than the prior, which keeps the first steps of
training stable without the residual form's careful initialization.

Sizes (defaults): the conv encoder of :class:`vae.models.ConvVAE` (two
stride-2 convolutions to 7x7, a dense layer of ``hidden`` units) feeds
z_1 (32 units); a further dense layer of ``hidden // 2`` units feeds z_2
(16 units). The decoder from z_1 is ConvVAE's decoder.

Status: work in progress for issue 19 item 2 (model, bounds and tests);
the CLI, evaluation and benchmark hooks are not written yet.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from vae import defaults, losses
from vae.checks import IMAGE_SHAPE, check_images, check_number, check_positive_int
from vae.models import _float32, _images_of, _LatentModel

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(z, mean, log_var):
    """``log N(z; mean, exp(log_var))`` per unit, nats, the shape of ``z``.

    Introduced in chapter 11.
    """
    return -0.5 * (LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var))


def gaussian_kl(mean_q, log_var_q, mean_p, log_var_p):
    """``KL(N(mean_q, var_q) || N(mean_p, var_p))`` per unit, nats.

    Introduced in chapter 11.
    """
    return 0.5 * (log_var_p - log_var_q
                  + (tf.exp(log_var_q) + tf.square(mean_q - mean_p)) * tf.exp(-log_var_p) - 1.0)


def precision_weighted(mean_a, log_var_a, mean_b, log_var_b):
    """The Gaussian proportional to the product of two: ``(mean, log_var)``.

    Introduced in chapter 11.
    """
    precision_a, precision_b = tf.exp(-log_var_a), tf.exp(-log_var_b)
    var = 1.0 / (precision_a + precision_b)
    return var * (mean_a * precision_a + mean_b * precision_b), tf.math.log(var)


class LadderVAE(_LatentModel):
    """Ladder VAE with ``len(latent_dims)`` stochastic layers (bottom first).

    Args:
        latent_dims: units of z_1 ... z_L, bottom first (default ``(32, 16)``).
        filters, hidden: conv encoder/decoder sizes as in
            :class:`vae.models.ConvVAE`; layer i > 1 uses dense layers of
            ``max(hidden // 2**(i-1), 32)`` units.
        free_bits: ``λ`` in nats; the training loss floors each unit's KL,
            averaged over the batch, at ``λ`` (Kingma et al., 2016), in
            every layer. The reported ``kl`` is the true (one-sample) KL.
        seed, beta: see :class:`vae.models.VAE`.

    Introduced in chapter 11.
    """

    architecture = "ladder"

    def __init__(self, latent_dims=(32, 16), filters=defaults.CONV_OPTIONS["filters"],
                 hidden: int = defaults.CONV_OPTIONS["hidden"], free_bits: float = 0.0, **kwargs):
        self.latent_dims = tuple(check_positive_int(d, "latent_dims") for d in latent_dims)
        if not self.latent_dims:
            raise ValueError("latent_dims needs at least one layer")
        self.filters = tuple(check_positive_int(f, "filters") for f in filters)
        self.hidden = check_positive_int(hidden, "hidden")
        self.free_bits = float(check_number(free_bits, "free_bits", minimum=0.0))
        super().__init__(self.latent_dims[0], **kwargs)
        self.free_bits_kl_tracker = keras.metrics.Mean(name="kl_floored")

    @property
    def layers_count(self) -> int:
        return len(self.latent_dims)

    def _width(self, i: int) -> int:
        return self.hidden if i == 0 else max(self.hidden // 2 ** i, 32)

    def build_encoder(self) -> keras.Model:
        """Bottom-up path: images -> ``[mean_1, log_var_1, ..., mean_L, log_var_L]``."""
        images = keras.Input(IMAGE_SHAPE, name="images")
        h = images
        for i, channels in enumerate(self.filters):
            h = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu",
                                    name=f"conv{i + 1}")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        outputs = []
        for i, dim in enumerate(self.latent_dims):
            h = keras.layers.Dense(self._width(i), activation="relu", name=f"up_dense{i + 1}")(h)
            outputs.append(keras.layers.Dense(dim, name=f"up_mean{i + 1}")(h))
            outputs.append(keras.layers.Dense(dim, name=f"up_log_var{i + 1}")(h))
        return keras.Model(images, outputs, name="encoder")

    def build_decoder(self) -> keras.Model:
        """z_1 -> pixel logits ``(batch, 28, 28, 1)``; also builds the top-down conditionals."""
        self.top_down = []
        for i in range(self.layers_count - 1):  # p(z_{i+1} | z_{i+2}), i counted from the bottom
            z_above = keras.Input((self.latent_dims[i + 1],))
            h = keras.layers.Dense(self._width(i), activation="relu")(z_above)
            mean = keras.layers.Dense(self.latent_dims[i])(h)
            log_var = keras.layers.Dense(self.latent_dims[i])(h)
            self.top_down.append(keras.Model(z_above, [mean, log_var], name=f"top_down{i + 1}"))
        f1, f2 = self.filters
        z = keras.Input((self.latent_dims[0],), name="z")
        h = keras.layers.Dense(self.hidden, activation="relu", name="dense")(z)
        h = keras.layers.Dense(7 * 7 * f2, activation="relu", name="project")(h)
        h = keras.layers.Reshape((7, 7, f2), name="to_feature_map")(h)
        h = keras.layers.Conv2DTranspose(f2, 3, strides=2, padding="same", activation="relu", name="up1")(h)
        h = keras.layers.Conv2DTranspose(f1, 3, strides=2, padding="same", activation="relu", name="up2")(h)
        logits = keras.layers.Conv2DTranspose(1, 3, padding="same", name="logits")(h)
        return keras.Model(z, logits, name="decoder")

    def build_prior(self):
        return None  # p(z_L) = N(0, I); the conditionals are self.top_down

    # -- inference and generation --------------------------------------------------------
    def infer(self, x, seed=None):
        """One top-down pass. Returns a list, bottom first, of dicts with
        ``z``, ``q_mean``, ``q_log_var``, ``p_mean``, ``p_log_var`` (each
        ``(batch, latent_dims[i])``)."""
        bottom_up = [_float32(t) for t in self.encoder(x)]
        layers = [None] * self.layers_count
        z_above = None
        for i in reversed(range(self.layers_count)):
            mean_hat, log_var_hat = bottom_up[2 * i], bottom_up[2 * i + 1]
            if i == self.layers_count - 1:
                p_mean, p_log_var = tf.zeros_like(mean_hat), tf.zeros_like(log_var_hat)
                q_mean, q_log_var = mean_hat, log_var_hat
            else:
                p_mean, p_log_var = (_float32(t) for t in self.top_down[i](z_above))
                q_mean, q_log_var = precision_weighted(mean_hat, log_var_hat, p_mean, p_log_var)
            noise_seed = None if seed is None else seed * 16 + i
            z = self._draw(q_mean, q_log_var, noise_seed)
            layers[i] = {"z": z, "q_mean": q_mean, "q_log_var": q_log_var, "p_mean": p_mean,
                         "p_log_var": p_log_var}
            z_above = z
        return layers

    def _draw(self, mean, log_var, seed):
        """``mean + exp(log_var / 2) * eps``, any layer's width."""
        return mean + tf.exp(0.5 * log_var) * self._standard_normal(tf.shape(mean), seed)

    def decode(self, z1):
        """Pixel logits from the bottom code z_1: ``(batch, 28, 28, 1)``."""
        return _float32(self.decoder(z1))

    def sample(self, n: int, seed: int | None = None):
        """``n`` Bernoulli means ``(n, 28, 28, 1)``: ancestral sampling from z_L down."""
        n = check_positive_int(n, "n")
        z = self._standard_normal((n, self.latent_dims[-1]), seed)
        for i in reversed(range(self.layers_count - 1)):
            mean, log_var = (_float32(t) for t in self.top_down[i](z))
            z = self._draw(mean, log_var, None if seed is None else seed * 16 + i + 1)
        return tf.sigmoid(self.decode(z))

    def call(self, x, training: bool = False):
        layers = self.infer(x)
        return self.decode(layers[0]["z"] if training else layers[0]["q_mean"])

    # -- bounds ---------------------------------------------------------------------------
    def kl_per_layer_units(self, layers):
        """Per-unit KL of each layer (one sample of the layers above), list of ``(batch, d_i)``."""
        return [gaussian_kl(l["q_mean"], l["q_log_var"], l["p_mean"], l["p_log_var"]) for l in layers]

    def log_weight(self, x, seed=None):
        """``log p(x, z_1..z_L) - log q(z_1..z_L | x)`` of one draw, ``(batch,)`` nats."""
        layers = self.infer(x, seed=seed)
        value = losses.bernoulli_log_likelihood(x, self.decode(layers[0]["z"]))
        for l in layers:
            value += tf.reduce_sum(gaussian_log_density(l["z"], l["p_mean"], l["p_log_var"])
                                   - gaussian_log_density(l["z"], l["q_mean"], l["q_log_var"]), axis=-1)
        return value

    def iwae_bound(self, x, k: int, seed: int = 0):
        """``log (1/k) sum_s w_s`` per image, ``(batch,)`` nats (k = 1: a one-sample ELBO)."""
        x = check_images(x)
        weights = tf.stack([self.log_weight(x, seed=seed * 100003 + s) for s in range(k)])
        return tf.reduce_logsumexp(weights, axis=0) - math.log(k)

    # -- training ---------------------------------------------------------------------------
    @property
    def metrics(self):
        return [*super().metrics, self.free_bits_kl_tracker]

    def _record(self, values):
        self.free_bits_kl_tracker.update_state(values["kl_floored"])
        return super()._record(values)

    def compute_losses(self, x, seed: int | None = None) -> dict[str, tf.Tensor]:
        """Batch means in nats: ``reconstruction``, ``kl`` (all layers), ``kl_floored``,
        ``loss = reconstruction + beta * kl_floored``, and ``kl_layer{i}`` per layer."""
        return self._elbo_losses(check_images(x), seed)

    def _elbo_losses(self, x, seed=None):
        layers = self.infer(x, seed=seed)
        reconstruction = -tf.reduce_mean(losses.bernoulli_log_likelihood(x, self.decode(layers[0]["z"])))
        units = self.kl_per_layer_units(layers)
        per_layer = [tf.reduce_mean(tf.reduce_sum(u, axis=-1)) for u in units]
        kl = tf.add_n(per_layer)
        floored = kl
        if self.free_bits:
            floored = tf.add_n([tf.reduce_sum(tf.maximum(tf.reduce_mean(u, axis=0), self.free_bits))
                                for u in units])
        values = {"loss": reconstruction + self.beta * floored, "reconstruction": reconstruction, "kl": kl,
                  "kl_floored": floored}
        values.update({f"kl_layer{i + 1}": v for i, v in enumerate(per_layer)})
        return values

    def _batch_losses(self, data):
        return self.compute_losses(_images_of(data))

    def get_config(self) -> dict:
        config = {"architecture": self.architecture, "latent_dims": list(self.latent_dims),
                  "filters": list(self.filters), "hidden": self.hidden, "seed": self.noise_seed}
        if self.free_bits:
            config["free_bits"] = self.free_bits
        return config
