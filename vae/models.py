"""Variational autoencoders for 28x28 images: a convolutional one, an MLP, and a conditional one.

Both share one contract (chapters, tests and the CLI rely on it):

- ``encode(x) -> (mean, log_var)``, each ``(batch, latent_dim)``, from two
  separate output heads;
- ``reparameterize(mean, log_var, seed=None) -> z``, ``(batch, latent_dim)``,
  valid for an unknown batch size inside ``tf.function``;
- ``decode(z) -> logits`` shaped ``(batch, 28, 28, 1)``: a factorized
  Bernoulli decoder, ``sigmoid(logits)`` is the probability a pixel is on;
- ``sample(n, seed=None) -> images`` in [0, 1], ``(n, 28, 28, 1)``;
- ``prior``: the prior p(z), a :class:`vae.priors.Prior` (the standard
  normal), which the ELBO, sampling and the bits-back codec all ask;
- ``train_step``/``test_step`` so that ``model.fit(train, validation_data=test)``
  reports ``loss`` (negative beta-ELBO), ``reconstruction`` (-E log p(x|z)) and
  ``kl``, all in nats per image.

:class:`ConditionalVAE` (chapter 7, also importable from
:mod:`vae.conditional`) keeps the same contract with a label beside every
image or code.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf

from vae import defaults, losses
from vae.checks import (IMAGE_SHAPE, PIXELS, check_images, check_latents, check_number, check_positive_int,
                        one_hot_labels)
from vae.priors import Prior
from vae.seeding import stateless_seed


class _LatentModel(keras.Model):
    """What every model of the package shares: a Gaussian code, a prior, a noise
    source, a KL weight β and the three training metrics.

    A subclass builds ``self.encoder`` and ``self.decoder`` (Keras functional
    models, so every weight exists as soon as the object does), may replace
    the prior (:meth:`build_prior`, the standard normal by default), says how
    a ``fit`` batch turns into losses (``_batch_losses``, through the
    subclass's ``compute_losses``, which checks the batch once and which a
    subclass may override), and gets the rest:
    :meth:`reparameterize`, ``train_step``/``test_step`` reporting ``loss``,
    ``reconstruction`` and ``kl``, and a ``fit`` that does not ask Keras to
    reshuffle a dataset. :class:`VAE` and :class:`vae.conditional.ConditionalVAE`
    are the two subclasses.

    Args:
        latent_dim: size of the code z.
        seed: seed of the model's own noise generator (used when no explicit
            seed is given to :meth:`reparameterize` or ``sample``).
        beta: initial weight of the KL term in the training loss; a
            schedule may change it during training (:mod:`vae.training`).
    """

    architecture = "base"

    def __init__(self, latent_dim: int, seed: int | None = None, beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        beta = check_number(beta, "beta")
        self.noise_seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.beta = keras.Variable(float(beta), trainable=False, name="beta", dtype="float32")
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()
        self.prior = self.build_prior()  # a plain object unless it has weights (see vae.priors)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True

    def build_encoder(self) -> keras.Model:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_decoder(self) -> keras.Model:  # pragma: no cover - abstract
        raise NotImplementedError

    def build_prior(self) -> Prior:
        """The prior p(z): the standard normal N(0, I) (no weights).

        A subclass returns another :class:`vae.priors.Prior`, e.g. a learned
        one that is also a Keras layer. Introduced in chapter 5.
        """
        return Prior(self.latent_dim)

    def reparameterize(self, mean, log_var, seed: int | None = None):
        """Draw ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``.

        The noise has the dynamic shape of ``mean`` (``tf.shape``), so it works
        for any batch size inside ``tf.function``. With ``seed`` the draw is
        stateless and repeatable (``tf.random.stateless_normal`` with the
        seed pair ``[seed, 0]``); without it the model's seed generator
        advances.

        Args:
            mean, log_var: ``(batch, latent_dim)``.
            seed: optional int.

        Returns:
            ``z``, ``(batch, latent_dim)``.

        Introduced in chapter 3.
        """
        mean = check_latents(mean, self.latent_dim)
        log_var = check_latents(log_var, self.latent_dim)
        eps = self._standard_normal(tf.shape(mean), seed)
        return mean + tf.exp(0.5 * log_var) * eps

    def fit(self, x=None, *args, shuffle=None, **kwargs):
        """Keras ``fit``; a ``tf.data.Dataset`` is taken as already shuffled.

        Keras warns when asked to shuffle a dataset it cannot shuffle; the
        package's pipelines (:func:`vae.data.training_batches`) shuffle
        themselves, so ``shuffle`` defaults to False for datasets and to True
        for arrays.
        """
        if shuffle is None:
            shuffle = not isinstance(x, tf.data.Dataset)
        return super().fit(x, *args, shuffle=shuffle, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def _record(self, values: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        self.loss_tracker.update_state(values["loss"])
        self.reconstruction_tracker.update_state(values["reconstruction"])
        self.kl_tracker.update_state(values["kl"])
        return {m.name: m.result() for m in self.metrics}

    def _batch_losses(self, data) -> dict[str, tf.Tensor]:  # pragma: no cover - abstract
        """``compute_losses`` of one batch as ``fit`` hands it over."""
        raise NotImplementedError

    def train_step(self, data):
        """One gradient step on a batch; returns the running means of the metrics.

        Under a ``tf.distribute`` strategy Keras runs this once per replica,
        each on its slice of the batch, and the optimizer *sums* the
        replicas' gradients. Dividing the loss by the number of replicas
        makes that sum the gradient of the whole batch's mean loss, the same
        step as on one device (outside a strategy the divisor is 1).
        """
        with tf.GradientTape() as tape:
            values = self._batch_losses(data)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            per_replica_loss = values["loss"] / tf.cast(replicas, values["loss"].dtype)
        gradients = tape.gradient(per_replica_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._record(values)

    def test_step(self, data):
        """Metrics on a validation batch, no update."""
        return self._record(self._batch_losses(data))

    # -- helpers ------------------------------------------------------------------------
    def _standard_normal(self, shape, seed):
        if seed is None:
            return keras.random.normal(shape, seed=self.seed_generator)
        return tf.random.stateless_normal(shape, seed=stateless_seed(seed, 0))



class VAE(_LatentModel):
    """Base class: a Gaussian encoder q(z|x), a Bernoulli decoder p(x|z), prior N(0, I).

    Subclasses build ``self.encoder`` (images -> ``[mean, log_var]``) and
    ``self.decoder`` (codes -> logits) as Keras functional models, so every
    weight exists as soon as the object does and weights load without a
    forward pass.

    Args:
        latent_dim: size of the code z.
        seed: seed of the model's own noise generator (used when no explicit
            seed is given to :meth:`reparameterize` or :meth:`sample`).
        beta: initial weight of the KL term in the training loss; a
            schedule may change it during training (:mod:`vae.training`).

        prior: ``"standard"`` (N(0, I), the default) or ``"vampprior"``
            (:class:`vae.vampprior.VampPrior`, a mixture of the encoder's
            posteriors at learned pseudo-inputs; chapter 11).
        pseudo_inputs: the VampPrior's number of components (ignored for
            the standard prior).

    Introduced in chapter 5.
    """

    def __init__(self, latent_dim: int, prior: str = "standard",
                 pseudo_inputs: int = defaults.VAMPPRIOR_PSEUDO_INPUTS, **kwargs):
        if prior not in defaults.PRIORS:
            raise ValueError(f"unknown prior {prior!r}; expected one of {list(defaults.PRIORS)}")
        self.prior_name = prior
        self.pseudo_inputs = check_positive_int(pseudo_inputs, "pseudo_inputs")
        super().__init__(latent_dim, **kwargs)

    def build_prior(self) -> Prior:
        """N(0, I), or a :class:`vae.vampprior.VampPrior` on this model's encoder when ``prior="vampprior"``."""
        if self.prior_name == "vampprior":
            from vae.vampprior import VampPrior

            def encode_pseudo_inputs(images):  # the encoder network itself: pseudo-inputs are valid images
                return self.encoder(images)

            return VampPrior(self.latent_dim, encode_pseudo_inputs, pseudo_inputs=self.pseudo_inputs,
                             seed=self.noise_seed)
        return super().build_prior()

    # -- architecture, provided by subclasses -------------------------------------------
    def _gaussian_heads(self, hidden):
        """Two separate dense heads on the same features: mean and log-variance."""
        mean = keras.layers.Dense(self.latent_dim, name="mean")(hidden)
        log_var = keras.layers.Dense(self.latent_dim, name="log_var")(hidden)
        return [mean, log_var]

    # -- the public contract ------------------------------------------------------------
    def encode(self, x):
        """Parameters of q(z|x): ``(mean, log_var)``, each ``(batch, latent_dim)``.

        Introduced in chapter 3.
        """
        mean, log_var = self.encoder(check_images(x))
        return _float32(mean), _float32(log_var)

    def decode(self, z):
        """Bernoulli logits ``(batch, 28, 28, 1)`` for codes ``z`` ``(batch, latent_dim)``.

        Introduced in chapter 3.
        """
        return _float32(self.decoder(check_latents(z, self.latent_dim)))

    def sample(self, n: int, seed: int | None = None):
        """Generate ``n`` images from the prior: ``sigmoid(decode(z))``, ``z ~ p(z)`` (:attr:`prior`).

        Returns the Bernoulli means (grey levels in [0, 1]), shape
        ``(n, 28, 28, 1)``, which is what one shows; draw binary pixels from
        them with ``tf.random.uniform(shape) < images`` if needed.

        Introduced in chapter 5.
        """
        n = check_positive_int(n, "n")
        z = self.prior.sample(n, self.seed_generator if seed is None else seed)
        return tf.sigmoid(self.decode(z))

    def reconstruct(self, x, sample: bool = False, seed: int | None = None):
        """Reconstructions ``sigmoid(decode(z))`` in [0, 1], ``(batch, 28, 28, 1)``.

        ``z`` is the posterior mean unless ``sample`` is true, in which case it
        is one draw from q(z|x).

        Introduced in chapter 5.
        """
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var, seed=seed) if sample else mean
        return tf.sigmoid(self.decode(z))

    def call(self, x, training: bool = False):
        """Reconstruction logits: from a sampled code when training, else from the mean."""
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var) if training else mean
        return self.decode(z)

    # -- training -----------------------------------------------------------------------
    def compute_losses(self, x, seed: int | None = None) -> dict[str, tf.Tensor]:
        """Batch means, in nats per image, of the three quantities ``fit`` reports.

        ``reconstruction = -E_q log p(x|z)`` (one sample), ``kl = KL(q(z|x) || p(z))``
        (closed form) and ``loss = reconstruction + beta * kl``.

        Introduced in chapter 5.
        """
        return self._elbo_losses(check_images(x), seed)

    def _elbo_losses(self, x: tf.Tensor, seed=None) -> dict[str, tf.Tensor]:
        """:meth:`compute_losses` of trusted float32 images (checked where they entered)."""
        mean, log_var = (_float32(part) for part in self.encoder(x))
        z = self.reparameterize(mean, log_var, seed=seed)
        reconstruction = -tf.reduce_mean(losses.bernoulli_log_likelihood(x, self.decode(z)))
        kl = tf.reduce_mean(self.prior.kl(mean, log_var, z))
        return {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}

    def _batch_losses(self, data) -> dict[str, tf.Tensor]:
        # Through compute_losses, the override point (book/errata's squared-error model replaces it);
        # it checks the batch, once.
        return self.compute_losses(_images_of(data))

    def get_config(self) -> dict:
        """The constructor arguments, plus ``architecture``, as plain JSON types."""
        config = {"architecture": self.architecture, "latent_dim": self.latent_dim, "seed": self.noise_seed}
        if self.prior_name != "standard":  # the shipped models' manifests keep their layout
            config.update(prior=self.prior_name, pseudo_inputs=self.pseudo_inputs)
        return config


