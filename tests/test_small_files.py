"""The small-file fallback of the bits-back codec (vae.compression.direct): never much worse than bz2 and co."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vae import data
from vae.compression import BitsBackCodec, CompressionError, bits_per_dim, compress, decompress, read_header
from vae.compression import direct
from vae.compression.baselines import baseline_sizes


@pytest.fixture(scope="module")
def conv_codec():
    return BitsBackCodec.pretrained("conv")


@pytest.fixture(scope="module")
def test_digits():
    images, _ = data.binarized_test_set(limit=200)
    return images[..., 0].astype(np.uint8)


def test_one_digit_is_at_most_a_few_dozen_bytes_above_the_best_classical_compressor(conv_codec, test_digits):
    for index in range(5):
        digit = test_digits[index:index + 1]
        blob = conv_codec.compress(digit, fallback=True)
        best = min(baseline_sizes(digit).values())
        assert len(blob) <= best + direct.OVERHEAD_BYTES, (len(blob), baseline_sizes(digit))
        assert len(blob) < len(conv_codec.compress(digit, fallback=False)) / 3
        assert read_header(blob)["method"] in direct.METHODS


def test_the_fallback_round_trips_exactly_with_names_through_the_codec_and_the_one_call_helper(conv_codec,
                                                                                               test_digits):
    digits, names = test_digits[:3], ["a.png", "b.png", "ç.png"]
    blob = conv_codec.compress(digits, names=names, fallback=True)
    assert direct.is_direct(blob)
    for restored in (conv_codec.decompress(blob), decompress(blob)):
        assert np.array_equal(restored.images, digits) and restored.names == names
        assert restored.header["method"] == read_header(blob)["method"] and restored.header["count"] == 3


def test_without_the_fallback_the_file_is_bits_back_and_says_so(conv_codec, test_digits):
    blob = conv_codec.compress(test_digits[:3])  # the codec object's default: the method chapter 9 measures
    assert not direct.is_direct(blob) and read_header(blob)["method"] == "bits-back"
    assert blob == compress(test_digits[:3], fallback=False)
    assert np.array_equal(decompress(blob).images, test_digits[:3])


def test_the_one_call_helper_falls_back_by_default(conv_codec, test_digits):
    blob = compress(test_digits[:3])
    assert blob == conv_codec.compress(test_digits[:3], fallback=True) and direct.is_direct(blob)
    assert np.array_equal(decompress(blob).images, test_digits[:3])


def test_the_fallback_keeps_bits_back_when_it_is_smaller(conv_codec, test_digits, monkeypatch):
    monkeypatch.setattr(direct, "encode_direct", lambda images, names_blob=b"": b"\0" * 10**6)
    blob = conv_codec.compress(test_digits[:3], fallback=True)
    assert read_header(blob)["method"] == "bits-back"


def test_the_rates_of_a_direct_file_add_up(conv_codec, test_digits):
    blob = conv_codec.compress(test_digits[:1], fallback=True)
    rates = bits_per_dim(blob)
    assert rates["initial_bits"] == 0 and rates["header_bytes"] == direct.OVERHEAD_BYTES
    assert rates["total"] == pytest.approx(8 * len(blob) / 784)
    assert rates["net"] == pytest.approx(8 * (len(blob) - direct.OVERHEAD_BYTES) / 784)


@pytest.mark.parametrize("method", direct.METHODS)
def test_every_method_decodes(method, monkeypatch, test_digits):
    """Force each method by making the others look huge, then read the file back."""
    encoders = direct._encoders()
    forced = {name: (encode if name == method else (lambda data: b"\0" * 10**6)) for name, encode in encoders.items()}
    monkeypatch.setattr(direct, "_encoders", lambda: forced)
    blob = direct.encode_direct(test_digits[:4])
    monkeypatch.undo()
    images, names_blob, header = direct.decode_direct(blob)
    assert header["method"] == method and names_blob == b""
    assert np.array_equal(images, test_digits[:4])


def test_a_damaged_or_truncated_direct_file_is_refused(test_digits):
    blob = direct.encode_direct(test_digits[:2])
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x10
        if position < len(direct.MAGIC):
            assert not direct.is_direct(bytes(damaged))  # then it is not ours at all
            continue
        with pytest.raises(CompressionError):
            decompress(bytes(damaged))
    for length in range(len(blob)):
        with pytest.raises(CompressionError):
            decompress(blob[:length])


def test_a_newer_format_version_is_refused(test_digits):
    blob = bytearray(direct.encode_direct(test_digits[:1]))
    blob[len(direct.MAGIC)] = direct.FORMAT_VERSION + 1
    content = bytes(blob[:-4])
    blob[-4:] = direct.zlib.crc32(content).to_bytes(4, "little")
    with pytest.raises(CompressionError, match="version"):
        direct.decode_direct(bytes(blob))


@settings(max_examples=40, deadline=None)
@given(images=arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(28), st.just(28)), elements=st.integers(0, 1)),
       names_blob=st.binary(max_size=20))
def test_any_binary_images_round_trip_through_the_direct_code(images, names_blob):
    blob = direct.encode_direct(images, names_blob)
    restored, restored_names, header = direct.decode_direct(blob)
    assert np.array_equal(restored, images) and restored_names == names_blob and header["count"] == len(images)
    packed = np.packbits(images.reshape(len(images), -1), axis=1).tobytes()
    assert len(blob) <= len(packed) + len(names_blob) + direct.OVERHEAD_BYTES  # never worse than raw bits
