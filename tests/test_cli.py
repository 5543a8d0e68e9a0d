"""python -m vae: help, exit codes, and the train -> evaluate -> sample path."""

import argparse
import importlib.metadata
import inspect
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from vae import checkpoint, cli, data, evaluation, models, training
from vae.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["train", "train-codec", "evaluate", "sample", "compress", "decompress", "store-float16", "grade"]


def run_module(*args, interpreter_options=(), env=None):
    return subprocess.run([sys.executable, *interpreter_options, "-m", "vae", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_help_works_as_a_module():
    result = run_module("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "evaluate" in result.stdout and "sample" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: python -m vae " + command in capsys.readouterr().out


def imported_heavy_modules(importtime_report: str) -> list[str]:
    """Lines of a ``-X importtime`` report that import TensorFlow, Keras or vae.quiet.

    vae.quiet imports TensorFlow with the process's standard error pointed at
    /dev/null, which hides TensorFlow's own lines from the report: its line
    is the trace of that.
    """
    return [line for line in importtime_report.splitlines()
            if any(name in line for name in ("tensorflow", "keras", "vae.quiet"))]


REPORT_HEAVY_MODULES = """\
import atexit, sys
atexit.register(lambda: print("loaded:", *sorted(n for n in ("tensorflow", "keras") if n in sys.modules),
                              file=sys.stderr))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *([command, "--help"] for command in COMMANDS)],
                         ids=lambda argv: " ".join(argv))
def test_help_and_version_answer_without_importing_tensorflow(argv, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(REPORT_HEAVY_MODULES)  # also asks sys.modules at exit
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = run_module(*argv, interpreter_options=("-X", "importtime"), env=environment)
    assert result.returncode == 0, result.stderr[-500:]
    assert "import time:" in result.stderr  # the report is there to be read
    assert imported_heavy_modules(result.stderr) == []
    assert result.stderr.splitlines()[-1] == "loaded:"


def test_the_vae_script_answers_help_without_importing_tensorflow():
    script = Path(sys.executable).with_name("vae.exe" if os.name == "nt" else "vae")
    if not script.exists():
        pytest.skip("the package is not installed with its 'vae' script")
    result = subprocess.run([script, "train", "--help"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0 and "usage: python -m vae train" in result.stdout
    assert "import time:" in result.stderr and imported_heavy_modules(result.stderr) == []


def test_a_command_imports_tensorflow_silently_before_it_runs():
    result = run_module("sample", "--model", "latent2", "-o", "/nonexistent/x.png",
                        interpreter_options=("-X", "importtime"))
    assert result.returncode == 2
    assert any("vae.quiet" in line for line in result.stderr.splitlines())
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert said == ["python -m vae sample: the folder /nonexistent does not exist"]


def test_version_is_the_installed_distributions_which_is_pyprojects():
    result = run_module("--version")
    installed = importlib.metadata.version("vae-book")
    assert result.returncode == 0 and result.stdout == f"vae-book {installed}\n" and result.stderr == ""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        assert tomllib.load(handle)["project"]["version"] == installed
    import vae
    assert vae.__version__ == installed


def test_the_clis_choices_and_defaults_are_the_packages():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    train = {action.dest: action for action in commands["train"]._actions}
    assert tuple(train["architecture"].choices) == tuple(models.ARCHITECTURES)
    assert tuple(train["learning_rate_schedule"].choices) == tuple(training.LEARNING_RATE_SCHEDULES)
    assert tuple(train["precision"].choices) == tuple(training.PRECISIONS)
    config = training.TrainConfig()
    for field in ("architecture", "latent_dim", "epochs", "batch_size", "learning_rate", "beta",
                  "kl_warmup_epochs", "seed", "learning_rate_schedule", "precision"):
        assert train[field].default == getattr(config, field), field
    from vae.lossy.training import CodecTrainConfig

    train_codec = {action.dest: action for action in commands["train-codec"]._actions}
    codec_config = CodecTrainConfig()
    for field in ("channels", "hyper_channels", "filters", "hyper_filters", "epochs", "batch_size",
                  "learning_rate", "learning_rate_schedule", "seed"):
        assert train_codec[field].default == getattr(codec_config, field), field
    evaluate = {action.dest: action for action in commands["evaluate"]._actions}
    signature = inspect.signature(evaluation.evaluate).parameters
    for field in ("k", "batch_size", "seed"):
        assert evaluate[field].default == signature[field].default, field


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
    (["train", "--name", "x", "--architecture", "ladder", "--latent-dim", "8"], "--latent-dim does not apply"),
    (["train", "--name", "x", "--latent-dims", "8,4"], "--latent-dims applies to --architecture ladder only"),
    (["train", "--name", "x", "--architecture", "ladder", "--latent-dims", "8,0"], "separated by commas"),
    (["train", "--name", "x", "--architecture", "ladder", "--decoder", "pixelcnn"], "needs --architecture conv"),
    (["train", "--name", "x", "--architecture", "ladder", "--prior", "vampprior"],
     "--prior vampprior does not apply to --architecture ladder"),
    (["train", "--name", "x", "--architecture", "ladder", "--activation", "tanh"], "--activation applies"),
    (["train", "--name", "x", "--architecture", "ladder", "--hidden", "8", "16"], "one --hidden width"),
    (["train", "--name", "x", "--free-bits", "1"], "--free-bits applies to --decoder pixelcnn or --architecture ladder"),
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
    assert main(["evaluate", "--checkpoint", str(trained), "--k", "5", "--limit", "50", "--batch-size", "20",
                 "--json", "--record"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["n_images"], figures["k"], figures["batch_size"]) == (50, 5, 20)  # batches decide the draws
    recorded = checkpoint.read_manifest(trained)["evaluations"]["k=5,n=50,seed=0"]
    assert recorded == figures
    model, _ = checkpoint.load_checkpoint(trained)  # recording did not break the checkpoint
    images, _ = data.binarized_test_set(limit=50)
    again = evaluation.evaluate(model, images, k=5, batch_size=recorded["batch_size"], seed=0)
    assert again.nll == pytest.approx(recorded["nll"], abs=1e-9)  # the record suffices to redo it


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


LADDER_RUN = ["--architecture", "ladder", "--latent-dims", "4,2", "--filters", "4", "8", "--hidden", "32",
              "--kl-warmup-epochs", "1", "--free-bits", "0.1", "--epochs", "1", "--batch-size", "1000"]


@pytest.fixture(scope="module")
def ladder_trained(tmp_path_factory):
    """A tiny Ladder VAE (two stochastic layers), one epoch over the 60,000 digits through the CLI."""
    run_dir = tmp_path_factory.mktemp("ladder")
    assert main(["train", "--name", "ladder", "--run-dir", str(run_dir), *LADDER_RUN]) == 0
    return run_dir


def test_train_ladder_records_its_options_and_round_trips_bit_exactly(ladder_trained, tmp_path):
    from vae.ladder import LadderVAE

    model, manifest = checkpoint.load_checkpoint(ladder_trained)
    assert isinstance(model, LadderVAE) and model.latent_dims == (4, 2) and model.free_bits == 0.1
    assert manifest["train_config"]["latent_dim"] == 4 and manifest["train_config"]["kl_warmup_epochs"] == 1
    assert manifest["train_config"]["model_options"] == {"latent_dims": [4, 2], "free_bits": 0.1, "filters": [4, 8],
                                                         "hidden": 32}
    assert json.loads((ladder_trained / "train_config.json").read_text()) == manifest["train_config"]
    assert "val_kl_floored" in manifest["metrics"]
    checkpoint.save_checkpoint(model, tmp_path, {})
    again, _ = checkpoint.load_checkpoint(tmp_path)
    assert same_weights(model, again)
    images = (np.random.default_rng(0).random((3, 28, 28, 1)) < 0.3).astype(np.float32)
    np.testing.assert_array_equal(model.log_weights(images, 4, seed=1), again.log_weights(images, 4, seed=1))


def test_evaluate_and_sample_a_ladder_checkpoint(ladder_trained, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(ladder_trained), "--k", "20", "--limit", "50", "--json",
                 "--record"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert checkpoint.read_manifest(ladder_trained)["evaluations"]["k=20,n=50,seed=0"] == figures
    assert figures["latent_dim"] == 4 and 0 <= figures["active_units"] <= 4
    assert figures["kl"] > 0 and figures["nll"] < -figures["elbo"]  # 20 importance samples beat one
    output = tmp_path / "ladder.npz"
    assert main(["sample", "--checkpoint", str(ladder_trained), "-n", "5", "-o", str(output)]) == 0
    with np.load(output) as archive:
        assert archive["images"].shape == (5, 28, 28, 1)
        assert 0.0 <= archive["images"].min() and archive["images"].max() <= 1.0


def test_a_stopped_ladder_run_resumes(ladder_trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(ladder_trained, run_dir)
    for name in (checkpoint.MANIFEST_FILE, checkpoint.WEIGHTS_FILE):
        (run_dir / name).unlink()
    assert main(["train", "--name", "ladder", "--run-dir", str(run_dir), *LADDER_RUN]) == 0
    assert same_weights(checkpoint.load_checkpoint(run_dir)[0], checkpoint.load_checkpoint(ladder_trained)[0])


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
                   "--hidden", "32", "--latent-dim", "2", "--epochs", "1", "--force"])
    assert status == 1
    assert "another configuration" in capsys.readouterr().err


# -- one overwrite rule: an existing output needs --force ------------------------------------
def assert_refused(capsys, what, status: int) -> None:
    """``status`` is 2, stdout empty, and stderr the one line of the overwrite rule naming ``what``."""
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.startswith("python -m vae ") and captured.err.count("\n") == 1
    assert captured.err.endswith(f": {what} exists; pass --force to overwrite\n"), captured.err


TINY_RUN = ["--architecture", "mlp", "--hidden", "16", "--latent-dim", "2", "--epochs", "1", "--batch-size", "1000"]


def test_train_refuses_to_overwrite_a_finished_checkpoint_and_still_resumes_a_stopped_run(trained, tmp_path,
                                                                                         capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    manifest = (run_dir / checkpoint.MANIFEST_FILE).read_bytes()
    command = ["train", "--name", "tiny", "--run-dir", str(run_dir), *TINY_RUN]
    assert_refused(capsys, f"the checkpoint {run_dir / checkpoint.MANIFEST_FILE}", main(command))
    assert (run_dir / checkpoint.MANIFEST_FILE).read_bytes() == manifest
    # A stopped run has its resume state but no checkpoint yet: the same command continues it.
    for name in (checkpoint.MANIFEST_FILE, checkpoint.WEIGHTS_FILE):
        (run_dir / name).unlink()
    assert main(command) == 0
    model, manifest = checkpoint.load_checkpoint(run_dir)
    assert manifest["epochs"] == 1 and same_weights(model, checkpoint.load_checkpoint(trained)[0])
    # --force rewrites the finished checkpoint (here with the same weights: the run is complete).
    (run_dir / checkpoint.MANIFEST_FILE).write_text("{}")
    assert main([*command, "--force"]) == 0
    assert same_weights(checkpoint.load_checkpoint(run_dir)[0], model)


def same_weights(model, other) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights(), strict=True))


def test_train_refuses_an_out_folder_that_holds_a_checkpoint(trained, tmp_path, capsys):
    out = tmp_path / "shipped"
    shutil.copytree(trained, out)
    weights = (out / checkpoint.WEIGHTS_FILE).read_bytes()
    status = main(["train", "--name", "tiny", "--run-dir", str(tmp_path / "new-run"), "--out", str(out), *TINY_RUN])
    assert_refused(capsys, f"the checkpoint {out / checkpoint.MANIFEST_FILE}", status)
    assert (out / checkpoint.WEIGHTS_FILE).read_bytes() == weights and not (tmp_path / "new-run").exists()


def test_sample_refuses_to_overwrite_without_force(trained, tmp_path, capsys):
    output = tmp_path / "taken.png"
    output.write_bytes(b"keep me")
    assert_refused(capsys, output, main(["sample", "--checkpoint", str(trained), "-n", "4", "-o", str(output)]))
    assert output.read_bytes() == b"keep me"
    assert main(["sample", "--checkpoint", str(trained), "-n", "4", "-o", str(output), "--force"]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_refuses_to_record_over_recorded_figures_without_force(trained, capsys):
    command = ["evaluate", "--checkpoint", str(trained), "--k", "2", "--limit", "10", "--record", "--json"]
    assert main(command) == 0
    first = json.loads(capsys.readouterr().out)
    status = main(command)
    assert_refused(capsys, f"the evaluation k=2,n=10,seed=0 in {trained / checkpoint.MANIFEST_FILE}", status)
    assert main([*command, "--force"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert checkpoint.read_manifest(trained)["evaluations"]["k=2,n=10,seed=0"] == first


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
    captured = capsys.readouterr()
    assert "compressed 30 digits" in captured.out and captured.err == ""  # no progress bar off a terminal
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
    assert_refused(capsys, tmp_path / "taken.vbb", main(["compress", str(source), "-o", str(tmp_path / "taken.vbb")]))
    assert (tmp_path / "taken.vbb").read_bytes() == b"keep me"
    assert main(["compress", str(source), "-o", str(tmp_path / "x.vbb"), "--model", "nope"]) == 2
    assert "no shipped model named 'nope'" in capsys.readouterr().err
    assert main(["compress", str(source), "-o", str(tmp_path / "taken.vbb"), "--force"]) == 0
    assert (tmp_path / "taken.vbb").read_bytes()[:8] != b"keep me"


@pytest.mark.parametrize("count, method", [(1, "direct"), (600, "bits back")])
def test_compress_keeps_the_smaller_of_bits_back_and_the_direct_code_and_decompress_names_it(
        tmp_path, capsys, count, method):
    """One digit gets the direct code, hundreds get bits back; either way the file round-trips through the
    CLI, says which method made it, and is never more than a few dozen bytes above the best of DEFLATE, bz2
    and LZMA on the same digits."""
    from vae import data
    from vae.compression import read_header
    from vae.compression.baselines import baseline_sizes

    images, _ = data.binarized_test_set(limit=count)
    images = images[..., 0].astype(np.uint8)
    np.savez(tmp_path / "digits.npz", images=images)
    assert main(["compress", str(tmp_path / "digits.npz"), "-o", str(tmp_path / "d.vbb")]) == 0
    said = capsys.readouterr().out
    assert f"compressed {count} digits" in said and f"with {method}" in said.replace("the direct code", "direct")
    blob = (tmp_path / "d.vbb").read_bytes()
    assert (read_header(blob)["method"] == "bits-back") == (method == "bits back")
    classical = [size for name, size in baseline_sizes(images).items() if name.split()[0] in ("gzip", "bz2", "lzma")]
    assert len(classical) == 3 and len(blob) <= min(classical) + 36, (len(blob), classical)
    assert main(["decompress", str(tmp_path / "d.vbb"), "-o", str(tmp_path / "back.npz")]) == 0
    said = capsys.readouterr().out
    assert f"restored {count} digits" in said
    assert ("bits back with model conv" in said) == (method == "bits back")
    assert ("direct code (" in said) == (method == "direct")
    with np.load(tmp_path / "back.npz") as restored:
        assert np.array_equal(restored["images"], images)


@pytest.fixture()
def compressed(tmp_path, digits_npz):
    source, images = digits_npz
    assert main(["compress", str(source), "-o", str(tmp_path / "d.vbb")]) == 0
    return tmp_path / "d.vbb", images


def test_decompress_refuses_to_overwrite_an_npz_without_force(tmp_path, compressed, capsys):
    blob, images = compressed
    capsys.readouterr()
    output = tmp_path / "taken.npz"
    output.write_bytes(b"keep me")
    assert_refused(capsys, output, main(["decompress", str(blob), "-o", str(output)]))
    assert output.read_bytes() == b"keep me"
    assert main(["decompress", str(blob), "-o", str(output), "--force"]) == 0
    with np.load(output) as restored:
        assert np.array_equal(restored["images"], images)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.vbb", "digits.npz", "taken.npz"]  # no leftovers


def test_decompress_into_a_folder_that_is_not_empty_needs_force(tmp_path, compressed, capsys):
    blob, images = compressed
    capsys.readouterr()
    folder = tmp_path / "pngs"
    folder.mkdir()
    assert main(["decompress", str(blob), "-o", str(folder)]) == 0  # an empty folder is no overwrite
    assert len(list(folder.glob("*.png"))) == 30
    (folder / "00000.png").write_bytes(b"keep me")
    (folder / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert_refused(capsys, folder, main(["decompress", str(blob), "-o", str(folder)]))
    assert (folder / "00000.png").read_bytes() == b"keep me"
    assert main(["decompress", str(blob), "-o", str(folder), "--force"]) == 0
    assert (folder / "00000.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "notes.txt").read_text() == "mine" and len(list(folder.glob("*.png"))) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.vbb", "digits.npz", "pngs"]  # no staging left


@pytest.mark.parametrize("option", ["--csv", "--junit"])
def test_grade_refuses_to_overwrite_a_report_before_grading_anything(option, tmp_path, capsys):
    submission = tmp_path / "ex02_never_run.ipynb"
    submission.write_text("{}")
    report = tmp_path / "report"
    report.write_text("keep me")
    assert_refused(capsys, report, main(["grade", str(submission), option, str(report)]))
    assert report.read_text() == "keep me"


@pytest.mark.skipif(os.name == "nt", reason="a pseudo-terminal is POSIX")
def test_compress_shows_a_progress_bar_on_a_terminal_only(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    from vae import data

    # All 10,000 digits: several seconds even on a fast machine, well past the bar's 1 s delay
    # (2,000 digits took under a second once the codec got faster, and then no bar is drawn).
    images, _ = data.binarized_test_set()
    np.savez(tmp_path / "many.npz", images=images[..., 0].astype(np.uint8))
    command = [sys.executable, "-m", "vae", "compress", str(tmp_path / "many.npz"), "-o"]
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws to the width
    with subprocess.Popen([*command, str(tmp_path / "tty.vbb")], stdout=subprocess.PIPE, stderr=terminal) as run:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            shown += chunk
        run.wait(timeout=600)
    os.close(controller)
    assert run.returncode == 0
    assert b"compressing" in shown and b"10000/10000" in shown
    piped = subprocess.run([*command, str(tmp_path / "pipe.vbb")], capture_output=True, timeout=600)
    assert piped.returncode == 0 and piped.stderr == b""


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_without_constriction_compress_and_decompress_say_so_in_one_line(command, tmp_path, digits_npz):
    source, _ = digits_npz
    (tmp_path / "d.vbb").write_bytes(b"VAE")
    argv = {"compress": ["compress", str(source), "-o", str(tmp_path / "out.vbb")],
            "decompress": ["decompress", str(tmp_path / "d.vbb"), "-o", str(tmp_path / "out.npz")]}[command]
    script = ("import sys; sys.modules['constriction'] = None\n"  # as on a platform without its wheel
              "from vae.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m vae: error: vae.compression needs the 'constriction' package")
    assert "pip install constriction" in result.stderr
    assert not (tmp_path / "out.vbb").exists() and not (tmp_path / "out.npz").exists()


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
    state = tmp_path / "partial" / "evaluation.npz"
    command = ["evaluate", "--checkpoint", str(trained), "--k", "3", "--limit", "30", "--batch-size", "10",
               "--state", str(state), "--json"]
    assert main(command) == 0
    uninterrupted = json.loads(capsys.readouterr().out)
    assert not state.exists()  # a completed run leaves no partial file

    def interrupt_after_first_batch(self, n=1):  # stands in for Ctrl-C part-way through
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        import tqdm
        patch.setattr(tqdm.std.tqdm, "update", interrupt_after_first_batch)
        assert main(command) == 130
    err = capsys.readouterr().err
    assert "run the same command again to continue" in err
    assert state.is_file()
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "resuming from" in captured.err and json.loads(captured.out) == uninterrupted
    assert not state.exists()


@pytest.mark.parametrize("arguments, message", [
    (["--state", "x.json"], "--state without --subset is an .npz file"),
    (["--subset", "5", "--state", "x.npz"], "--state with --subset is a .json file"),
    (["--minutes", "1"], "--minutes needs --subset"),
])
def test_evaluate_names_a_state_file_of_the_wrong_kind(arguments, message, capsys):
    assert main(["evaluate", "--model", "latent2", "--k", "2", *arguments]) == 2
    assert message in capsys.readouterr().err