def _float32(tensor):
    """Network outputs in float32, also under a mixed-precision policy (a no-op otherwise).

    With ``keras.mixed_precision.set_global_policy("mixed_bfloat16")`` the
    layers compute in bfloat16; the noise, the log-densities and their sums
    over 784 pixels stay in float32.
    """
    return tf.cast(tensor, tf.float32)


def _images_of(data):
    """``fit`` may hand ``x``, ``(x,)`` or ``(x, y)``; the VAE uses only ``x`` (checked by compute_losses)."""
    if isinstance(data, (tuple, list)):
        data = data[0]
    return data


class ConvVAE(VAE):
    """Convolutional VAE: two stride-2 convolutions down, transposed convolutions up.

    Encoder: 28x28x1 -> conv(f1, stride 2) -> 14x14 -> conv(f2, stride 2) -> 7x7
    -> dense(hidden) -> mean, log_var heads. Decoder: dense(hidden) -> dense(7*7*f2)
    -> 7x7 -> transposed conv(f2, stride 2) -> 14x14 -> transposed conv(f1,
    stride 2) -> 28x28 -> transposed conv(1) -> logits.

    Args:
        latent_dim: size of z.
        filters: channels of the two convolution stages.
        hidden: units of the dense layer on each side.
        seed, beta: see :class:`VAE`.

    Introduced in chapter 5.
    """

    architecture = "conv"

    def __init__(self, latent_dim: int = defaults.TRAINING["latent_dim"], filters=defaults.CONV_OPTIONS["filters"],
                 hidden: int = defaults.CONV_OPTIONS["hidden"], **kwargs):
        self.filters, self.hidden = _conv_sizes(filters, hidden)
        super().__init__(latent_dim, **kwargs)

    def build_encoder(self) -> keras.Model:
        images = keras.Input(IMAGE_SHAPE, name="images")
        h = _conv_features(images, self.filters)
        h = keras.layers.Dense(self.hidden, activation="relu", name="dense")(h)
        return keras.Model(images, self._gaussian_heads(h), name="encoder")

    def build_decoder(self) -> keras.Model:
        return _conv_decoder(self.latent_dim, self.filters, self.hidden)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": list(self.filters), "hidden": self.hidden}


