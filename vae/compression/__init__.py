"""Lossless compression of binary digits with a trained VAE (bits-back ANS).

Chapter 9 explains the method; the modules are small:

- :mod:`vae.compression.bitsback`: what is pushed and popped per batch;
- :mod:`vae.compression._autoregressive`: the pixels of a PixelCNN decoder
  (chapter 11), pushed at once and popped one by one;
- :mod:`vae.compression._hierarchical`: every layer of a Ladder VAE (chapter 11);
- :mod:`vae.compression._mixture`: the codes under a VampPrior (chapter 11),
  pushed under one mixture component with bits back on which;
- :mod:`vae.compression.container`: the file format and its checks;
- :mod:`vae.compression.codec`: the codec and the one-call helpers;
- :mod:`vae.compression.direct`: the model-free direct code that small files fall back to;
- :mod:`vae.compression.baselines`: the general-purpose compressors we compare with;
- :mod:`vae.compression.files`: reading and writing ``.npz`` files and PNG folders.

The ANS coder is the ``constriction`` package. Where it is missing (it has
no wheel for every platform), importing this package raises
:class:`MissingDependencyError`, an ``ImportError`` whose message is one
sentence saying what to do.
"""

import platform
import sys


class MissingDependencyError(ImportError):
    """A package that :mod:`vae.compression` needs is not installed or cannot be loaded."""


def _missing_constriction(error: ImportError) -> MissingDependencyError:
    """The one-sentence error for a missing (or installed but unloadable) ``constriction``."""
    where = f"{platform.system()} {platform.machine()}, Python {sys.version_info.major}.{sys.version_info.minor}"
    if isinstance(error, ModuleNotFoundError):
        state = f"is not installed here ({where}; it has no wheel for some platforms, such as Linux aarch64)"
        remedy = "run 'pip install constriction' (where it has no wheel, pip builds it with a Rust toolchain)"
    else:
        reason = (str(error).splitlines() or ["unknown error"])[0]
        state = f"is installed but cannot be loaded here ({where}: {reason})"
        remedy = "reinstall it with 'pip install --force-reinstall constriction'"
    return MissingDependencyError(f"vae.compression needs the 'constriction' package, which {state}: {remedy}, "
                                  "or see the book's Setup page", name="constriction")


try:
    import constriction  # noqa: F401  (the ANS coder of codec and bitsback)
except ImportError as _error:
    raise _missing_constriction(_error) from None

from vae.compression.bitsback import LatentGrid  # noqa: E402
from vae.compression.codec import (BitsBackCodec, Decompressed, binary_images, bits_per_dim,  # noqa: E402
                                   compress, decompress, read_header)
from vae.compression.container import CompressionError  # noqa: E402
from vae.compression._hierarchical import borrowed_bits_per_layer  # noqa: E402

__all__ = ["BitsBackCodec", "CompressionError", "Decompressed", "LatentGrid", "MissingDependencyError",
           "binary_images", "bits_per_dim", "borrowed_bits_per_layer", "compress", "decompress", "read_header"]
