"""Keras's training and test steps for a model whose batch losses come as a dictionary.

The learned codec (:class:`vae.lossy.codec_model.LearnedCodec`) and the
VQ-VAE (:class:`vae.vq.model.VQVAE`) train the same way: one function of
a batch returns every term of the loss as batch means, ``"loss"`` is
minimized by one optimizer step, and running means of some of the terms
are what ``fit`` reports. :class:`TrackedSteps` is that once.

Not public (the models are); introduced in chapter 10.
"""

from __future__ import annotations

import tensorflow as tf


class TrackedSteps:
    """Mixin for a ``keras.Model``: ``train_step``, ``test_step``, ``metrics`` and ``fit`` from a loss dictionary.

    The model (``class Codec(TrackedSteps, keras.Model)``) provides:

    * ``trackers``: ``{name: keras.metrics.Mean}``, the metrics ``fit`` reports;
    * ``_batch_values(x, training) -> dict``: for images ``x`` ``(batch, 28, 28, 1)``
      the scalar ``"loss"`` (minimized) and a scalar for every tracker's name,
      as batch means (other entries, e.g. reconstructions, pass through);
    * optionally ``_after_train_step(values)``: run after each optimizer
      step with that step's dictionary (e.g. to move codebook statistics).

    Introduced in chapter 10.
    """

    def _after_train_step(self, values: dict) -> None:
        """Nothing by default; a model may update non-trainable state here."""

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _record(self, values: dict) -> dict:
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        """One optimizer step on ``values["loss"]`` of the batch (training mode); returns the running metrics."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            values = self._batch_values(x, training=True)
        gradients = tape.gradient(values["loss"], self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self._after_train_step(values)
        return self._record(values)

    def test_step(self, data):
        """The metrics of the batch in inference mode (e.g. rounded latents), as running means."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._record(self._batch_values(x, training=False))

    def fit(self, x=None, *args, shuffle=None, **kwargs):
        """Keras ``fit``; a ``tf.data.Dataset`` is taken as already shuffled (as :meth:`vae.models.VAE.fit`)."""
        if shuffle is None:
            shuffle = not isinstance(x, tf.data.Dataset)
        return super().fit(x, *args, shuffle=shuffle, **kwargs)