def _conv_sizes(filters, hidden) -> tuple[tuple[int, int], int]:
    """The conv models' checked sizes: ``(filters, hidden)``, two channel counts and one width."""
    filters = tuple(check_positive_int(f, "filters") for f in filters)
    if len(filters) != 2:
        raise ValueError(f"filters must hold two channel counts, got {filters!r}")
    return filters, check_positive_int(hidden, "hidden")


class _FreeBits:
    """What a model whose training loss may floor the KL with free bits shares (a mixin, listed
    before the Keras model class): ``free_bits`` (λ, nats, >= 0; :func:`vae.losses._free_bits_kl`)
    and a ``kl_floored`` metric beside ``loss``, ``reconstruction`` and ``kl``.
    :class:`vae.pixelcnn.PixelCNNVAE` and :class:`vae.ladder.LadderVAE` call
    :meth:`_track_free_bits` once their base constructor has run."""

    def _track_free_bits(self, free_bits: float) -> None:
        self.free_bits = float(check_number(free_bits, "free_bits", minimum=0.0))
        self.free_bits_kl_tracker = keras.metrics.Mean(name="kl_floored")

    @property
    def metrics(self):
        return [*super().metrics, self.free_bits_kl_tracker]

    def _record(self, values):
        self.free_bits_kl_tracker.update_state(values["kl_floored"])
        return super()._record(values)


