"""Bits back with the Ladder VAE (chapter 11): every layer coded, three layers, the rate, wrong models."""

import math

import keras
import numpy as np
import pytest

from small_codec_models import small_ladder
from vae import data
from vae.compression import BitsBackCodec, CompressionError, LatentGrid, bits_per_dim, read_header
from vae.compression import _hierarchical as hierarchical
from vae.compression.bitsback import borrowed_bits_per_image
from vae.models import ConvVAE


@pytest.fixture(scope="module")
def model():
    return small_ladder()


@pytest.fixture(scope="module")
def codec(model):
    return BitsBackCodec(model, "ladder-small", "2" * 64, batch_size=4)


@pytest.fixture(scope="module")
def digits():
    images, _ = data.binarized_test_set(limit=64)
    return images[..., 0].astype(np.uint8)


def test_a_three_layer_ladder_round_trips():
    model = small_ladder((3, 2, 2), seed=1)
    codec = BitsBackCodec(model, "ladder-three", "3" * 64, batch_size=4)
    images, _ = data.binarized_test_set(limit=9)
    images = images[..., 0].astype(np.uint8)
    blob = codec.compress(images)
    assert read_header(blob)["latent_dim"] == [3, 2, 2]
    assert np.array_equal(codec.decompress(blob).images, images)


def test_every_layer_is_popped_and_pushed(model, digits):
    """encode_batch returns every layer's bins; the stack after a batch holds what decode_batch pops back."""
    import constriction

    from vae.compression.bitsback import decode_batch, encode_batch

    grid = LatentGrid()
    initial = np.random.default_rng(5).integers(0, 2**32, size=64, dtype=np.uint32)
    coder = constriction.stream.stack.AnsCoder(initial, seal=True)
    bins = encode_batch(coder, model, digits[:4], grid)
    assert bins.shape == (4, 5) and bins.dtype == np.int32
    assert np.abs(bins).max() <= grid.max_bin
    assert np.array_equal(decode_batch(coder, model, 4, grid), digits[:4])
    assert np.array_equal(coder.get_compressed(unseal=True), initial)


def test_net_rate_is_close_to_the_negative_elbo(model, codec, digits):
    """The file's net bits per digit against -ELBO over all layers, from LadderVAE.elbo_terms (16 seeds).

    The codec's cost of a digit is one draw of ``-log2 p(x, z) / q(z|x)`` at
    the rounded codes (the bin width, 1/64, against posterior standard
    deviations near 0.22 costs about (1/64 / 0.22)**2, far below a bit).
    Its mean over the digits differs from the ELBO by sampling noise whose
    standard error we estimate from the spread of 16 independent log
    weights per digit (``log_weights``); we allow four standard errors of
    the difference, plus 64 bits for the whole stack (constriction's
    partly filled words at the end).
    """
    images = digits.astype(np.float32)[..., None]
    seeds = range(16)
    negative_elbo = [-(terms["log_likelihood"] - terms["kl"]).numpy() / math.log(2)
                     for terms in (model.elbo_terms(images, seed=s) for s in seeds)]
    reference = float(np.mean(negative_elbo))  # bits per digit
    log_weights = model.log_weights(images, 16, seed=99).numpy() / math.log(2)  # (16, digits) bits
    per_digit_variance = float(np.mean(np.var(log_weights, axis=0, ddof=1)))
    count = len(digits)
    standard_error = math.sqrt(per_digit_variance / count * (1 + 1 / len(seeds)))
    rates = bits_per_dim(codec.compress(digits))
    net_bits_per_digit = rates["net"] * 784
    tolerance = 4 * standard_error + 64 / count
    assert abs(net_bits_per_digit - reference) < tolerance, (net_bits_per_digit, reference, tolerance)
    # the check can see the latent layers: their KL (about 8 bits per digit) is above the tolerance (about 4)
    kl_bits = float(np.mean([model.elbo_terms(images, seed=s)["kl"].numpy() for s in seeds])) / math.log(2)
    assert kl_bits > tolerance


def test_the_initial_bits_count_every_layer(codec, digits):
    grid = LatentGrid()
    assert borrowed_bits_per_image(codec.model, grid) == 5 * grid.initial_bits_per_code
    assert borrowed_bits_per_image(small_ladder((3, 2, 2)), grid) == 7 * grid.initial_bits_per_code
    header = read_header(codec.compress(digits[:3]))
    assert header["initial_words"] == math.ceil(5 * grid.initial_bits_per_code / 32)


def test_borrowed_bits_per_layer_measures_each_pop(model, digits):
    """Shape and sign, and the top layer's pops against the entropy of its rounded posterior.

    q(z_L|x) is the encoder's top Gaussian, whatever is popped below, so
    the mean bits of its pop are about ``sum_d log2(std_d sqrt(2 pi e) / bin
    width)`` per digit. Averaged over 64 digits (128 code numbers, each
    pop's cost has a standard deviation of about 1 bit) the sampling error
    is about 0.18 bits per digit, and constriction's whole-bit counts add
    at most 1/64 (the differences of one layer's pops add up to one
    difference); we allow 0.7, about four standard errors.
    """
    grid = LatentGrid()
    bits = hierarchical.borrowed_bits_per_layer(model, digits, grid, initial_seed=3)
    assert bits.shape == (len(digits), 2) and np.all(bits > 0)
    top_log_var = model._bottom_up(digits.astype(np.float32)[..., None])[3].numpy().astype(np.float64)
    entropy = np.sum(np.log2(np.exp(0.5 * top_log_var) * math.sqrt(2 * math.pi * math.e) / grid.bin_width), axis=1)
    assert abs(bits[:, 1].mean() - entropy.mean()) < 0.7, (bits[:, 1].mean(), entropy.mean())
    again = hierarchical.borrowed_bits_per_layer(model, digits[:5], grid, initial_seed=3)
    assert np.array_equal(again, hierarchical.borrowed_bits_per_layer(model, digits[:5], grid, initial_seed=3))


def test_borrowed_bits_per_layer_refuses_a_one_layer_model(conv_model, digits):
    with pytest.raises(ValueError, match="Ladder"):
        hierarchical.borrowed_bits_per_layer(conv_model, digits[:2], LatentGrid())


@pytest.fixture(scope="module")
def conv_model():
    keras.utils.set_random_seed(0)
    return ConvVAE(latent_dim=3, filters=(4, 8), hidden=16, seed=0)


def test_a_conv_file_is_refused_by_a_ladder_codec_and_vice_versa(model, conv_model, digits):
    """Same name and weights checksum, so only the header's architecture tells them apart."""
    ladder = BitsBackCodec(model, "same", "4" * 64, batch_size=4)
    conv = BitsBackCodec(conv_model, "same", "4" * 64, batch_size=4)
    conv_blob, ladder_blob = conv.compress(digits[:5]), ladder.compress(digits[:5])
    assert np.array_equal(conv.decompress(conv_blob).images, digits[:5])
    with pytest.raises(CompressionError, match="conv VAE"):
        ladder.decompress(conv_blob)
    with pytest.raises(CompressionError, match="ladder VAE"):
        conv.decompress(ladder_blob)


def test_a_ladder_with_other_layer_sizes_is_refused(model, digits):
    blob = BitsBackCodec(model, "same", "5" * 64).compress(digits[:3])
    other = BitsBackCodec(small_ladder((3, 4)), "same", "5" * 64)
    with pytest.raises(CompressionError, match=r"\[3, 2\] numbers"):
        other.decompress(blob)
