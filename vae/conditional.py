"""A conditional VAE: encoder and decoder both see the digit's label.

Sohn, Lee and Yan (2015) condition every distribution of a VAE on side
information ``y``: the encoder is q(z|x, y), the decoder p(x|z, y) and here
the prior stays p(z) = N(0, I). The code ``z`` is then free to hold what the
label does not say (slant, thickness, style), and ``decode(z, y)`` with a
chosen ``y`` draws a chosen digit.

The contract mirrors :mod:`vae.models`, with a label beside every image or code:

- ``encode(x, y) -> (mean, log_var)``, each ``(batch, latent_dim)``;
- ``reparameterize(mean, log_var, seed=None) -> z``;
- ``decode(z, y) -> logits`` shaped ``(batch, 28, 28, 1)`` (Bernoulli);
- ``sample(labels, seed=None) -> images`` in [0, 1], one per label;
- ``train_step``/``test_step`` so that ``model.fit`` on ``(x, y)`` batches
  reports ``loss``, ``reconstruction`` and ``kl`` in nats per image.

Labels are integer class numbers ``(batch,)`` in ``0 .. num_classes - 1`` or
one-hot rows ``(batch, num_classes)``; anything else is a ``ValueError``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vae import losses
from vae.checks import IMAGE_SHAPE, check_images, check_latents, check_positive_int
from vae.models import _LatentModel

EXPECTED_LABELS = "integer labels (batch,) in [0, {k}) or one-hot rows (batch, {k})"


def one_hot_labels(labels, num_classes: int = 10) -> tf.Tensor:
    """Check labels and return them one-hot, ``float32`` ``(batch, num_classes)``.

    Eager inputs are checked fully: integer labels must lie in
    ``[0, num_classes)``; one-hot input must be a float array of 0s and 1s
    with exactly one 1 per row. Inside a ``tf.function`` the dtype and shape
    are checked when tracing and the range by a graph assertion.

    Args:
        labels: ``(batch,)`` integers, or ``(batch, num_classes)`` one-hot floats.
        num_classes: number of classes (10 for digits).

    Returns:
        ``(batch, num_classes)`` float32 one-hot rows.

    Raises:
        ValueError: floats where integers belong, labels out of range, a
            wrong shape, or rows that are not one-hot.

    Introduced in chapter 7.
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    expected = EXPECTED_LABELS.format(k=num_classes)
    if isinstance(labels, tf.Tensor) and not hasattr(labels, "numpy"):  # symbolic, inside tf.function
        return _symbolic_one_hot(labels, num_classes, expected)
    array = np.asarray(labels)
    if array.ndim == 1 and (np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_)):
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"expected {expected}; got labels in [{array.min()}, {array.max()}]")
        return tf.one_hot(tf.convert_to_tensor(array, tf.int64), num_classes, dtype=tf.float32)
    if array.ndim == 2 and array.shape[1] == num_classes and np.issubdtype(array.dtype, np.floating):
        is_binary = np.all((array == 0.0) | (array == 1.0))
        if not (is_binary and np.all(array.sum(axis=1) == 1.0)):
            raise ValueError(f"expected {expected}; got rows that are not one-hot")
        return tf.convert_to_tensor(array, tf.float32)
    raise ValueError(f"expected {expected}; got dtype {array.dtype} and shape {array.shape}")


def _symbolic_one_hot(labels: tf.Tensor, num_classes: int, expected: str) -> tf.Tensor:
    rank = labels.shape.rank
    if labels.dtype.is_integer and rank == 1:
        tf.debugging.assert_non_negative(labels, message=f"expected {expected}; got a negative label")
        tf.debugging.assert_less(labels, tf.cast(num_classes, labels.dtype),
                                 message=f"expected {expected}; got a label >= {num_classes}")
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    if labels.dtype.is_floating and rank == 2 and labels.shape[1] == num_classes:
        return tf.cast(labels, tf.float32)
    raise ValueError(f"expected {expected}; got dtype {labels.dtype.name} and shape {tuple(labels.shape)}")


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
        h = keras.layers.Dense(784, name="logits")(h)
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
        """One image per label from the prior: ``sigmoid(decode(z, y))``, ``z ~ N(0, I)``.

        Args:
            labels: ``(n,)`` integer labels (or one-hot rows): which digit each
                image should be.
            seed: optional int for a repeatable draw.

        Returns:
            ``(n, 28, 28, 1)`` Bernoulli means (grey levels in [0, 1]).

        Introduced in chapter 7.
        """
        y = one_hot_labels(labels, self.num_classes)
        z = self._standard_normal(tf.stack([tf.shape(y)[0], self.latent_dim]), seed)
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
        ``kl = KL(q(z|x, y) || N(0, I))`` in closed form.

        Introduced in chapter 7.
        """
        mean, log_var = self.encode(x, y)
        z = self.reparameterize(mean, log_var, seed=seed)
        reconstruction = -tf.reduce_mean(losses.bernoulli_log_likelihood(check_images(x), self.decode(z, y)))
        kl = tf.reduce_mean(losses.kl_standard_normal(mean, log_var))
        return {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}

    def _batch_losses(self, data) -> dict[str, tf.Tensor]:
        return self.compute_losses(*_images_and_labels(data))

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


def labelled_batches(images, labels, batch_size: int, epoch: int = 0, seed: int = 0,
                     shuffle: bool = True, binarize: bool = True) -> tf.data.Dataset:
    """One epoch of ``(images, labels)`` batches, shuffled and binarized in-graph.

    Like :func:`vae.data.training_batches`, but the labels travel with their
    images. The order and the binarization are stateless draws keyed by
    ``(seed, epoch)``: the same pair gives the same batches, another epoch a
    new order and a fresh binarization.

    Args:
        images: ``(N, 28, 28, 1)`` grey levels in [0, 1].
        labels: ``(N,)`` integer labels.
        batch_size: images per batch.
        epoch, seed: ints >= 0 that key the randomness.
        shuffle: visit the images in a random order.
        binarize: replace each grey level by a Bernoulli draw (dynamic binarization).

    Returns:
        a ``tf.data.Dataset`` of ``(float32 (batch, 28, 28, 1), int64 (batch,))``.

    Introduced in chapter 7.
    """
    image_tensor = check_images(images)
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or not np.issubdtype(label_array.dtype, np.integer):
        raise ValueError(f"expected (N,) integer labels, got dtype {label_array.dtype} and shape {label_array.shape}")
    if len(label_array) != int(image_tensor.shape[0]):
        raise ValueError(f"{int(image_tensor.shape[0])} images but {len(label_array)} labels")
    label_tensor = tf.constant(label_array, tf.int64)
    batch_size = check_positive_int(batch_size, "batch_size")
    for name, value in (("epoch", epoch), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    key = tf.constant([int(seed), int(epoch)], tf.int64)
    order = tf.range(len(label_array), dtype=tf.int64)
    if shuffle:
        order = tf.random.experimental.stateless_shuffle(order, seed=key)

    def gather(batch_number, indices):
        x = tf.gather(image_tensor, indices)
        if binarize:
            batch_key = tf.random.experimental.stateless_fold_in(key, batch_number)
            x = tf.cast(tf.random.stateless_uniform(tf.shape(x), seed=batch_key) < x, tf.float32)
        return x, tf.gather(label_tensor, indices)

    return (tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
            .map(gather).prefetch(tf.data.AUTOTUNE))
