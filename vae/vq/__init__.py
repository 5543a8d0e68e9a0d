"""VQ-VAE: a discrete code of grey digits, a PixelCNN prior over it, a second lossy codec and a generator.

- :mod:`vae.vq.model`: :class:`VQVAE` (encoder, codebook with dead-code restarts, decoder, prior);
- :mod:`vae.vq.prior`: the masked-convolution PixelCNN and its exact integer form;
- :mod:`vae.vq.tables`: the integer decoder, codebook, prior and exponential table of a checkpoint;
- :mod:`vae.vq.coding`: :class:`~vae.vq.coding.VQCodec`, the indices range-coded under the prior
  with ``constriction`` in the lossy container (:mod:`vae.lossy.container`);
- :mod:`vae.vq.storage`: checkpoints (float16 weights, tables, manifest), the shipped ones;
- :mod:`vae.vq.training`: a resumable training run, :func:`~vae.vq.training.train_vqvae`;
- :mod:`vae.vq.record`: the VQ-VAE's points in chapter 10's rate–distortion record.

Like :mod:`vae.lossy`, coding needs ``constriction``.

Introduced in chapter 10.
"""

from vae.vq.model import VQVAE, codebook_usage

__all__ = ["VQVAE", "codebook_usage"]
