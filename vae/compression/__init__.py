"""Lossless compression of binary digits with a trained VAE (bits-back ANS).

Chapter 9 explains the method; the modules are small:

- :mod:`vae.compression.bitsback`: what is pushed and popped per batch;
- :mod:`vae.compression.container`: the file format and its checks;
- :mod:`vae.compression.codec`: the codec and the one-call helpers;
- :mod:`vae.compression.baselines`: the general-purpose compressors we compare with;
- :mod:`vae.compression.files`: reading and writing ``.npz`` files and PNG folders.
"""

from vae.compression.bitsback import LatentGrid
from vae.compression.codec import (BitsBackCodec, Decompressed, binary_images, bits_per_dim, compress,
                                   decompress, read_header)
from vae.compression.container import CompressionError

__all__ = ["BitsBackCodec", "CompressionError", "Decompressed", "LatentGrid", "binary_images",
           "bits_per_dim", "compress", "decompress", "read_header"]