def _conv_features(images, filters) -> tf.Tensor:
    """The conv encoders' trunk: stride-2 3x3 ReLU convolutions ``conv1``, ``conv2``, ... then ``flatten``.

    ``images`` is a Keras input ``(batch, 28, 28, 1)``; with two stages the
    result is ``(batch, 7 * 7 * filters[-1])``. The layer names are those
    the shipped conv checkpoints' weights files hold. Shared by
    :class:`ConvVAE` and :class:`vae.ladder.LadderVAE`'s bottom-up path.
    """
    h = images
    for i, channels in enumerate(filters):
        h = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu",
                                name=f"conv{i + 1}")(h)
    return keras.layers.Flatten(name="flatten")(h)


def _conv_decoder(latent_dim: int, filters, hidden: int) -> keras.Model:
    """:class:`ConvVAE`'s decoder: codes ``(batch, latent_dim)`` -> pixel logits ``(batch, 28, 28, 1)``.

    dense(hidden) -> dense(7*7*f2) -> 7x7 map -> transposed convs to 14x14
    (f2), 28x28 (f1) and one channel. Also :class:`vae.ladder.LadderVAE`'s
    decoder from its bottom code z_1.
    """
    f1, f2 = filters
    z = keras.Input((latent_dim,), name="z")
    h = keras.layers.Dense(hidden, activation="relu", name="dense")(z)
    h = keras.layers.Dense(7 * 7 * f2, activation="relu", name="project")(h)
    h = keras.layers.Reshape((7, 7, f2), name="to_feature_map")(h)
    h = keras.layers.Conv2DTranspose(f2, 3, strides=2, padding="same", activation="relu", name="up1")(h)
    h = keras.layers.Conv2DTranspose(f1, 3, strides=2, padding="same", activation="relu", name="up2")(h)
    logits = keras.layers.Conv2DTranspose(1, 3, padding="same", name="logits")(h)
    return keras.Model(z, logits, name="decoder")


