"""Training throughput of the package against the common tutorial recipe, in one process.

    python benchmarks/train_speed.py [--seconds 20] [--variants]

For the MLP and the conv architecture it measures images per second of

* the common recipe: a Keras model with a hand-written ``train_step``
  trained by ``fit`` at batch 32 on a default ``tf.data`` pipeline
  (``from_tensor_slices(...).shuffle(...).batch(32)``), on statically
  binarized images held in memory, as popular tutorials do;
* the package: ``vae.models`` trained by ``fit`` on
  ``vae.data.training_batches`` (dynamic binarization in the pipeline) at the
  batch size the book uses;

and prints the ratios, plus the fraction of this machine's float32
matrix-multiply peak (the best of square products of several sizes, measured
in the same run) that the MLP reaches. Each throughput is one ``fit`` call
over the repeated pipeline, timed after a warm-up of 20 steps. With
``--variants`` it also measures the package with XLA (``jit_compile=True``),
with bfloat16 mixed precision, and with both, as ratios to the plain package.
Figures are ratios within one run: absolute speeds on shared machines vary
by 15 % or more from run to run. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import time

import vae

vae.quiet(0, deterministic=False)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vae import data, losses  # noqa: E402
from vae.models import ConvVAE, MLPVAE  # noqa: E402


class RecipeVAE(keras.Model):
    """The usual tutorial VAE: a custom train_step around two Keras models."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def train_step(self, x):
        with tf.GradientTape() as tape:
            mean, log_var = self.inner.encoder(x)
            eps = tf.random.normal(tf.shape(mean))
            logits = self.inner.decoder(mean + tf.exp(0.5 * log_var) * eps)
            reconstruction = tf.reduce_mean(tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3]))
            kl = tf.reduce_mean(losses.kl_standard_normal(mean, log_var))
            loss = reconstruction + kl
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


class _StopWatch(keras.callbacks.Callback):
    """Counts training steps after a warm-up and stops ``fit`` once ``seconds`` have passed."""

    def __init__(self, seconds: float, warmup_steps: int = 20):
        super().__init__()
        self.seconds, self.warmup_steps = seconds, warmup_steps
        self.steps, self.start = -warmup_steps, None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == 0:
            self.start = time.perf_counter()
        elif self.steps > 0 and time.perf_counter() - self.start >= self.seconds:
            self.elapsed = time.perf_counter() - self.start
            self.model.stop_training = True


def images_per_second(model, dataset, batch_size: int, seconds: float) -> float:
    """Steady training throughput: one ``fit`` over the repeated dataset, timed after a warm-up.

    One call, so ``fit``'s own start-up (tens to hundreds of milliseconds on a
    busy machine) is not counted; the input pipeline and the steps are.
    """
    watch = _StopWatch(seconds)
    model.fit(dataset.repeat(), steps_per_epoch=10**9, epochs=1, verbose=0, shuffle=False, callbacks=[watch])
    return watch.steps * batch_size / watch.elapsed


def recipe_speed(build, images, seconds):
    binary = (images > 0.5).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(binary).shuffle(1024).batch(32)
    model = RecipeVAE(build())
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return images_per_second(model, dataset, 32, seconds)


def package_speed(build, images, batch_size, seconds, jit_compile=False, precision="float32"):
    """Images/s of the package's ``fit``; optionally with XLA or bfloat16 mixed precision."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
        dataset = data.training_batches(images, batch_size, epoch=0, seed=0)
        return images_per_second(model, dataset, batch_size, seconds)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def matmul_peak_flops(seconds: float, sizes=(512, 1024, 2048, 4096)) -> float:
    """Measured float32 matrix-multiply rate of this machine, FLOP/s: the best over square sizes.

    No single size is the fastest on every CPU (on the AMD EPYC of our CI a
    512 product can beat a 2048 one), so each size gets ``seconds / len(sizes)``
    and the best rate counts as the peak.
    """
    best = 0.0
    for size in sizes:
        a = tf.random.normal((size, size))
        step = tf.function(lambda m, a=a: tf.linalg.matmul(m, a))
        result = step(a)
        _ = result.numpy()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / len(sizes):
            result = step(a)
            count += 1
        _ = result.numpy()
        best = max(best, count * 2 * size ** 3 / (time.perf_counter() - start))
    return best


def mlp_train_flops_per_image(model: MLPVAE) -> float:
    """Matrix-multiply FLOPs of one training step per image: 3x the forward pass."""
    forward = sum(2 * np.prod(w.shape) for w in model.trainable_weights if len(w.shape) == 2)
    return 3.0 * float(forward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--images", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--variants", action="store_true",
                        help="also measure the package with XLA, with bfloat16 mixed precision, and with both")
    args = parser.parse_args()
    images, _ = data.load_mnist("train")
    images = images[:args.images]
    setups = {
        "mlp": (lambda: MLPVAE(latent_dim=20, hidden=(512, 256), seed=0), 512),
        "conv": (lambda: ConvVAE(latent_dim=16, seed=0), 128),
    }
    peak = matmul_peak_flops(args.seconds / 2)
    print(f"float32 matmul peak measured: {peak / 1e9:.0f} GFLOP/s")
    print(f"{'model':6} {'recipe img/s':>13} {'package img/s':>14} {'ratio':>6}")
    for name, (build, batch_size) in setups.items():
        recipe = recipe_speed(build, images, args.seconds)
        package = package_speed(build, images, batch_size, args.seconds)
        print(f"{name:6} {recipe:13.0f} {package:14.0f} {package / recipe:6.2f}x")
        if name == "mlp":
            flops = mlp_train_flops_per_image(build()) * package
            print(f"       MLP reaches {flops / 1e9:.0f} GFLOP/s = {flops / peak:.0%} of the measured peak")
        if args.variants:
            for label, options in (("XLA", {"jit_compile": True}), ("bfloat16", {"precision": "bfloat16"}),
                                   ("XLA + bfloat16", {"jit_compile": True, "precision": "bfloat16"})):
                variant = package_speed(build, images, batch_size, args.seconds, **options)
                line = f"       package with {label:15s} {variant:8.0f} img/s = {variant / package:4.2f}x the package"
                if name == "mlp":
                    flops = mlp_train_flops_per_image(build()) * variant
                    line += f", {flops / peak:.0%} of the float32 peak"
                print(line)


if __name__ == "__main__":
    main()
