"""The package's choices and defaults, in plain Python: one place for the models, training, evaluation and the CLI.

This module imports nothing (not even TensorFlow), so the command line reads
its choices and default values here and still answers ``--help`` at once.
The modules that use a value read it from here too: :mod:`vae.models` (the
architectures and their default sizes), :mod:`vae.training`
(:class:`vae.training.TrainConfig`'s defaults, the learning-rate schedules
and precisions) and :mod:`vae.evaluation` (the Burda et al. protocol).

Introduced in chapter 5.
"""

from types import MappingProxyType

ARCHITECTURES = ("conv", "mlp", "ladder")
"""The unconditional architectures ``build_model`` knows (:data:`vae.models.ARCHITECTURES`); ``ladder`` is
:class:`vae.ladder.LadderVAE`, several stochastic layers (chapter 11)."""

LADDER_LATENT_DIMS = (32, 16)
"""``LadderVAE``'s default units of z_1 ... z_L, bottom first."""

PRIORS = ("standard", "vampprior")
"""The priors an unconditional model may have: N(0, I), or the VampPrior (:mod:`vae.vampprior`, chapter 11)."""

VAMPPRIOR_PSEUDO_INPUTS = 500
"""The VampPrior's default number of pseudo-inputs (mixture components), as in Tomczak & Welling (2018)."""

DECODERS = ("factorized", "pixelcnn")
"""The decoders of the conv architecture: a factorized Bernoulli, or a gated PixelCNN conditioned on z
(:class:`vae.pixelcnn.PixelCNNVAE`, chapter 11)."""

PIXELCNN_OPTIONS = MappingProxyType({"layers": 6, "channels": 32})
"""``PixelCNNVAE``'s default number of gated layers and features per stack."""

CONV_OPTIONS = MappingProxyType({"filters": (32, 64), "hidden": 256})
"""``ConvVAE``'s default channels of its two convolution stages and width of its dense layer."""

MLP_OPTIONS = MappingProxyType({"hidden": (512, 256), "activation": "relu"})
"""``MLPVAE``'s default hidden widths (the decoder mirrors them) and their activation."""

MLP_LATENT_DIM = 20
"""``MLPVAE``'s default latent size when built directly (a training run's is ``TRAINING["latent_dim"]``)."""

LEARNING_RATE_SCHEDULES = ("constant", "cosine")
"""Adam's step size: constant, or cosine decay to :data:`FINAL_LEARNING_RATE_FRACTION` of it."""

FINAL_LEARNING_RATE_FRACTION = 0.01
"""Where the cosine schedule ends, relative to the starting learning rate."""

PRECISIONS = ("float32", "mixed_bfloat16")
"""Keras precision policies a training run may use (weights and losses stay float32)."""

TRAINING = MappingProxyType({
    "architecture": "conv",
    "latent_dim": 16,
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "beta": 1.0,
    "kl_warmup_epochs": 0.0,
    "seed": 0,
    "learning_rate_schedule": "constant",
    "precision": "float32",
})
"""The defaults of :class:`vae.training.TrainConfig` (and of ``python -m vae train``)."""

EVALUATION = MappingProxyType({
    "k": 5000,
    "batch_size": 50,
    "chunk_size": 100,
    "seed": 0,
})
"""The defaults of :func:`vae.evaluation.evaluate` (and of ``python -m vae evaluate``): Burda et
al.'s k = 5000 importance samples, 50 images and 100 samples decoded at a time, seed 0."""

EVALUATION_SEED_LIMIT = 2**31 - 1
"""The largest seed :func:`vae.evaluation.evaluate` takes (its batch seeds, seed * 2**32 + batch, are int64)."""

CODEC_TRAINING = MappingProxyType({
    "channels": 16,
    "hyper_channels": 8,
    "filters": 64,
    "hyper_filters": 32,
    "epochs": 10,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "learning_rate_schedule": "constant",
    "seed": 0,
    "validation_images": 1000,
})
"""The defaults of :class:`vae.lossy.training.CodecTrainConfig` (and of ``python -m vae train-codec``)."""

VQ_TRAINING = MappingProxyType({
    "codebook_size": 256,
    "code_dim": 32,
    "filters": 64,
    "prior_embedding": 32,
    "prior_filters": 64,
    "prior_layers": 3,
    "epochs": 6,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "learning_rate_schedule": "cosine",
    "seed": 0,
    "validation_images": 1000,
})
"""The defaults of :class:`vae.vq.training.VQTrainConfig` (and of ``python -m vae train-vqvae``)."""

LOSSY_CHECKPOINTS = "lossy"
"""The folder under ``vae/checkpoints/`` holding the shipped learned codecs, one folder each."""