class MLPVAE(VAE):
    """Fully connected VAE: 784 -> hidden... -> z -> reversed hidden... -> 784.

    ``MLPVAE(latent_dim=50, hidden=(200, 200), activation="tanh")`` is the
    one-stochastic-layer model of Burda, Grosse and Salakhutdinov (2016).

    Args:
        latent_dim: size of z.
        hidden: units of the encoder's hidden layers (the decoder mirrors them).
        activation: Keras activation name of the hidden layers.
        seed, beta: see :class:`VAE`.

    Introduced in chapter 5.
    """

    architecture = "mlp"

    def __init__(self, latent_dim: int = defaults.MLP_LATENT_DIM, hidden=defaults.MLP_OPTIONS["hidden"],
                 activation: str = defaults.MLP_OPTIONS["activation"], **kwargs):
        self.hidden = tuple(check_positive_int(h, "hidden") for h in hidden)
        if not self.hidden:
            raise ValueError("hidden must name at least one layer size")
        self.activation = str(activation)
        keras.activations.get(self.activation)  # fails early on an unknown name
        super().__init__(latent_dim, **kwargs)

    def build_encoder(self) -> keras.Model:
        images = keras.Input(IMAGE_SHAPE, name="images")
        h = keras.layers.Flatten(name="flatten")(images)
        for i, units in enumerate(self.hidden):
            h = keras.layers.Dense(units, activation=self.activation, name=f"dense{i + 1}")(h)
        return keras.Model(images, self._gaussian_heads(h), name="encoder")

    def build_decoder(self) -> keras.Model:
        z = keras.Input((self.latent_dim,), name="z")
        h = z
        for i, units in enumerate(reversed(self.hidden)):
            h = keras.layers.Dense(units, activation=self.activation, name=f"dense{i + 1}")(h)
        h = keras.layers.Dense(PIXELS, name="logits")(h)
        logits = keras.layers.Reshape(IMAGE_SHAPE, name="to_image")(h)
        return keras.Model(z, logits, name="decoder")

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden": list(self.hidden), "activation": self.activation}


# -- the conditional VAE of chapter 7 (vae.conditional) ---------------------------------
def _same_batch(first: tf.Tensor, second: tf.Tensor, what: str) -> None:
    """Eager tensors only: a clear error when a batch of labels does not match."""
    if hasattr(first, "numpy") and hasattr(second, "numpy") and first.shape[0] != second.shape[0]:
        raise ValueError(f"{what}: {first.shape[0]} rows but {second.shape[0]} labels")


