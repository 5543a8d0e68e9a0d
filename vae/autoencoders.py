"""Plain (deterministic) autoencoders and PCA, the baselines a VAE grows out of.

Everything here works on grey images shaped ``(batch, 28, 28, 1)`` with values
in [0, 1] and measures reconstruction error as the mean squared error per
pixel, in squared grey levels (a number between 0 and 1):

* :class:`PCA` — principal component analysis (the SVD of the centred data,
  computed in NumPy): the best linear code of a given size in squared error.
* :class:`Autoencoder` — an encoder MLP down to a bottleneck and a decoder
  MLP back up, or (``linear=True``) one linear map each way.
* :func:`train_autoencoder` — a short, reproducible training run that
  returns the model and its test error.

Introduced in chapter 2.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from vae.checks import IMAGE_SHAPE, PIXELS, check_images, check_latents, check_positive_int
from vae.data import training_batches
from vae.training import fit_epochs


def _flat_images(images) -> np.ndarray:
    """Checked images ``(n, 28, 28, 1)`` -> float64 rows ``(n, 784)``."""
    return check_images(images).numpy().reshape(-1, PIXELS).astype(np.float64)


def mean_squared_error_per_pixel(images, reconstructions) -> float:
    """Mean over images and pixels of ``(image - reconstruction) ** 2``.

    Args:
        images: targets ``(n, 28, 28, 1)`` in [0, 1].
        reconstructions: same shape; any real values (PCA's may leave [0, 1]).

    Returns:
        the mean squared error per pixel, in squared grey levels, as a float.

    Introduced in chapter 2.
    """
    targets = _flat_images(images)
    outputs = np.asarray(reconstructions, dtype=np.float64).reshape(-1, PIXELS)
    if outputs.shape != targets.shape:
        raise ValueError(f"reconstructions of shape {np.shape(reconstructions)} do not match "
                         f"images of shape {np.shape(images)}")
    return float(np.mean(np.square(targets - outputs)))


@dataclasses.dataclass(frozen=True)
class PCA:
    """A fitted principal component analysis of 28x28 images.

    Attributes:
        mean: ``(784,)`` float64, the mean training image, flattened.
        components: ``(rank, 784)`` float64, orthonormal rows: the principal
            directions, in order of decreasing variance.
        singular_values: ``(rank,)`` singular values of the centred data
            matrix that go with the components.

    Introduced in chapter 2.
    """

    mean: np.ndarray
    components: np.ndarray
    singular_values: np.ndarray

    @classmethod
    def fit(cls, images, rank: int) -> "PCA":
        """Fit the top ``rank`` principal directions of ``images``.

        The directions are the right singular vectors of the centred data
        matrix (its SVD); for more than 784 images they are computed, faster,
        as the eigenvectors of the ``784 x 784`` scatter matrix
        ``centred.T @ centred``.

        Args:
            images: ``(n, 28, 28, 1)`` in [0, 1].
            rank: number of components kept, ``1 <= rank <= min(n, 784)``.

        Returns:
            a :class:`PCA`.

        Raises:
            ValueError: bad images or a rank out of range.

        Introduced in chapter 2.
        """
        rows = check_images(images).numpy().reshape(-1, PIXELS)  # float32: a fast scatter matrix
        rank = check_positive_int(rank, "rank")
        if rank > min(rows.shape):
            raise ValueError(f"rank must be <= min(n_images, 784) = {min(rows.shape)}, got {rank}")
        mean = rows.mean(axis=0, dtype=np.float64)
        centred = rows - mean.astype(np.float32)
        if len(centred) < PIXELS:  # few images: the SVD of the data itself is small
            _, singular_values, right_vectors = np.linalg.svd(centred.astype(np.float64),
                                                              full_matrices=False)
        else:
            # If centred = U S V^T (the SVD), then centred^T centred = V S^2 V^T:
            # the eigenvectors of the 784 x 784 scatter matrix are the right
            # singular vectors and its eigenvalues the squared singular values.
            # One small symmetric eigenproblem is much cheaper than the SVD of
            # an (n, 784) matrix with n in the thousands.
            eigenvalues, eigenvectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
            order = np.argsort(eigenvalues)[::-1]
            singular_values = np.sqrt(np.maximum(eigenvalues[order], 0.0))
            right_vectors = eigenvectors[:, order].T
        return cls(mean=mean, components=right_vectors[:rank], singular_values=singular_values[:rank])

    def truncated(self, rank: int) -> "PCA":
        """The same analysis keeping only the first ``rank`` components (they are nested).

        Introduced in chapter 2.
        """
        rank = check_positive_int(rank, "rank")
        if rank > self.rank:
            raise ValueError(f"rank must be <= {self.rank}, got {rank}")
        return PCA(self.mean, self.components[:rank], self.singular_values[:rank])

    @property
    def rank(self) -> int:
        """Number of components (the size of the code). Introduced in chapter 2."""
        return len(self.components)

    def encode(self, images) -> np.ndarray:
        """Codes ``(n, rank)``: the centred images' coordinates along the components.

        Introduced in chapter 2.
        """
        return (_flat_images(images) - self.mean) @ self.components.T

    def decode(self, codes) -> np.ndarray:
        """Images ``(n, 28, 28, 1)`` float32 from codes ``(n, rank)``; not clipped to [0, 1].

        Introduced in chapter 2.
        """
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape[1] != self.rank:
            raise ValueError(f"expected codes shaped (n, {self.rank}), got {codes.shape}")
        return (self.mean + codes @ self.components).astype(np.float32).reshape(-1, *IMAGE_SHAPE)

    def reconstruct(self, images) -> np.ndarray:
        """``decode(encode(images))``: the projection onto the components. Introduced in chapter 2."""
        return self.decode(self.encode(images))


class Autoencoder(keras.Model):
    """A deterministic autoencoder for 28x28 images: ``x -> z = encode(x) -> decode(z)``.

    Deep (default): 784 -> hidden[0] -> ... -> bottleneck (ReLU hidden
    layers, a linear code layer) and back through the hidden sizes reversed to
    784 sigmoid outputs, so reconstructions are grey levels in [0, 1].
    Linear (``linear=True``): one linear map 784 -> bottleneck and one
    bottleneck -> 784 (with biases, no activation at all), the model that PCA
    solves in closed form.

    Args:
        bottleneck: size of the code ``z``.
        hidden: units of the encoder's hidden layers (ignored when linear).
        linear: build the linear autoencoder.
        seed: seeds the initial weights.

    Introduced in chapter 2.
    """

    def __init__(self, bottleneck: int, hidden=(256,), linear: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.bottleneck = check_positive_int(bottleneck, "bottleneck")
        self.linear = bool(linear)
        self.hidden = () if self.linear else tuple(check_positive_int(h, "hidden") for h in hidden)
        self.seed = int(seed)
        self.encoder = self._build_encoder()
        self.decoder = self._build_decoder()
        self.built = True  # every weight exists already: the two halves are functional models

    def _dense(self, units: int, activation, name: str, index: int) -> keras.layers.Dense:
        init = keras.initializers.GlorotUniform(seed=self.seed * 1000 + index)
        return keras.layers.Dense(units, activation=activation, kernel_initializer=init, name=name)

    def _build_encoder(self) -> keras.Model:
        images = keras.Input(IMAGE_SHAPE, name="images")
        h = keras.layers.Flatten(name="flatten")(images)
        for i, units in enumerate(self.hidden):
            h = self._dense(units, "relu", f"dense{i + 1}", i)(h)
        code = self._dense(self.bottleneck, None, "code", 10)(h)
        return keras.Model(images, code, name="encoder")

    def _build_decoder(self) -> keras.Model:
        code = keras.Input((self.bottleneck,), name="code")
        h = code
        for i, units in enumerate(reversed(self.hidden)):
            h = self._dense(units, "relu", f"dense{i + 1}", 20 + i)(h)
        h = self._dense(PIXELS, None if self.linear else "sigmoid", "pixels", 30)(h)
        images = keras.layers.Reshape(IMAGE_SHAPE, name="to_image")(h)
        return keras.Model(code, images, name="decoder")

    def encode(self, x):
        """Codes ``(batch, bottleneck)`` for images ``(batch, 28, 28, 1)`` in [0, 1].

        Introduced in chapter 2.
        """
        return self.encoder(check_images(x))

    def decode(self, z):
        """Reconstructed images ``(batch, 28, 28, 1)`` for codes ``(batch, bottleneck)``.

        Grey levels in [0, 1] for the deep model; unbounded for the linear one.
        Introduced in chapter 2.
        """
        return self.decoder(check_latents(z, self.bottleneck))

    def call(self, x, training=None):
        """``decode(encode(x))``. Introduced in chapter 2."""
        return self.decode(self.encode(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "bottleneck": self.bottleneck, "hidden": list(self.hidden),
                "linear": self.linear, "seed": self.seed}


def train_autoencoder(bottleneck: int, train_images, test_images, *, linear: bool = False,
                      hidden=(256,), epochs: int = 5, batch_size: int = 128,
                      learning_rate: float = 1e-3, seed: int = 0):
    """Train an :class:`Autoencoder` with squared error (Adam) and measure it on test images.

    The batches come from :func:`vae.data.training_batches` (grey levels, not
    binarized), reshuffled each epoch from ``(seed, epoch)`` alone, so a run
    repeats exactly under ``vae.quiet`` (op determinism); the epochs run in
    the package's one loop, :func:`vae.training.fit_epochs`.

    Args:
        bottleneck: size of the code.
        train_images, test_images: ``(n, 28, 28, 1)`` grey levels in [0, 1].
        linear, hidden: passed to :class:`Autoencoder`.
        epochs: passes over ``train_images``.
        batch_size: images per step.
        learning_rate: Adam's step size.
        seed: seeds the weights and the shuffling.

    Returns:
        ``(model, test_error)``: the trained model and its mean squared error
        per pixel on ``test_images`` (see :func:`mean_squared_error_per_pixel`).

    Introduced in chapter 2.
    """
    test_images = check_images(test_images).numpy()
    epochs = check_positive_int(epochs, "epochs")
    model = Autoencoder(bottleneck, hidden=hidden, linear=linear, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    pixels = check_images(train_images, batch_axis="N", allow_empty=False)  # one tensor for every epoch
    fit_epochs(model, lambda epoch: training_batches(pixels, batch_size, epoch=epoch, seed=seed,
                                                     binarize=False).map(lambda x: (x, x)), epochs)
    # Called in chunks rather than through ``model.predict``: in TF 2.21 a
    # ``predict`` whose batch is larger than the data logs a C++ error line.
    reconstructions = np.concatenate([model(test_images[start:start + 1000]).numpy()
                                      for start in range(0, len(test_images), 1000)])
    return model, mean_squared_error_per_pixel(test_images, reconstructions)
