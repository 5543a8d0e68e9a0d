"""compress --test-set --record: the test set's file measured once, round trip checked, kept in the manifest."""

import json
import shutil

import numpy as np
import pytest

from vae import data, pretrained
from vae.cli import main
from vae.compression import BitsBackCodec, bits_per_dim, read_header, record


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A copy of the shipped latent2 checkpoint, with the test set compressed and recorded by the CLI."""
    folder = tmp_path_factory.mktemp("record") / "latent2"
    shutil.copytree(pretrained.checkpoint_dir("latent2"), folder)
    blob_path = folder.parent / "test.vbb"
    assert main(["compress", "--test-set", "--checkpoint", str(folder), "--batch-size", "500", "--record",
                 "-o", str(blob_path)]) == 0
    return folder, blob_path


def test_the_record_describes_the_file_that_was_written(recorded):
    folder, blob_path = recorded
    blob = blob_path.read_bytes()
    (key, figures), = record.recorded_compression(folder).items()
    assert key == record.compression_key(500) == "bits-back,test-set,batch_size=500"
    rates, header = bits_per_dim(blob), read_header(blob)
    assert figures["bytes"] == len(blob) and figures["bits_per_dim"] == rates["total"]
    assert figures["net_bits_per_dim"] == rates["net"] < figures["bits_per_dim"]
    assert (figures["count"], figures["batch_size"], figures["exact_round_trip"]) == (10_000, 500, True)
    assert header["method"] == "bits-back"  # never the direct code, whatever its size
    manifest = json.loads((folder / "manifest.json").read_text())
    assert figures["weights_sha256"] == header["weights_sha256"] == manifest["weights_sha256"]
    assert figures["compress_seconds"] > 0 and figures["decompress_seconds"] > 0


def test_the_recorded_file_holds_the_binarized_test_set(recorded):
    folder, blob_path = recorded
    images, _ = data.binarized_test_set()
    codec = BitsBackCodec.from_checkpoint(folder, batch_size=500)
    assert np.array_equal(codec.decompress(blob_path.read_bytes()).images, images[..., 0].astype(np.uint8))


def test_a_second_record_of_the_same_setting_needs_force(recorded, capsys):
    folder, blob_path = recorded
    before = (folder / "manifest.json").read_text()
    arguments = ["compress", "--test-set", "--checkpoint", str(folder), "--batch-size", "500", "--record",
                 "-o", str(blob_path.with_name("again.vbb"))]
    assert main(arguments) == 2
    assert "already records bits-back,test-set,batch_size=500; add --force" in capsys.readouterr().err
    assert (folder / "manifest.json").read_text() == before
    assert not blob_path.with_name("again.vbb").exists()


def test_figures_of_other_weights_are_refused(recorded):
    folder, _ = recorded
    (_, figures), = record.recorded_compression(folder).items()
    with pytest.raises(ValueError, match="other weights"):
        record.record_compression(folder, {**figures, "weights_sha256": "0" * 64}, replace=True)


@pytest.mark.parametrize("arguments, message", [
    (["compress", "-o", "x.vbb"], "give either INPUT or --test-set"),
    (["compress", "digits.npz", "--test-set", "-o", "x.vbb"], "give either INPUT or --test-set"),
    (["compress", "digits.npz", "--record", "-o", "x.vbb"], "--record needs --test-set"),
    (["compress", "--test-set", "--model", "hyperprior-q2", "-o", "x.vbb"], "--test-set is for the lossless"),
])
def test_bad_combinations_are_refused_with_a_reason(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.vbb").exists()

