"""How close a decoded digit is to the original: PSNR, MSE on grey levels and SSIM, per digit.

Every codec of chapter 10 (the learned ones and the classical ones) is
measured by :func:`distortion`, so the curves are comparable:

* ``psnr``: the mean over digits of each digit's PSNR in dB (peak 1);
* ``mse``: the mean squared error on grey levels 0..255;
* ``psnr_of_mean_mse``: the PSNR of the mean MSE (the figure some papers report);
* ``ssim``: the mean over digits of TensorFlow's SSIM (``tf.image.ssim``,
  peak 1, its default 11x11 Gaussian window of σ = 1.5).

Introduced in chapter 10.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

GREY_PEAK = 255.0


def _flat(images) -> np.ndarray:
    images = np.asarray(images, np.float64)
    return images.reshape(len(images), -1)


def psnr(original, reconstruction) -> np.ndarray:
    """PSNR in dB (peak 1) of each image: ``(n,)`` float64 for images ``(n, 28, 28[, 1])`` in [0, 1].

    Introduced in chapter 10.
    """
    mse = np.maximum(np.mean((_flat(original) - _flat(reconstruction)) ** 2, axis=1), 1e-12)
    return 10 * np.log10(1.0 / mse)


def ssim(original, reconstruction) -> np.ndarray:
    """SSIM of each image, ``(n,)`` float64, for images ``(n, 28, 28[, 1])`` in [0, 1] (``tf.image.ssim``).

    Introduced in chapter 10.
    """
    def as_batch(images):
        images = np.asarray(images, np.float32)
        return images if images.ndim == 4 else images[..., None]

    return tf.image.ssim(as_batch(original), as_batch(reconstruction), max_val=1.0).numpy().astype(np.float64)


def distortion(original, reconstruction) -> dict:
    """``{"psnr", "mse", "psnr_of_mean_mse", "ssim"}`` of a set of decoded digits (see the module).

    Args:
        original, reconstruction: images ``(n, 28, 28[, 1])`` in [0, 1].

    Introduced in chapter 10.
    """
    mse = np.mean((_flat(original) - _flat(reconstruction)) ** 2, axis=1)
    return {"psnr": float(psnr(original, reconstruction).mean()), "mse": float(mse.mean() * GREY_PEAK ** 2),
            "psnr_of_mean_mse": float(10 * np.log10(1.0 / max(mse.mean(), 1e-12))),
            "ssim": float(ssim(original, reconstruction).mean())}
