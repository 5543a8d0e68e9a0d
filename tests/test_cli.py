"""python -m vae: help, exit codes, and the train -> evaluate -> sample path."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vae import checkpoint
from vae.cli import main


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "vae", *args], capture_output=True, text=True, timeout=300)


def test_help_works_as_a_module():
    result = run_module("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout and "sample" in result.stdout


@pytest.mark.parametrize("command", ["train", "evaluate", "sample", "compress", "decompress"])
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: python -m vae " + command in capsys.readouterr().out


def test_a_bad_argument_exits_2_with_one_line_and_no_traceback():
    result = run_module("train", "--name", "x", "--epochs", "zero")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--epochs" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("argv, message", [
    ([], "required"),
    (["fly"], "invalid choice"),
    (["train"], "--name"),
    (["train", "--name", "x", "--latent-dim", "0"], "positive integer"),
    (["train", "--name", "x", "--learning-rate", "0"], "> 0"),
    (["train", "--name", "x", "--architecture", "mlp", "--filters", "8", "16"], "--filters applies"),
    (["train", "--name", "x", "--hidden", "8", "16"], "one --hidden width"),
    (["train", "--name", "x", "--architecture", "mlp", "--activation", "wiggle"], "unknown activation"),
    (["evaluate", "--model", "no-such-model"], "no shipped model"),
    (["evaluate", "--model", "a", "--checkpoint", "b"], "not allowed with"),
    (["evaluate", "--checkpoint", "/nonexistent"], "not a checkpoint folder"),
    (["sample", "--checkpoint", "/nonexistent", "-o", "x.gif"], "must end in .png or .npz"),
])
def test_bad_arguments_exit_2_with_a_one_line_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real CLI training run: a tiny MLP, one epoch over the 60,000 digits."""
    run_dir = tmp_path_factory.mktemp("run")
    status = main(["train", "--name", "tiny", "--run-dir", str(run_dir), "--architecture", "mlp",
                   "--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--batch-size", "1000"])
    assert status == 0
    return run_dir


def test_train_writes_a_loadable_checkpoint_and_records_the_command(trained):
    model, manifest = checkpoint.load_checkpoint(trained)
    assert model.latent_dim == 2 and manifest["epochs"] == 1
    assert manifest["command"] == (f"python -m vae train --name tiny --run-dir {trained} --architecture mlp "
                                   "--hidden 16 --latent-dim 2 --epochs 1 --batch-size 1000")


