"""A small PixelCNN over the VQ-VAE's index grid: masked convolutions giving K-way logits per position.

The prior reads the grid of codebook indices ``(batch, 7, 7)`` in raster
order (row by row, left to right): each index is embedded as an
``E``-vector, a type-A masked convolution (each position sees only the
positions before it) is followed by type-B ones (which also see their own
position's features) and a 1x1 convolution to ``K`` logits. The output at
a position then depends only on the indices before it, so

    log p(indices) = Σ_positions log softmax(logits)[index]

is an exact autoregressive likelihood, computed for the whole grid in one
pass (training, encoding) or position by position (decoding, sampling).

Every layer is a stride-1 "same" convolution with an odd square kernel
and ReLU or no activation, so the prior runs in exact integer arithmetic
(:func:`exact_ops` and :func:`vae.lossy.exact.run`): encoder and decoder
see the same logits bit for bit on any machine (chapter 10).

Introduced in chapter 10.
"""

from __future__ import annotations

import keras
import numpy as np

from vae.lossy import exact


def causal_mask(size: int, include_centre: bool) -> np.ndarray:
    """float32 ``(size, size, 1, 1)``: 1 where a kernel may look (rows above; left in the centre row).

    Type A (``include_centre=False``) hides the centre, type B shows it.
    Introduced in chapter 10.
    """
    mask = np.zeros((size, size, 1, 1), np.float32)
    centre = size // 2
    mask[:centre] = 1.0
    mask[centre, :centre + int(include_centre)] = 1.0
    return mask


class MaskedConv2D(keras.layers.Conv2D):
    """A stride-1 "same" convolution whose kernel is multiplied by a causal mask (type ``"A"`` or ``"B"``).

    Introduced in chapter 10.
    """

    def __init__(self, filters: int, kernel_size: int, mask_type: str = "B", **kwargs):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.mask_type = mask_type
        self.mask = causal_mask(kernel_size, mask_type == "B")

    def masked_kernel(self):
        return self.kernel * self.mask

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.masked_kernel()) + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self) -> dict:
        config = super().get_config()
        return {"filters": config["filters"], "kernel_size": config["kernel_size"][0], "mask_type": self.mask_type,
                "activation": config["activation"], "name": config["name"]}


def pixelcnn(codebook_size: int, grid: int = 7, embedding: int = 32, filters: int = 64,
             layers: int = 3, first_kernel: int = 5) -> keras.Sequential:
    """The prior: ``(batch, grid, grid)`` int indices -> ``(batch, grid, grid, codebook_size)`` logits.

    Embedding ``E`` -> type-A masked conv ``first_kernel`` (ReLU) -> ``layers - 1``
    type-B masked 3x3 convs (ReLU) -> 1x1 conv to the logits. Introduced in chapter 10.
    """
    stack = [keras.Input((grid, grid), dtype="int32"),
             keras.layers.Embedding(codebook_size, embedding, name="prior_embedding"),
             MaskedConv2D(filters, first_kernel, "A", activation="relu", name="prior_a")]
    stack += [MaskedConv2D(filters, 3, "B", activation="relu", name=f"prior_b{i}") for i in range(1, layers)]
    stack.append(keras.layers.Conv2D(codebook_size, 1, name="prior_logits"))
    return keras.Sequential(stack, name="prior")


def exact_ops(prior: keras.Sequential) -> tuple[np.ndarray, list[dict]]:
    """The prior in integer form for :func:`vae.lossy.exact.run`: ``(embedding, ops)``.

    ``embedding`` is int64 ``(K, E)`` in units of ``2**-exact.ACTIVATION_BITS``
    (the inputs of :func:`vae.lossy.exact.run` lie on that grid); ``ops`` are
    conv ops with the masks applied, kernels and biases int64 in units of
    ``2**-exact.WEIGHT_BITS``. Introduced in chapter 10.
    """
    layers = prior.layers
    if not isinstance(layers[0], keras.layers.Embedding):
        raise ValueError("the prior must start with its embedding")
    table = np.asarray(layers[0].get_weights()[0], np.float64)
    embedding = np.rint(np.clip(table, -exact.ACTIVATION_LIMIT, exact.ACTIVATION_LIMIT)
                        * 2.0 ** exact.ACTIVATION_BITS).astype(np.int64)
    ops = []
    for layer in layers[1:]:
        kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
        if isinstance(layer, MaskedConv2D):
            kernel = kernel * layer.mask
        elif type(layer).__name__ != "Conv2D" or layer.kernel_size[0] != 1:
            raise ValueError(f"layer {layer.name} cannot run exactly")
        activation = layer.activation.__name__
        if activation not in ("relu", "linear"):
            raise ValueError(f"{layer.name}: activation {activation!r} cannot run exactly")
        kernel = np.rint(kernel * 2.0 ** exact.WEIGHT_BITS).astype(np.int64)
        bias = np.rint(bias * 2.0 ** exact.WEIGHT_BITS).astype(np.int64)
        exact._check_exact(kernel, bias)
        ops.append({"op": "conv", "kernel": kernel, "bias": bias, "relu": activation == "relu"})
    return embedding, ops


def exact_logits(embedding: np.ndarray, ops: list[dict], indices: np.ndarray) -> np.ndarray:
    """Logits ``(n, rows, cols, K)`` float64 (multiples of ``2**-ACTIVATION_BITS``) of index grids ``(n, rows, cols)``.

    Identical on every machine and thread count. A grid cut below any row
    gives the same logits on the rows it keeps (the masks never look down).
    Introduced in chapter 10.
    """
    inputs = embedding[np.asarray(indices, np.int64)].astype(np.float64) / 2.0 ** exact.ACTIVATION_BITS
    return exact.run(ops, inputs)
