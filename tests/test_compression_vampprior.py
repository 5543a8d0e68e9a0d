"""vae.compression with a VampPrior: bits back on the mixture component (vae.compression._mixture)."""

import math

import constriction
import keras
import numpy as np
import pytest

from small_codec_models import small_vampprior
from vae import losses
from vae.compression import BitsBackCodec, CompressionError, LatentGrid, bits_per_dim, read_header
from vae.compression import _mixture as mixture
from vae.compression.bitsback import borrowed_bits_per_image, encode_batch
from vae.models import ConvVAE

PSEUDO_INPUTS = 6  # small_vampprior's default


def random_digits(count, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((count, 28, 28)) < 0.2).astype(np.uint8)


@pytest.fixture(scope="module")
def model():
    return small_vampprior()


@pytest.fixture(scope="module")
def codec(model):
    return BitsBackCodec(model, "vamp", "1" * 64, batch_size=4)


def test_one_component_round_trips_without_coding_it():
    single = BitsBackCodec(small_vampprior(pseudo_inputs=1, seed=2), "one", "2" * 64, batch_size=4)
    images = random_digits(5, seed=3)
    assert np.array_equal(single.decompress(single.compress(images)).images, images)
    assert mixture.component_bits(single.model, LatentGrid()) == 0


def test_an_image_borrows_the_bits_of_its_component_too(model):
    grid = LatentGrid()
    standard = ConvVAE(latent_dim=3, filters=(4, 8), hidden=16, seed=0)
    assert borrowed_bits_per_image(standard, grid) == 3 * grid.initial_bits_per_code
    assert borrowed_bits_per_image(model, grid) == 3 * grid.initial_bits_per_code + math.ceil(
        math.log2(PSEUDO_INPUTS))


def test_the_quantized_components_are_distributions_over_the_bins():
    grid = LatentGrid(bin_width_log2=2, latent_range=3.0)
    bins = np.arange(-grid.max_bin, grid.max_bin + 1)[:, None]  # every bin of a one-number code
    means, stds = np.array([[0.0], [-7.3], [11.9]]), np.array([[1.0], [0.3], [40.0]])  # in bins; one far out
    masses = np.exp(mixture.log_masses(bins, means, stds, grid))  # (bins, 3)
    np.testing.assert_allclose(masses.sum(axis=0), 1.0, rtol=1e-12)
    assert masses.min() >= 2.0 ** -24  # constriction's floor: every bin stays codable
    assert np.argmax(masses[:, 0]) == grid.max_bin and masses[grid.max_bin, 0] == pytest.approx(0.3829, abs=1e-4)


def test_the_masses_are_those_constriction_codes_with():
    # What constriction's QuantizedGaussian charges for a bin, measured as the growth of a (non-empty) stack
    # over 20,000 copies of it, against -log2 of log_masses: the same to a thousandth of a bit in the bulk.
    # In the far tail, where a bin's mass is a few of constriction's 2**-24 units or less, constriction
    # rounds it to whole units (at least one) and log_masses does not: under a bit apart, on bins a code
    # almost never falls in (the cost of that difference is the KL between the two, negligible).
    grid, copies = LatentGrid(), 20_000
    mean, std = 3.3, 2.7  # in bins
    bins = np.array([0, 3, 4, 10, -5, -12, 20, 60, grid.max_bin, 1 - grid.max_bin])
    computed = -mixture.log_masses(bins[:, None], np.array([[mean]]), np.array([[std]]), grid)[:, 0] / np.log(2)
    for one_bin, bits in zip(bins, computed):
        coder = constriction.stream.stack.AnsCoder(np.random.default_rng(0).integers(0, 2**32, 4, np.uint32))
        before = coder.num_valid_bits()
        coder.encode_reverse(np.full(copies, one_bin, np.int32), grid.gaussian(), np.full(copies, mean),
                             np.full(copies, std))
        measured = (coder.num_valid_bits() - before) / copies
        assert measured == pytest.approx(bits, abs=0.002 if bits < 16 else 1.0), (one_bin, measured, bits)


def log2_quantized_gaussian(bins, means, stds, grid):
    """log2 of the quantized Gaussians' masses of ``bins`` ``(batch, d)``, one Gaussian per row, ``(batch,)``."""
    return np.array([mixture.log_masses(b[None], m[None], s[None], grid)[0, 0]
                     for b, m, s in zip(bins, means, stds)]) / np.log(2)