class ConditionalVAE(_LatentModel):
    """An MLP conditional VAE: q(z|x, y), p(x|z, y) Bernoulli, prior N(0, I).

    Encoder: ``[flatten(x), one_hot(y)] -> dense(hidden[0]) -> ... -> mean, log_var``.
    Decoder: ``[z, one_hot(y)] -> dense(hidden[-1]) -> ... -> dense(784) -> logits``.
    The label enters both networks by concatenation, as in Sohn et al. (2015).

    Args:
        latent_dim: size of z.
        num_classes: number of labels (10 digits).
        hidden: units of the encoder's hidden layers; the decoder mirrors them.
        activation: Keras activation of the hidden layers.
        seed: seed of the model's own noise generator.
        beta: weight of the KL term in the training loss (1 gives the ELBO).

    Introduced in chapter 7.
    """

    architecture = "conditional-mlp"

    def __init__(self, latent_dim: int = 8, num_classes: int = 10, hidden=(512, 256),
                 activation: str = "relu", seed: int | None = None, beta: float = 1.0, **kwargs):
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.hidden = tuple(check_positive_int(h, "hidden") for h in hidden)
        if not self.hidden:
            raise ValueError("hidden must name at least one layer size")
        self.activation = str(activation)
        keras.activations.get(self.activation)
        super().__init__(latent_dim, seed=seed, beta=beta, **kwargs)

    def build_encoder(self) -> keras.Model:
        images = keras.Input(IMAGE_SHAPE, name="images")
        labels = keras.Input((self.num_classes,), name="one_hot_labels")
        h = keras.layers.Concatenate(name="image_and_label")([keras.layers.Flatten(name="flatten")(images), labels])
        for i, units in enumerate(self.hidden):
            h = keras.layers.Dense(units, activation=self.activation, name=f"dense{i + 1}")(h)
        mean = keras.layers.Dense(self.latent_dim, name="mean")(h)
        log_var = keras.layers.Dense(self.latent_dim, name="log_var")(h)
        return keras.Model([images, labels], [mean, log_var], name="conditional_encoder")

    def build_decoder(self) -> keras.Model:
        z = keras.Input((self.latent_dim,), name="z")
        labels = keras.Input((self.num_classes,), name="one_hot_labels")
        h = keras.layers.Concatenate(name="code_and_label")([z, labels])
        for i, units in enumerate(reversed(self.hidden)):
            h = keras.layers.Dense(units, activation=self.activation, name=f"dense{i + 1}")(h)
        h = keras.layers.Dense(PIXELS, name="logits")(h)
        logits = keras.layers.Reshape(IMAGE_SHAPE, name="to_image")(h)
        return keras.Model([z, labels], logits, name="conditional_decoder")

    # -- the public contract ------------------------------------------------------------
    def encode(self, x, y):
        """Parameters of q(z|x, y): ``(mean, log_var)``, each ``(batch, latent_dim)``.

        Args:
            x: images ``(batch, 28, 28, 1)`` in [0, 1].
            y: labels, ``(batch,)`` integers or ``(batch, num_classes)`` one-hot.

        Introduced in chapter 7.
        """
        x = check_images(x)
        y = one_hot_labels(y, self.num_classes)
        _same_batch(x, y, "encode")
        mean, log_var = self.encoder([x, y])
        return mean, log_var

    def decode(self, z, y):
        """Bernoulli logits ``(batch, 28, 28, 1)`` for codes ``z`` and labels ``y``.

        Args:
            z: ``(batch, latent_dim)`` codes.
            y: ``(batch,)`` integer labels or ``(batch, num_classes)`` one-hot.

        Introduced in chapter 7.
        """
        z = check_latents(z, self.latent_dim)
        y = one_hot_labels(y, self.num_classes)
        _same_batch(z, y, "decode")
        return self.decoder([z, y])

    def sample(self, labels, seed: int | None = None):
        """One image per label from the prior: ``sigmoid(decode(z, y))``, ``z ~ p(z)`` (``self.prior``).

        Args:
            labels: ``(n,)`` integer labels (or one-hot rows): which digit each
                image should be.
            seed: optional int for a repeatable draw.

        Returns:
            ``(n, 28, 28, 1)`` Bernoulli means (grey levels in [0, 1]).

        Introduced in chapter 7.
        """
        y = one_hot_labels(labels, self.num_classes)
        z = self.prior.sample(tf.shape(y)[0], self.seed_generator if seed is None else seed)
        return tf.sigmoid(self.decode(z, y))

    def call(self, inputs, training: bool = False):
        """Reconstruction logits for ``(x, y)``: from a sampled code when training, else the mean."""
        x, y = inputs
        mean, log_var = self.encode(x, y)
        z = self.reparameterize(mean, log_var) if training else mean
        return self.decode(z, y)

    # -- training -----------------------------------------------------------------------
    def compute_losses(self, x, y, seed: int | None = None) -> dict[str, tf.Tensor]:
        """Batch means in nats per image: ``loss = reconstruction + beta * kl``.

        ``reconstruction = -log p(x|z, y)`` at one ``z ~ q(z|x, y)``;
        ``kl = KL(q(z|x, y) || p(z))`` from the prior (closed form for N(0, I)).

        Introduced in chapter 7.
        """
        x = check_images(x)
        y = one_hot_labels(y, self.num_classes)
        _same_batch(x, y, "compute_losses")
        return self._elbo_losses(x, y, seed)

    def _elbo_losses(self, x: tf.Tensor, y: tf.Tensor, seed=None) -> dict[str, tf.Tensor]:
        """:meth:`compute_losses` of trusted float32 images and one-hot labels."""
        mean, log_var = self.encoder([x, y])
        z = self.reparameterize(mean, log_var, seed=seed)
        reconstruction = -tf.reduce_mean(losses.bernoulli_log_likelihood(x, self.decoder([z, y])))
        kl = tf.reduce_mean(self.prior.kl(mean, log_var, z))
        return {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}

    def _batch_losses(self, data) -> dict[str, tf.Tensor]:
        return self.compute_losses(*_images_and_labels(data))  # the override point; it checks the batch once

    def get_config(self) -> dict:
        """The constructor arguments as plain JSON types."""
        return {"architecture": self.architecture, "latent_dim": self.latent_dim,
                "num_classes": self.num_classes, "hidden": list(self.hidden),
                "activation": self.activation, "seed": self.noise_seed}


