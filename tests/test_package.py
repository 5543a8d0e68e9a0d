"""The package as a whole: importing is silent, public names are documented."""

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import vae

MODULES = [name for _, name, _ in pkgutil.iter_modules(vae.__path__) if not name.startswith("_")]


def public_names(module):
    for name, value in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if getattr(value, "__module__", None) == module.__name__:
            yield name, value


def test_importing_vae_prints_nothing():
    result = subprocess.run([sys.executable, "-c", "import vae; vae.quiet(0); import tensorflow as tf; "
                             "print(float(tf.reduce_sum(tf.ones(3))))"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout == "3.0\n"
    assert result.stderr == ""


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_function_and_class_names_its_chapter(module_name):
    module = importlib.import_module(f"vae.{module_name}")
    assert module.__doc__, f"vae.{module_name} has no module docstring"
    undocumented = [name for name, value in public_names(module)
                    if not re.search(r"Introduced in chapter \d+", inspect.getdoc(value) or "")
                    and not issubclass_of_exception(value) and module_name != "cli"]
    assert undocumented == []


def issubclass_of_exception(value):
    return inspect.isclass(value) and issubclass(value, Exception)


def test_quiet_refuses_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        vae.quiet(-1)


def test_devices_can_still_be_configured_after_importing_vae():
    """Importing vae must not start TensorFlow's runtime (GPU users set memory growth first)."""
    script = ("import vae; import tensorflow as tf; "
              "cpu = tf.config.list_physical_devices('CPU')[0]; "
              "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2); "
              "print(len(tf.config.list_logical_devices('CPU')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout == "2\n" and result.stderr == ""
