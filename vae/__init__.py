"""vae: the tested TensorFlow package behind *VAEs: Compression and Generation*.

Importing it imports TensorFlow silently (see :mod:`vae.quiet`). The one
exception is the command line (``python -m vae`` or the ``vae`` script):
there :mod:`vae.cli` imports TensorFlow, just as silently, only once a
command runs, so ``--help`` and ``--version`` answer at once.

``vae.__version__`` is the installed distribution's version (``vae-book``);
``pyproject.toml`` is its one source.
"""

import os
import sys

__all__ = ["quiet", "silenced_stderr", "__version__"]
_DISTRIBUTION = "vae-book"


def _module_run_by_dash_m(arguments: list[str]) -> str | None:
    """The MODULE of ``python ... -m MODULE ...`` in the interpreter's own arguments, else None."""
    for index, argument in enumerate(arguments[1:], start=1):
        if argument == "-m":
            return arguments[index + 1] if index + 1 < len(arguments) else None
        if argument.startswith("-m"):
            return argument[2:]
    return None


def _started_as_command_line() -> bool:
    """True when this process is ``python -m vae[.cli]`` or the ``vae`` console script.

    While ``python -m`` locates its module, ``sys.argv[0]`` is ``"-m"`` and
    the module's packages are being imported; a console script's
    ``sys.argv[0]`` is the script itself.
    """
    argv = getattr(sys, "argv", None) or [""]
    if argv[0] == "-m":
        module = _module_run_by_dash_m(getattr(sys, "orig_argv", []))
        return module is not None and (module == "vae" or module.startswith("vae."))
    return os.path.splitext(os.path.basename(argv[0]))[0].lower() == "vae"


def _version() -> str:
    """The installed version; in a source tree that is not installed, the version in its pyproject.toml."""
    from importlib import metadata

    try:
        return metadata.version(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
        try:
            with open(pyproject, "rb") as handle:
                return str(tomllib.load(handle)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str):
    """``__version__`` on first use; ``quiet`` and ``silenced_stderr`` when the command line deferred them."""
    if name == "__version__":
        globals()["__version__"] = version = _version()
        return version
    if name in ("quiet", "silenced_stderr"):
        import vae.quiet  # imports TensorFlow silently

        module = sys.modules["vae.quiet"]
        globals().update(quiet=module.quiet, silenced_stderr=module.silenced_stderr)
        return globals()[name]
    raise AttributeError(f"module 'vae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if not _started_as_command_line():
    from vae.quiet import quiet, silenced_stderr  # first: imports TensorFlow silently
