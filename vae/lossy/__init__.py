"""Lossy compression of grey digits: a learned transform codec (a VAE with a uniform posterior).

Chapter 10 explains the method; the modules are small, one job each:

- :mod:`vae.lossy.transforms`: the analysis, synthesis and hyper-transforms (Keras);
- :mod:`vae.lossy.entropy_models`: the factorized density, the Gaussian conditional, the scale ladder;
- :mod:`vae.lossy.codec_model`: :class:`LearnedCodec`, the Keras model trained on ``bpp + λ·MSE₂₅₅``;
- :mod:`vae.lossy.quality`: PSNR, MSE and SSIM per digit, one measure for every codec;
- :mod:`vae.lossy.exact`: the decoder's networks in exact integer arithmetic;
- :mod:`vae.lossy.tables`: the integer probability tables derived once from a trained model;
- :mod:`vae.lossy.coding`: range coding with ``constriction``; :class:`LossyCodec`;
- :mod:`vae.lossy.container`: the file format and its checks;
- :mod:`vae.lossy.storage`: checkpoints (weights, tables, manifest);
- :mod:`vae.lossy.training`: a resumable training run, :func:`train_codec`;
- :mod:`vae.lossy.baselines`: JPEG, WebP, AVIF and JPEG 2000 through Pillow, on mosaics;
- :mod:`vae.lossy.bd_rate`: the Bjøntegaard delta rate between two rate–distortion curves.

Like :mod:`vae.compression` it needs ``constriction``; importing this
package without it raises :class:`vae.compression.MissingDependencyError`.
"""

from vae.compression import CompressionError, MissingDependencyError  # noqa: F401  (checks constriction)
from vae.lossy.codec_model import LearnedCodec  # noqa: E402
from vae.lossy.quality import distortion, psnr, ssim  # noqa: E402
from vae.lossy.coding import Decompressed, Encoded, LossyCodec, grey_images, rates, read_header  # noqa: E402
from vae.lossy.storage import load_codec, save_codec  # noqa: E402

__all__ = ["CompressionError", "Decompressed", "Encoded", "LearnedCodec", "LossyCodec", "MissingDependencyError",
           "distortion", "grey_images", "load_codec", "psnr", "ssim", "rates", "read_header", "save_codec"]
