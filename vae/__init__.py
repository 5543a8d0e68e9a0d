"""vae: the tested TensorFlow package behind *VAEs: Compression and Generation*.

Importing it imports TensorFlow silently (see :mod:`vae.quiet`).
"""

from vae.quiet import quiet, silenced_stderr  # first: imports TensorFlow silently

__version__ = "0.1.0"

__all__ = ["quiet", "silenced_stderr", "__version__"]
