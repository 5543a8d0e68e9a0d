"""VQ-VAE: a discrete code of grey digits, a PixelCNN prior over it, a second lossy codec and a generator.

- :mod:`vae.vq.model`: :class:`VQVAE` (encoder, codebook with dead-code restarts, decoder, prior);
- :mod:`vae.vq.prior`: the masked-convolution PixelCNN and its exact integer form;

Introduced in chapter 10.
"""

from vae.vq.model import VQVAE, codebook_usage

__all__ = ["VQVAE", "codebook_usage"]
