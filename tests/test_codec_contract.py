"""What bits back promises with every model past chapter 8's: exact round trips, a header naming the model.

One contract for the Ladder VAE, the PixelVAE and the conv VAE with a
VampPrior (chapter 11), each small and untrained (tests/small_codec_models.py):
any binary images come back bit for bit, whatever the batch layout, and a
file made here decodes in a fresh process with one thread through the CLI.
What only one model does (the ladder's layers, the PixelCNN's causal passes,
the mixture's component) is tested in test_compression_<model>.py.
"""

import functools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from other_process import decompress_with_one_thread
from small_codec_models import small_ladder, small_pixelvae, small_vampprior
from vae import checkpoint, data
from vae.compression import BitsBackCodec, read_header

# 7 pseudo-inputs: an odd count, whose components unpadded came out with other last bits with one thread
BUILDERS = {"ladder": small_ladder, "pixelvae": small_pixelvae,
            "vampprior": functools.partial(small_vampprior, pseudo_inputs=7)}
HEADERS = {  # what each model's files must say about it
    "ladder": {"architecture": "ladder", "decoder": "factorized", "latent_dim": [3, 2], "prior": None},
    "pixelvae": {"architecture": "conv", "decoder": "pixelcnn", "latent_dim": 3, "prior": None},
    "vampprior": {"architecture": "conv", "decoder": "factorized", "latent_dim": 3, "prior": "vampprior"},
}
BATCH_SIZE = 4


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def kind(request):
    return request.param


@pytest.fixture(scope="module")
def model(kind):
    return BUILDERS[kind]()


@pytest.fixture(scope="module")
def codec(model, kind):
    return BitsBackCodec(model, f"{kind}-small", "1" * 64, batch_size=BATCH_SIZE)


@pytest.fixture(scope="module")
def digits():
    images, _ = data.binarized_test_set(limit=11)
    return images[..., 0].astype(np.uint8)


def described(header):
    return {field: header.get(field) for field in ("architecture", "decoder", "latent_dim", "prior")}


def test_one_digit_round_trips_in_a_batch_of_its_own(codec, kind, digits):
    blob = codec.compress(digits[:1])
    header = read_header(blob)
    assert header["batch_sizes"] == [[1, 1]]
    assert described(header) == HEADERS[kind]
    assert np.array_equal(codec.decompress(blob).images, digits[:1])


def test_digits_round_trip_through_the_ramp_full_batches_and_a_partial_last_batch(codec, digits):
    blob = codec.compress(digits)
    sizes = [size for size, repeats in read_header(blob)["batch_sizes"] for _ in range(repeats)]
    assert sum(sizes) == len(digits) and sizes[0] == 1
    assert BATCH_SIZE in sizes and sizes[-1] < BATCH_SIZE  # 11 = 1 + 2 + 4 + 4: full, then a partial batch
    restored = codec.decompress(blob)
    assert np.array_equal(restored.images, digits)
    assert restored.header["model"] == codec.name


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images=arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(28), st.just(28)), elements=st.integers(0, 1)),
       seed=st.integers(0, 2**32 - 1))
def test_any_binary_images_round_trip(codec, images, seed):
    blob = codec.compress(images, initial_seed=seed)
    assert np.array_equal(codec.decompress(blob).images, images)


def test_a_checkpoint_compresses_and_a_fresh_one_thread_process_decompresses(model, kind, digits, tmp_path):
    """save_checkpoint and BitsBackCodec.from_checkpoint here; ``python -m vae decompress --checkpoint`` with
    one thread in another process (the CLI's own compress would choose the direct code for so few digits)."""
    folder = tmp_path / kind
    checkpoint.save_checkpoint(model, folder, {"note": "test"})
    reloaded = BitsBackCodec.from_checkpoint(folder, batch_size=BATCH_SIZE)
    assert reloaded.model is not model  # a separately built model with the saved weights
    packed, restored = tmp_path / "digits.vae", tmp_path / "out.npz"
    packed.write_bytes(reloaded.compress(digits))
    header = read_header(packed.read_bytes())
    assert (header["method"], header["model"]) == ("bits-back", kind)
    assert described(header) == HEADERS[kind]
    manifest = json.loads((folder / checkpoint.MANIFEST_FILE).read_text())
    assert header["weights_sha256"] == manifest["weights_sha256"]
    decompress_with_one_thread(packed, restored, checkpoint=folder)
    with np.load(restored) as archive:
        assert np.array_equal(archive["images"], digits)
