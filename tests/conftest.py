"""Shared fixtures. Importing vae imports TensorFlow silently; quiet() seeds everything."""

import numpy as np
import pytest

import vae

vae.quiet(0)


@pytest.fixture
def binary_images():
    """Eight reproducible binary 'images' (8, 28, 28, 1), about 20 % of pixels on."""
    rng = np.random.default_rng(1)
    return (rng.random((8, 28, 28, 1)) < 0.2).astype(np.float32)


@pytest.fixture
def conv_model():
    from vae.models import ConvVAE

    return ConvVAE(latent_dim=4, filters=(4, 8), hidden=16, seed=3)


@pytest.fixture
def mlp_model():
    from vae.models import MLPVAE

    return MLPVAE(latent_dim=3, hidden=(32, 16), seed=3)


@pytest.fixture(params=["conv", "mlp"])
def model(request, conv_model, mlp_model):
    return {"conv": conv_model, "mlp": mlp_model}[request.param]
