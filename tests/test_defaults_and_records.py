"""vae.defaults (the choices and defaults the CLI reads) and the evaluation record's writer beside its reader."""

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from vae import checkpoint, defaults, evaluation, models, pretrained, training

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_reads_its_choices_and_defaults_from_vae_defaults():
    assert tuple(models.ARCHITECTURES) == defaults.ARCHITECTURES
    assert training.LEARNING_RATE_SCHEDULES == defaults.LEARNING_RATE_SCHEDULES
    assert training.PRECISIONS == defaults.PRECISIONS
    config = training.TrainConfig()
    assert {name: getattr(config, name) for name in defaults.TRAINING} == dict(defaults.TRAINING)
    # besides the defaults: the model's own options, and the checkpoint a run may start from (None)
    assert {f.name for f in dataclasses.fields(training.TrainConfig)} == \
        set(defaults.TRAINING) | {"model_options", "init_from"}
    assert config.init_from is None
    conv, mlp = models.ConvVAE(), models.MLPVAE()
    assert (conv.filters, conv.hidden) == (defaults.CONV_OPTIONS["filters"], defaults.CONV_OPTIONS["hidden"])
    assert (mlp.hidden, mlp.activation) == (defaults.MLP_OPTIONS["hidden"], defaults.MLP_OPTIONS["activation"])
    parameters = inspect.signature(evaluation.evaluate).parameters
    assert {name: parameters[name].default for name in defaults.EVALUATION} == dict(defaults.EVALUATION)


def test_defaults_and_the_number_checks_load_without_tensorflow():
    script = ("import importlib.util, sys\n"
              "for name in ('defaults', 'checks'):\n"
              "    spec = importlib.util.spec_from_file_location(name, 'vae/' + name + '.py')\n"
              "    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
              "assert module.check_int(3, 'n', minimum=1) == 3 and module.check_number(0.5, 'beta') == 0.5\n"
              "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout == "False\n"


def test_an_evaluation_is_recorded_and_read_back_in_one_module(tmp_path, mlp_model, binary_images):
    folder = tmp_path / "checkpoint"
    checkpoint.save_checkpoint(mlp_model, folder, {"command": None})
    figures = evaluation.evaluate(mlp_model, binary_images, k=2, batch_size=4, seed=3).as_dict()
    assert pretrained.recorded_evaluation(folder, 2, len(binary_images), seed=3) is None
    key = pretrained.record_evaluation(folder, figures, seed=3)
    assert key == checkpoint.evaluation_key(2, len(binary_images), 3)
    assert pretrained.recorded_evaluation(folder, 2, len(binary_images), seed=3) == figures
    with pytest.raises(ValueError, match="already holds"):
        pretrained.record_evaluation(folder, figures, seed=3)
    changed = {**figures, "nll": 1.0}
    pretrained.record_evaluation(folder, changed, seed=3, replace=True)
    assert pretrained.recorded_evaluation(folder, 2, len(binary_images), seed=3)["nll"] == 1.0
    checkpoint.load_checkpoint(folder)  # the weights still match the rewritten manifest


def test_the_shipped_records_read_by_name_as_before():
    assert pretrained.recorded_evaluation("conv", 5000, 10_000)["k"] == 5000
