"""What the PixelCNN decoder costs: training images/s, one k = 5000 IWAE evaluation per digit, sampling.

    python benchmarks/pixelcnn_speed.py [--layers 6] [--channels 32] [--batch-size 128] [--seconds 60]
                                        [--precisions float32 mixed_bfloat16] [--iwae-digits 4]

For a :class:`vae.pixelcnn.PixelCNNVAE` of the given size it measures

* training throughput: images per second of the package's ``fit`` on
  :func:`vae.data.training_batches` (dynamic binarization), one ``fit`` call
  timed after a warm-up of 10 steps, for each precision;
* the seconds of one importance-weighted bound with k = 5000 per test digit,
  as :func:`vae.evaluation.evaluate` computes it (chunks of 100 samples),
  with ``--eval-batch-size`` digits at a time, and what that makes for 2,000
  and for 10,000 digits;
* the seconds to draw 64 images pixel by pixel.

The weights are untrained: the costs do not depend on them. Absolute speeds
on a shared machine vary by 15 % or more; nothing here is a test.
"""

from __future__ import annotations

import argparse
import time

import vae

vae.quiet(0, deterministic=False)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from vae import data, defaults, evaluation  # noqa: E402
from vae.models import build_model  # noqa: E402


class _StopWatch(keras.callbacks.Callback):
    """Counts training steps after a warm-up and stops ``fit`` once ``seconds`` have passed."""

    def __init__(self, seconds: float, warmup_steps: int = 10):
        super().__init__()
        self.seconds, self.steps, self.start = seconds, -warmup_steps, None

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == 0:
            self.start = time.perf_counter()
        elif self.steps > 0 and time.perf_counter() - self.start >= self.seconds:
            self.elapsed = time.perf_counter() - self.start
            self.model.stop_training = True


def model_config(args) -> dict:
    return {"architecture": "conv", "latent_dim": args.latent_dim, "decoder": "pixelcnn",
            "pixelcnn_layers": args.layers, "pixelcnn_channels": args.channels, "seed": 0}


def training_speed(args, images, precision: str) -> float:
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_model(model_config(args))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        watch = _StopWatch(args.seconds)
        batches = data.training_batches(images, args.batch_size, epoch=0, seed=0).repeat()
        model.fit(batches, steps_per_epoch=10**9, epochs=1, verbose=0, shuffle=False, callbacks=[watch])
        return watch.steps * args.batch_size / watch.elapsed
    finally:
        keras.mixed_precision.set_global_policy("float32")


def iwae_seconds_per_digit(args) -> float:
    model = build_model(model_config(args))
    test, _ = data.binarized_test_set(limit=args.eval_batch_size * (args.iwae_digits // args.eval_batch_size + 1))
    evaluation.evaluate(model, test[:args.eval_batch_size], k=200, batch_size=args.eval_batch_size)  # trace
    digits = test[:max(args.iwae_digits, args.eval_batch_size)]
    start = time.perf_counter()
    evaluation.evaluate(model, digits, k=defaults.EVALUATION["k"], batch_size=args.eval_batch_size)
    return (time.perf_counter() - start) / len(digits)


def sampling_seconds(args, n: int = 64) -> float:
    model = build_model(model_config(args))
    model.sample(2, seed=0)  # trace
    start = time.perf_counter()
    model.sample(n, seed=1).numpy()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=defaults.PIXELCNN_OPTIONS["layers"])
    parser.add_argument("--channels", type=int, default=defaults.PIXELCNN_OPTIONS["channels"])
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per training measurement")
    parser.add_argument("--precisions", nargs="+", default=list(defaults.PRECISIONS))
    parser.add_argument("--iwae-digits", type=int, default=4, help="digits timed at k = 5000 (0: skip)")
    parser.add_argument("--eval-batch-size", type=int, default=2)
    parser.add_argument("--no-sampling", action="store_true")
    args = parser.parse_args()
    images, _ = data.load_mnist("train")
    print(f"PixelCNN decoder: {args.layers} layers x {args.channels} channels, latent {args.latent_dim}, "
          f"batch {args.batch_size}")
    for precision in args.precisions:
        speed = training_speed(args, images, precision)
        print(f"  training, {precision:15s} {speed:7.0f} images/s = {60_000 / speed / 60:5.1f} min per epoch")
    if args.iwae_digits:
        seconds = iwae_seconds_per_digit(args)
        print(f"  IWAE k=5000 (float32, {args.eval_batch_size} digits a batch): {seconds:.2f} s per digit = "
              f"{seconds * 2000 / 3600:.1f} h for 2,000 digits, {seconds * 10_000 / 3600:.1f} h for 10,000")
    if not args.no_sampling:
        print(f"  sampling 64 images pixel by pixel: {sampling_seconds(args):.1f} s")


if __name__ == "__main__":
    main()
