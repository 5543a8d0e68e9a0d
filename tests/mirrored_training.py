"""Trains tiny models on one device and under MirroredStrategy; prints the comparison as JSON.

Run by tests/test_distribution.py in a fresh process, because the two logical
CPU devices must be configured before TensorFlow's runtime starts (the test
process has started it long before).
"""

import json
import sys
import tempfile

import vae  # noqa: F401  (imports TensorFlow quietly; does not start the runtime)
import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vae import data, training  # noqa: E402
from vae.models import MLPVAE  # noqa: E402


class NoiseFree(MLPVAE):
    """z = mean: with the noise gone, a training step is a deterministic function of the batch."""

    def _standard_normal(self, shape, seed):
        return tf.zeros(shape)


class Unscaled(NoiseFree):
    """The classic mistake: each replica's mean loss unscaled, so the summed gradient is doubled."""

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            values = self._batch_losses(batch)
        gradients = tape.gradient(values["loss"], self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return self._record(values)


def sgd_run(model_class, strategy, images):
    """Weights after 2 epochs of plain SGD (whose step, unlike Adam's, scales with the gradient)."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = model_class(latent_dim=4, hidden=(32,))
        model.compile(optimizer=keras.optimizers.SGD(1e-4))
    initial = [w.numpy() for w in model.trainable_weights]
    model.fit(data.evaluation_batches(images, batch_size=64), epochs=2, verbose=0)
    return initial, [w.numpy() for w in model.trainable_weights]


def relative_difference(one_device, mirrored, initial):
    """max |mirrored - one device| over max |one device - initial|: 0 is identical, 1 is a whole update off."""
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(one_device, mirrored))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one_device, initial))
    return difference / moved


def main():
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()
    images, _ = data.binarized_test_set(limit=640)
    initial, one_device = sgd_run(NoiseFree, single, images)
    _, on_two = sgd_run(NoiseFree, mirrored, images)
    _, unscaled = sgd_run(Unscaled, mirrored, images)

    train_images, _ = data.load_mnist("train")
    config = training.TrainConfig(architecture="mlp", latent_dim=4, model_options={"hidden": [32]},
                                  epochs=2, batch_size=64)
    results = {}
    for name, strategy in (("one_device", None), ("mirrored", mirrored)):
        with tempfile.TemporaryDirectory() as run_dir:
            _, manifest = training.train(config, run_dir, train_images[:1280], images, strategy=strategy)
        results[name] = {"val_loss": manifest["metrics"]["val_loss"], "distribution": manifest["distribution"]}
    json.dump({"replicas": mirrored.num_replicas_in_sync,
               "sgd_relative_difference": relative_difference(one_device, on_two, initial),
               "unscaled_relative_difference": relative_difference(one_device, unscaled, initial),
               "train": results}, sys.stdout)


if __name__ == "__main__":
    main()