def test_evaluate_prints_json_and_can_record_it(trained, capsys):
    assert main(["evaluate", "--checkpoint", str(trained), "--k", "5", "--limit", "50", "--json",
                 "--record"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["n_images"] == 50 and figures["k"] == 5
    recorded = checkpoint.read_manifest(trained)["evaluations"]["k=5,n=50,seed=0"]
    assert recorded == figures
    checkpoint.load_checkpoint(trained)  # recording did not break the checkpoint


def test_evaluate_prints_a_readable_table(trained, capsys):
    assert main(["evaluate", "--checkpoint", str(trained), "--k", "2", "--limit", "20"]) == 0
    out = capsys.readouterr().out
    assert "NLL (importance weighted)" in out and "active units" in out


@pytest.mark.parametrize("suffix", [".png", ".npz"])
def test_sample_writes_images(trained, tmp_path, suffix):
    output = tmp_path / f"samples{suffix}"
    assert main(["sample", "--checkpoint", str(trained), "-n", "6", "-o", str(output)]) == 0
    if suffix == ".npz":
        with np.load(output) as archive:
            assert archive["images"].shape == (6, 28, 28, 1)
    else:
        assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_corrupted_checkpoint_exits_1_with_one_line_and_writes_nothing(trained, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in (checkpoint.WEIGHTS_FILE, checkpoint.MANIFEST_FILE):
        (broken / name).write_bytes((trained / name).read_bytes())
    (broken / checkpoint.WEIGHTS_FILE).write_bytes(b"not hdf5")
    output = tmp_path / "out.png"
    assert main(["sample", "--checkpoint", str(broken), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert "does not match its manifest" in err and err.strip().count("\n") == 0
    assert not output.exists()


def test_a_run_folder_of_another_run_exits_1(trained, capsys):
    status = main(["train", "--name", "tiny", "--run-dir", str(trained), "--architecture", "mlp",
                   "--hidden", "32", "--latent-dim", "2", "--epochs", "1"])
    assert status == 1
    assert "another configuration" in capsys.readouterr().err


# -- compress / decompress ---------------------------------------------------------------
@pytest.fixture()
def digits_npz(tmp_path):
    from vae import data

    images, _ = data.binarized_test_set(limit=30)
    path = tmp_path / "digits.npz"
    np.savez(path, images=images[..., 0].astype(np.uint8))
    return path, images[..., 0]


def test_compress_then_decompress_to_npz_and_to_pngs(tmp_path, digits_npz, capsys):
    source, images = digits_npz
    assert main(["compress", str(source), "-o", str(tmp_path / "d.vbb"), "--model", "conv"]) == 0
    assert "compressed 30 digits" in capsys.readouterr().out
    assert main(["decompress", str(tmp_path / "d.vbb"), "-o", str(tmp_path / "back.npz")]) == 0
    with np.load(tmp_path / "back.npz") as restored:
        assert np.array_equal(restored["images"], images)
    assert main(["decompress", str(tmp_path / "d.vbb"), "-o", str(tmp_path / "pngs")]) == 0
    assert len(list((tmp_path / "pngs").glob("*.png"))) == 30
    # a PNG folder compresses too, and its file names come back
    assert main(["compress", str(tmp_path / "pngs"), "-o", str(tmp_path / "p.vbb")]) == 0
    assert main(["decompress", str(tmp_path / "p.vbb"), "-o", str(tmp_path / "again")]) == 0
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
        p.name for p in (tmp_path / "pngs").iterdir())


def test_compress_refuses_to_overwrite_and_unknown_models(tmp_path, digits_npz, capsys):
    source, _ = digits_npz
    (tmp_path / "taken.vbb").write_bytes(b"keep me")
    assert main(["compress", str(source), "-o", str(tmp_path / "taken.vbb")]) == 2
    assert (tmp_path / "taken.vbb").read_bytes() == b"keep me"
    assert main(["compress", str(source), "-o", str(tmp_path / "x.vbb"), "--model", "nope"]) == 2
    assert "no shipped model named 'nope'" in capsys.readouterr().err


def test_damaged_or_foreign_files_exit_1_with_one_line(tmp_path, digits_npz):
    source, _ = digits_npz
    assert main(["compress", str(source), "-o", str(tmp_path / "d.vbb")]) == 0
    blob = (tmp_path / "d.vbb").read_bytes()
    (tmp_path / "cut.vbb").write_bytes(blob[:-7])
    (tmp_path / "grey.npz").write_bytes(b"")
    np.savez(tmp_path / "grey.npz", images=np.full((2, 28, 28), 0.5))
    for argv in (["decompress", str(tmp_path / "cut.vbb"), "-o", str(tmp_path / "o.npz")],
                 ["compress", str(tmp_path / "grey.npz"), "-o", str(tmp_path / "g.vbb")]):
        result = run_module(*argv)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "g.vbb").exists()


def test_evaluate_resumes_an_interrupted_run(trained, tmp_path, capsys):
    resume_dir = tmp_path / "partial"
    command = ["evaluate", "--checkpoint", str(trained), "--k", "3", "--limit", "30", "--batch-size", "10",
               "--resume-dir", str(resume_dir), "--json"]
    assert main(command) == 0
    uninterrupted = json.loads(capsys.readouterr().out)
    assert not any(resume_dir.glob("*"))  # a completed run leaves no partial file

    def interrupt_after_first_batch(self, n=1):  # stands in for Ctrl-C part-way through
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        import tqdm
        patch.setattr(tqdm.std.tqdm, "update", interrupt_after_first_batch)
        assert main(command) == 130
    err = capsys.readouterr().err
    assert "run the same command again to continue" in err
    assert len(list(resume_dir.glob("*.npz"))) == 1
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "resuming from" in captured.err and json.loads(captured.out) == uninterrupted
    assert not any(resume_dir.glob("*"))