def test_each_image_costs_the_probability_of_its_code_under_the_whole_mixture(model):
    # Information content of what one batch pushes and pops, computed in float64 from the networks:
    # -log2 p(x|z) - log2 P(z_bins) + log2 Q(z_bins|x), with P the quantized *mixture*. The stack must grow
    # by that to within the ANS overheads (well under a bit per image here), and not by the cost without
    # the component's bits back, log2 K - log2 P_k(z_bins), which is more by the entropy of p(k|z_bins).
    grid, images = LatentGrid(), random_digits(16, seed=5)
    coder = constriction.stream.stack.AnsCoder(np.random.default_rng(0).integers(0, 2**32, 64, np.uint32))
    before = coder.num_valid_bits()
    bins = encode_batch(coder, model, images, grid)
    growth = coder.num_valid_bits() - before
    x = images[..., None].astype(np.float32)
    mean, log_var = (np.asarray(t, np.float64) for t in model.encode(x))
    log2_q = log2_quantized_gaussian(bins, mean / grid.bin_width, np.exp(0.5 * log_var) / grid.bin_width, grid)
    log2_px = losses.bernoulli_log_likelihood(x, model.decode(grid.codes(bins))).numpy() / np.log(2)
    _, means, stds = model.prior.quantized(grid, len(images))
    log_masses = mixture.log_masses(bins, means / grid.bin_width, stds / grid.bin_width, grid)  # (16, K)
    log2_p = (np.logaddexp.reduce(log_masses, axis=1) - np.log(PSEUDO_INPUTS)) / np.log(2)
    expected = float(np.sum(-log2_px - log2_p + log2_q))
    responsibilities = np.exp(log_masses - np.logaddexp.reduce(log_masses, axis=1, keepdims=True))
    component_entropy = float(-np.sum(responsibilities * np.log2(np.maximum(responsibilities, 1e-300))))
    assert 4.0 < component_entropy < 0.8 * len(images) * math.log2(PSEUDO_INPUTS)  # not uniform, not certain
    assert abs(growth - expected) < 2.0 + 0.05 * len(images), (growth, expected, component_entropy)


def test_the_file_costs_the_negative_elbo_under_the_vampprior(codec, model):
    # The codec draws one code per image from q(z|x), so its net size is a one-sample estimate of the
    # summed -ELBO (in bits), whose log p(z) is the VampPrior's log-density. Its expectation is estimated
    # with 200 posterior draws per image; the file's deviation has variance sum_i var_i over the images,
    # and we allow 4 of its standard deviations plus 64 bits (the final words of the stack and the
    # first batch's use of the initial words) plus 0.01 bit per code number (the grid's rounding, of order
    # (bin width / posterior std)**2 = (2**-6 / 0.37)**2, and constriction's 24-bit probabilities: the
    # test above finds the two together under 0.05 bit per image). On this model the file comes out about
    # 30 bits above the estimate whatever the number of images, the fixed cost of the words. Without bits
    # back on the component the file would be larger by the entropy of p(k|z) per image (about 1.3 bits
    # here), which the last assertion shows would take it outside the tolerance.
    images = random_digits(192, seed=11)
    blob = codec.compress(images)
    net_bits = bits_per_dim(blob)["net"] * 784 * len(images)
    x = images[..., None].astype(np.float32)
    draws = -np.stack([losses.elbo(model, x, seed=seed).numpy() for seed in range(200)]) / np.log(2)  # (200, n)
    expected = draws.mean(axis=0).sum()
    spread = math.sqrt(draws.var(axis=0, ddof=1).sum())
    tolerance = 4 * spread + 64 + 0.01 * 3 * len(images)
    assert abs(net_bits - expected) < tolerance, (net_bits, expected, tolerance)
    mean, log_var = model.encode(x)
    z = model.reparameterize(mean, log_var, seed=0)
    comp_mean, comp_log_var = model.prior.components()
    per_component = losses.log_normal_density(z[:, None, :], comp_mean, comp_log_var).numpy()  # (n, K) nats
    responsibilities = np.exp(per_component - np.logaddexp.reduce(per_component, axis=1, keepdims=True))
    entropy = -np.sum(responsibilities * np.log2(np.maximum(responsibilities, 1e-300)))
    assert abs(net_bits + entropy - expected) > tolerance, (net_bits, entropy, expected, tolerance)


def test_a_vampprior_file_and_a_standard_prior_model_refuse_each_other(codec, model):
    images = random_digits(2, seed=1)
    standard = BitsBackCodec(ConvVAE(latent_dim=3, filters=(4, 8), hidden=16, seed=0), codec.name,
                             codec.weights_sha256)
    with pytest.raises(CompressionError, match="conv VAE with a factorized decoder and the vampprior prior"):
        standard.decompress(codec.compress(images))
    blob = standard.compress(images)
    assert "prior" not in read_header(blob)  # standard-prior files keep their layout
    with pytest.raises(CompressionError, match="the standard prior .* not with a conv VAE .* the vampprior prior"):
        codec.decompress(blob)


def test_a_pixelvae_with_a_vampprior_round_trips():
    from vae.pixelcnn import PixelCNNVAE

    keras.utils.set_random_seed(6)
    model = PixelCNNVAE(latent_dim=3, pixelcnn_layers=2, pixelcnn_channels=4, filters=(4, 8), hidden=16, seed=6,
                        prior="vampprior", pseudo_inputs=3)
    codec = BitsBackCodec(model, "pixel-vamp", "3" * 64, batch_size=2)
    images = random_digits(3, seed=9)
    blob = codec.compress(images)
    assert (read_header(blob)["decoder"], read_header(blob)["prior"]) == ("pixelcnn", "vampprior")
    assert np.array_equal(codec.decompress(blob).images, images)