def _images_and_labels(data):
    """``fit`` hands ``(x, y)`` (or ``((x, y),)``); a conditional model needs both."""
    if isinstance(data, (tuple, list)) and len(data) == 1:
        data = data[0]
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError("a conditional VAE trains on (images, labels) pairs")
    return data[0], data[1]


class _Architectures(Mapping):
    """Architecture name -> model class. :class:`vae.ladder.LadderVAE` builds on this
    module's classes, so its module is imported only when ``"ladder"`` is looked up."""

    def __init__(self, *classes):
        self._classes = {model.architecture: model for model in classes}

    def __getitem__(self, name):
        if name == "ladder":
            from vae.ladder import LadderVAE

            return LadderVAE
        return self._classes[name]

    def __iter__(self):
        return iter((*self._classes, "ladder"))

    def __len__(self):
        return len(self._classes) + 1


ARCHITECTURES = _Architectures(ConvVAE, MLPVAE)
"""The unconditional models by architecture name (conv, mlp, ladder); the names are
:data:`vae.defaults.ARCHITECTURES`."""


def build_model(config: dict) -> VAE:
    """Build a model from ``get_config()`` output, e.g. a checkpoint manifest's ``model``.

    Args:
        config: ``{"architecture": "conv" | "mlp" | "ladder", "latent_dim": ..., ...}``
            (a ladder has ``latent_dims`` instead, :class:`vae.ladder.LadderVAE`); a
            conv model with ``"decoder": "pixelcnn"`` is a
            :class:`vae.pixelcnn.PixelCNNVAE` (chapter 11).

    Introduced in chapter 5.
    """
    config = dict(config)
    name = config.pop("architecture", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; expected one of {sorted(ARCHITECTURES)}")
    model_class = ARCHITECTURES[name]
    decoder = config.pop("decoder", defaults.DECODERS[0])
    if decoder not in defaults.DECODERS or (decoder != defaults.DECODERS[0] and name != "conv"):
        raise ValueError(f"unknown decoder {decoder!r} for the {name} architecture")
    if decoder == "pixelcnn":  # chapter 11's autoregressive decoder (vae.pixelcnn imports this module)
        from vae.pixelcnn import PixelCNNVAE as model_class
    try:
        return model_class(**config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad configuration for the {name} architecture: {error}") from None
