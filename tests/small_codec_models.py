"""Small untrained models for the codec tests, scaled so that a wrongly coded number shows in the rate.

At initialization a model's posteriors are about as wide as its prior and
every pixel costs about one bit, so a code pushed under the wrong
distribution would cost almost nothing extra and go unnoticed. Each builder
below scales some weights to make every part of its model matter; the
reasons are in each docstring. Used by tests/test_codec_contract.py and the
model-specific codec test files.
"""

import keras
import numpy as np
import tensorflow as tf

from vae.ladder import LadderVAE
from vae.models import ConvVAE
from vae.pixelcnn import PixelCNNVAE


def small_ladder(latent_dims=(3, 2), seed=0):
    """An untrained LadderVAE made informative enough that a wrongly coded layer shows in the rate.

    The bottom-up means are scaled by 3 and the log-variances lowered by 3
    (posterior standard deviations about 0.22, so each layer's KL is a few
    bits per image), and the decoder's and top-down networks' weights are
    scaled by 2 and 1.5, so that p(x|z_1) and p(z_i|z_{i+1}) depend on the
    codes.
    """
    keras.utils.set_random_seed(seed)  # the initial weights come from Keras' global generator
    model = LadderVAE(latent_dims=latent_dims, filters=(4, 8), hidden=16, seed=seed)
    for weight in model.decoder.weights:
        weight.assign(weight.numpy() * 2.0)
    for network in model.top_down:
        for weight in network.weights:
            weight.assign(weight.numpy() * 1.5)
    for layer in model.encoder.layers:
        if layer.name.startswith("up_mean"):
            layer.kernel.assign(layer.kernel.numpy() * 3.0)
        if layer.name.startswith("up_log_var"):
            layer.bias.assign(layer.bias.numpy() - 3.0)
    return model


def small_pixelvae(seed=0):
    """An untrained 3-layer, 8-channel PixelVAE whose decoder weights are scaled up.

    At initialization the logits are nearly 0 (every pixel about one bit),
    which would hide a pixel coded under the wrong probability; scaled up by
    1.5, every pixel's probability depends on z and on the pixels before it
    (about 1.5 bits per pixel), while the logits stay within +-4, so that no
    probability is below the 2**-24 that constriction can represent.
    """
    keras.utils.set_random_seed(seed)
    model = PixelCNNVAE(latent_dim=3, pixelcnn_layers=3, pixelcnn_channels=8, filters=(4, 8), hidden=16, seed=seed)
    rng = np.random.default_rng(seed)
    for weight in model.decoder.weights:
        weight.assign(weight.numpy() * 1.5 + 0.05 * rng.standard_normal(weight.shape).astype("float32"))
    return model


def small_vampprior(pseudo_inputs=6, seed=0):
    """An untrained conv VAE with a VampPrior whose components overlap only in part.

    The pseudo-inputs are set far apart, and the encoder's mean head scaled
    up by 5 and its variances down by e**2: untouched, the components of an
    untrained encoder are one blur (means within 0.2 of each other, standard
    deviations near 1), where any responsibilities, even uniform ones, cost
    almost the same and a wrong one would go unnoticed.
    """
    keras.utils.set_random_seed(seed)
    model = ConvVAE(latent_dim=3, filters=(4, 8), hidden=16, seed=seed, prior="vampprior",
                    pseudo_inputs=pseudo_inputs)
    model.prior.pseudo_input_logits.assign(
        3.0 * tf.random.stateless_normal((pseudo_inputs, 28, 28, 1), seed=[seed, 7]))
    kernel, bias = model.encoder.get_layer("mean").weights
    kernel.assign(5.0 * kernel)
    bias.assign(5.0 * bias)
    log_var_bias = model.encoder.get_layer("log_var").weights[1]
    log_var_bias.assign(log_var_bias - 2.0)
    return model
