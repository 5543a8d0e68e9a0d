"""Exact integer arithmetic for the decoder's networks, so every machine decodes the same bits.

The decoder must compute the same scale *index* for every latent as the
encoder did, and the same reconstruction. A float network does not promise
that: another thread count, BLAS or CPU sums in another order and can move a
value across a boundary. Here the decoder's networks (the synthesis g_s and
the hyper-synthesis h_s, see :mod:`vae.lossy.transforms`) are run on a
dyadic grid where float64 arithmetic is *exact*:

* every weight is rounded to a multiple of ``2**-WEIGHT_BITS`` and stored as
  an integer;
* every activation is rounded to a multiple of ``2**-ACTIVATION_BITS`` and
  clipped to ``±ACTIVATION_LIMIT`` after each convolution (the inputs, the
  quantized latents, are integers);
* so each product is a multiple of ``2**-(WEIGHT_BITS + ACTIVATION_BITS)``
  with few significant bits, and every partial sum of a convolution stays
  below ``2**53`` units of that grid (:func:`quantize` checks the bound for
  every layer). A float64 sum of such numbers has no rounding error, in
  any order, with or without fused multiply-add: the result is the same
  number on every machine and thread count.

Rounding (``np.rint``, half to even) and clipping of an exact value are
exact too, and no transcendental function is evaluated on the decoder's
path (the scale ladder compares log σ with fixed boundaries).

The quantized network differs from the float one it comes from by about
``2**-WEIGHT_BITS`` per weight: negligible for the rate and the distortion,
and the codec reports what this exact network reconstructs.

Introduced in chapter 10.
"""

from __future__ import annotations

import numpy as np

WEIGHT_BITS = 16
ACTIVATION_BITS = 12
ACTIVATION_LIMIT = 2.0 ** 14
_EXACT_LIMIT = 2.0 ** 53


def _layer_ops(network) -> list[dict]:
    """The operations of a Keras Sequential made of the layers :mod:`vae.lossy.transforms` allows."""
    ops = []
    for layer in network.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            if layer.strides != (1, 1) or layer.padding != "same" or kernel.shape[0] % 2 == 0 \
                    or kernel.shape[0] != kernel.shape[1] or layer.dilation_rate != (1, 1):
                raise ValueError(f"{layer.name}: only odd square stride-1 'same' convolutions can run exactly")
            activation = layer.activation.__name__
            if activation not in ("relu", "linear"):
                raise ValueError(f"{layer.name}: activation {activation!r} cannot run exactly (relu or linear)")
            ops.append({"op": "conv", "kernel": kernel, "bias": bias, "relu": activation == "relu"})
        elif kind in ("UpSampling2D", "NearestUpSampling2D"):
            if tuple(layer.size) != (2, 2) or layer.interpolation != "nearest":
                raise ValueError(f"{layer.name}: only nearest 2x upsampling can run exactly")
            ops.append({"op": "up2"})
        elif kind == "Cropping2D":
            (top, bottom), (left, right) = layer.cropping
            ops.append({"op": "crop", "crop": [int(top), int(bottom), int(left), int(right)]})
        else:
            raise ValueError(f"layer {layer.name} ({kind}) cannot run exactly")
    return ops


def quantize(network) -> list[dict]:
    """The integer form of a decoder network: a list of ops with int64 kernels and biases.

    Each conv op is ``{"op": "conv", "kernel": int64 (k, k, in, out) in units of
    2**-WEIGHT_BITS, "bias": int64 (out,) in the same units, "relu": bool}``;
    the others are ``{"op": "up2"}`` and ``{"op": "crop", "crop": [top, bottom, left, right]}``.

    Raises:
        ValueError: a layer that cannot run exactly, or weights so large
            that a convolution's sums could exceed float64's exact range.

    Introduced in chapter 10.
    """
    ops = []
    for op in _layer_ops(network):
        if op["op"] == "conv":
            kernel = np.rint(op["kernel"] * 2.0 ** WEIGHT_BITS).astype(np.int64)
            bias = np.rint(op["bias"] * 2.0 ** WEIGHT_BITS).astype(np.int64)
            _check_exact(kernel, bias)
            op = {**op, "kernel": kernel, "bias": bias}
        ops.append(op)
    return ops


def _check_exact(kernel: np.ndarray, bias: np.ndarray) -> None:
    """Raise if a sum of this convolution could leave the range where float64 is exact."""
    # in units of 2**-(WEIGHT_BITS + ACTIVATION_BITS): |sum| <= sum|w| * limit * 2**ACTIVATION_BITS + |b| * 2**ACTIVATION_BITS
    per_output = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0).astype(np.float64)
    worst = float(np.max(per_output * ACTIVATION_LIMIT * 2.0 ** ACTIVATION_BITS
                         + np.abs(bias) * 2.0 ** ACTIVATION_BITS))
    if worst >= _EXACT_LIMIT:
        raise ValueError(f"a convolution's sums could reach {worst:.3g} grid units, beyond float64's "
                         f"exact range 2**53: the weights are too large to run exactly")


def _conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'same' stride-1 convolution of ``x`` ``(n, h, w, in)`` with ``kernel`` ``(k, k, in, out)``, float64."""
    k = kernel.shape[0]
    pad = k // 2
    n, h, w, channels = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2))  # (n, h, w, in, k, k)
    columns = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, k * k * channels)
    return (columns @ kernel.reshape(k * k * channels, -1)).reshape(n, h, w, -1)


RUN_CHUNK = 128
"""Images per pass of :func:`run` (bounds the memory of the unrolled convolutions; results do not depend on it)."""


def run(ops: list[dict], inputs) -> np.ndarray:
    """Run a quantized network on ``inputs`` ``(n, h, w, c)`` (integers, or values on the activation grid).

    Returns:
        float64 ``(n, h', w', c')``: the last layer's outputs, multiples of
        ``2**-ACTIVATION_BITS``, identical on every machine and thread count.

    Introduced in chapter 10.
    """
    inputs = np.asarray(inputs, np.float64)
    if len(inputs) > RUN_CHUNK:
        return np.concatenate([_run_chunk(ops, inputs[start:start + RUN_CHUNK])
                               for start in range(0, len(inputs), RUN_CHUNK)])
    return _run_chunk(ops, inputs)


def _run_chunk(ops: list[dict], inputs: np.ndarray) -> np.ndarray:
    x = np.clip(inputs, -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
    unit = 2.0 ** -WEIGHT_BITS
    for op in ops:
        if op["op"] == "conv":
            x = _conv_same(x, op["kernel"].astype(np.float64) * unit) + op["bias"].astype(np.float64) * unit
            if op["relu"]:
                x = np.maximum(x, 0.0)
            x = np.clip(np.rint(x * 2.0 ** ACTIVATION_BITS) / 2.0 ** ACTIVATION_BITS,
                        -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
        elif op["op"] == "up2":
            x = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
        elif op["op"] == "crop":
            top, bottom, left, right = op["crop"]
            x = x[:, top:x.shape[1] - bottom, left:x.shape[2] - right, :]
        else:  # pragma: no cover - quantize makes only these
            raise ValueError(f"unknown op {op['op']!r}")
    return x
