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

Evaluation, the CLI (``python -m vae train --architecture ladder
--latent-dims 32,16``) and checkpoints treat it like the one-layer models:
:func:`vae.losses.elbo_terms` and :func:`vae.losses.iwae_bound` ask the
model for its own terms and importance weights (:meth:`LadderVAE.elbo_terms`,
:meth:`LadderVAE.log_weights`), and the active units are z_1's
(:meth:`LadderVAE.encode`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from vae import defaults, losses
from vae.checks import IMAGE_SHAPE, check_images, check_positive_int
from vae.models import _conv_decoder, _conv_features, _conv_sizes, _float32, _FreeBits, _images_of, _LatentModel
from vae.seeding import stateless_seed


def precision_weighted(mean_a, log_var_a, mean_b, log_var_b):
    """The Gaussian proportional to the product of two: ``(mean, log_var)``.

    Introduced in chapter 11.
    """
    precision_a, precision_b = tf.exp(-log_var_a), tf.exp(-log_var_b)
    var = 1.0 / (precision_a + precision_b)
    return var * (mean_a * precision_a + mean_b * precision_b), tf.math.log(var)


class LadderVAE(_FreeBits, _LatentModel):
    """Ladder VAE with ``len(latent_dims)`` stochastic layers (bottom first).

    Args:
        latent_dims: units of z_1 ... z_L, bottom first (default
            :data:`vae.defaults.LADDER_LATENT_DIMS`, ``(32, 16)``).
        filters, hidden: conv encoder/decoder sizes as in
            :class:`vae.models.ConvVAE` (two channel counts, one width);
            layer i > 1 uses dense layers of ``max(hidden // 2**(i-1), 32)``
            units.
        free_bits: ``λ`` in nats; the training loss floors each unit's KL,
            averaged over the batch, at ``λ`` (Kingma et al., 2016), in
            every layer. The reported ``kl`` is the true (one-sample) KL.
        latent_dim: optional, and then equal to ``latent_dims[0]`` (the
            size of z_1, which is the model's ``latent_dim``; a training
            config records it).
        seed, beta: see :class:`vae.models.VAE`.

    Attributes:
        top_down: the generative conditionals, a list of ``L - 1`` Keras
            models; ``top_down[i]`` maps z_{i+2} ``(batch, latent_dims[i+1])``
            to the ``(mean, log_var)`` of p(z_{i+1} | z_{i+2}), each
            ``(batch, latent_dims[i])`` (chapter 11 redraws z_1 with it).

    Introduced in chapter 11.
    """

    architecture = "ladder"

    def __init__(self, latent_dims=defaults.LADDER_LATENT_DIMS, filters=defaults.CONV_OPTIONS["filters"],
                 hidden: int = defaults.CONV_OPTIONS["hidden"], free_bits: float = 0.0,
                 latent_dim: int | None = None, **kwargs):
        self.latent_dims = tuple(check_positive_int(d, "latent_dims") for d in latent_dims)
        if not self.latent_dims:
            raise ValueError("latent_dims needs at least one layer")
        if latent_dim is not None and latent_dim != self.latent_dims[0]:
            raise ValueError(f"latent_dim {latent_dim} differs from the size of z_1, latent_dims[0] = "
                             f"{self.latent_dims[0]}")
        self.filters, self.hidden = _conv_sizes(filters, hidden)
        super().__init__(self.latent_dims[0], **kwargs)
        self._track_free_bits(free_bits)

    @property
    def layers_count(self) -> int:
        return len(self.latent_dims)

    def _width(self, i: int) -> int:
        return self.hidden if i == 0 else max(self.hidden // 2 ** i, 32)

    def build_encoder(self) -> keras.Model:
        """Bottom-up path: images -> ``[mean_1, log_var_1, ..., mean_L, log_var_L]``."""
        images = keras.Input(IMAGE_SHAPE, name="images")
        h = _conv_features(images, self.filters)
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
        return _conv_decoder(self.latent_dims[0], self.filters, self.hidden)

    def build_prior(self):
        return None  # p(z_L) = N(0, I); the conditionals are self.top_down

    # -- inference and generation --------------------------------------------------------
    def infer(self, x, seed=None):
        """One top-down pass. Returns a list, bottom first, of dicts with
        ``z``, ``q_mean``, ``q_log_var``, ``p_mean``, ``p_log_var`` (each
        ``(batch, latent_dims[i])``). ``seed``: an int, a scalar integer
        tensor or a stateless key (:func:`vae.seeding.stateless_seed`); layer
        i draws with the key derived from it and ``i + 1``."""
        return self._top_down(self._bottom_up(x), seed)

    def _bottom_up(self, x):
        return [_float32(t) for t in self.encoder(x)]

    def _top_down(self, bottom_up, seed, sample: bool = True):
        """:meth:`infer` from the encoder's outputs; ``sample=False`` sets every z to its posterior mean."""
        layers = [None] * self.layers_count
        z_above = None
        for i in reversed(range(self.layers_count)):
            q_mean, q_log_var, p_mean, p_log_var = self._conditionals(bottom_up, i, z_above)
            z = self._draw(q_mean, q_log_var, self._layer_seed(seed, i)) if sample else q_mean
            layers[i] = {"z": z, "q_mean": q_mean, "q_log_var": q_log_var, "p_mean": p_mean,
                         "p_log_var": p_log_var}
            z_above = z
        return layers

    def _conditionals(self, bottom_up, i: int, z_above):
        """Layer ``i``'s ``(q_mean, q_log_var, p_mean, p_log_var)`` given the code above it.

        ``q`` is q(z_i | z_{i+1}, x) and ``p`` is p(z_i | z_{i+1}); for the
        top layer (``i == L - 1``) they are q(z_L | x), the top bottom-up
        Gaussian, and N(0, I), and ``z_above`` is ignored.

        Args:
            bottom_up: the encoder's outputs for the batch (``_bottom_up``),
                ``[mean_1, log_var_1, ..., mean_L, log_var_L]``, each
                ``(batch, latent_dims[j])`` float32.
            i: the layer, 0 for z_1 (bottom first).
            z_above: z_{i+1}, ``(batch, latent_dims[i + 1])`` float32, any
                value (a draw, a posterior mean, or the bits-back codec's
                grid values of :mod:`vae.compression._hierarchical`).

        Returns:
            four float32 tensors ``(batch, latent_dims[i])``.
        """
        mean_hat, log_var_hat = bottom_up[2 * i], bottom_up[2 * i + 1]
        if i == self.layers_count - 1:
            return mean_hat, log_var_hat, tf.zeros_like(mean_hat), tf.zeros_like(log_var_hat)
        p_mean, p_log_var = self._conditional_prior(i, z_above)
        q_mean, q_log_var = precision_weighted(mean_hat, log_var_hat, p_mean, p_log_var)
        return q_mean, q_log_var, p_mean, p_log_var

    def _conditional_prior(self, i: int, z_above):
        """``(mean, log_var)`` of p(z_i | z_{i+1}) for a layer below the top (``i < L - 1``), each
        ``(batch, latent_dims[i])`` float32, from z_{i+1} ``(batch, latent_dims[i + 1])``."""
        return tuple(_float32(t) for t in self.top_down[i](z_above))

    @staticmethod
    def _layer_seed(seed, i: int):
        return None if seed is None else stateless_seed(seed, i + 1)

    def _draw(self, mean, log_var, seed):
        """``mean + exp(log_var / 2) * eps``, any layer's width."""
        return mean + tf.exp(0.5 * log_var) * self._standard_normal(tf.shape(mean), seed)

    def encode(self, x):
        """``(mean, log_var)`` of q(z_1 | x) when every layer above sits at its posterior mean,
        each ``(batch, latent_dims[0])``: what :func:`vae.evaluation.active_units` counts."""
        layers = self._top_down(self._bottom_up(check_images(x)), None, sample=False)
        return layers[0]["q_mean"], layers[0]["q_log_var"]

    def decode(self, z1):
        """Pixel logits from the bottom code z_1: ``(batch, 28, 28, 1)``."""
        return _float32(self.decoder(z1))

    def sample(self, n: int, seed: int | None = None):
        """``n`` Bernoulli means ``(n, 28, 28, 1)``: ancestral sampling from z_L down."""
        n = check_positive_int(n, "n")
        z = self._standard_normal((n, self.latent_dims[-1]), self._layer_seed(seed, self.layers_count - 1))
        for i in reversed(range(self.layers_count - 1)):
            mean, log_var = (_float32(t) for t in self.top_down[i](z))
            z = self._draw(mean, log_var, self._layer_seed(seed, i))
        return tf.sigmoid(self.decode(z))

    def call(self, x, training: bool = False):
        if training:
            return self.decode(self.infer(x)[0]["z"])
        return self.decode(self.encode(x)[0])

    # -- bounds ---------------------------------------------------------------------------
    def kl_per_layer_units(self, layers):
        """Per-unit KL of each layer (one sample of the layers above), list of ``(batch, d_i)``."""
        return [losses._kl_normal_units(l["q_mean"], l["q_log_var"], l["p_mean"], l["p_log_var"])
                for l in layers]

    def log_weights(self, x, num_samples: int, seed=None):
        """``log p(x, z_1..z_L) - log q(z_1..z_L | x)`` of ``num_samples`` draws per image,
        ``(num_samples, batch)`` nats. The bottom-up pass runs once; the draws go down
        together, ``num_samples * batch`` codes decoded at once (sample-major, as
        :func:`vae.losses.iwae_bound` tiles its codes). ``seed``: as for :meth:`infer`."""
        tiled = [tf.tile(t, [num_samples, 1]) for t in self._bottom_up(x)]
        layers = self._top_down(tiled, seed)
        value = losses.bernoulli_log_likelihood(tf.tile(x, [num_samples, 1, 1, 1]), self.decode(layers[0]["z"]))
        for l in layers:
            value += (losses.log_normal_density(l["z"], l["p_mean"], l["p_log_var"])
                      - losses.log_normal_density(l["z"], l["q_mean"], l["q_log_var"]))
        return tf.reshape(value, [num_samples, -1])

    def log_weight(self, x, seed=None):
        """One draw of :meth:`log_weights`: ``(batch,)`` nats."""
        return self.log_weights(check_images(x), 1, seed)[0]

    def elbo_terms(self, x, seed=None) -> dict[str, tf.Tensor]:
        """``{"log_likelihood": log p(x|z_1), "kl": sum of the layers' KLs}``, each ``(batch,)`` nats,
        at one top-down draw; the ELBO is their difference (:func:`vae.losses.elbo_terms`)."""
        layers = self.infer(x, seed=seed)
        kl = tf.add_n([tf.reduce_sum(u, axis=-1) for u in self.kl_per_layer_units(layers)])
        return {"log_likelihood": losses.bernoulli_log_likelihood(x, self.decode(layers[0]["z"])), "kl": kl}

    def iwae_bound(self, x, k: int, seed: int = 0):
        """``log (1/k) sum_s w_s`` per image, ``(batch,)`` nats (k = 1: a one-sample ELBO):
        :func:`vae.losses.iwae_bound` with this model's :meth:`log_weights`."""
        return losses.iwae_bound(self, x, k, seed=seed)

    # -- training ---------------------------------------------------------------------------
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
            floored = tf.add_n([losses._free_bits_kl(u, self.free_bits) for u in units])
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
