"""Diagrams of the book's ideas, drawn with matplotlib.

Introduced in chapter 3. Every figure here is a picture of an idea, not a
plot of data: the graphical model of a VAE, the reparameterization trick as
a computation graph, a convolutional VAE with the shape of every tensor, the
bits-back stack and the rate-distortion plane. They read on the site's light
and dark themes alike: the background is transparent, text sits inside
filled boxes (dark text on light fills), and lines and free text are a
mid grey that shows on white and on near-black.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = [
    "graphical_model",
    "reparameterization_graph",
    "network_shapes",
    "bits_back_stack",
    "rate_distortion_plane",
]

GREY = "#6e6e6e"  # lines and free text: readable on white, on the site's dark-mode image card and on near-black
INK = "#1a1a1a"  # text inside the light fills
FILLS = {"data": "#9ecae1", "latent": "#fdd0a2", "net": "#c7e9c0", "noise": "#dadaeb", "loss": "#fcbba1"}
GRADIENT = "#e6550d"


def _canvas(width: float, height: float, xlim: tuple, ylim: tuple):
    """A transparent figure with one axis-free panel in data coordinates."""
    fig, ax = plt.subplots(figsize=(width, height))
    fig.patch.set_alpha(0.0)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x: float, y: float, text: str, kind: str, width: float = 1.6, height: float = 0.7,
         fontsize: float = 10) -> None:
    """A rounded box of colour FILLS[kind] centred at (x, y), with dark text."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.05,rounding_size=0.12", facecolor=FILLS[kind],
                                edgecolor=GREY, linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", color=INK, fontsize=fontsize)


def _arrow(ax, start, end, color: str = GREY, style: str = "-", text: str | None = None,
           offset: tuple = (0.0, 0.25), rad: float = 0.0) -> None:
    """An arrow from ``start`` to ``end``, optionally labelled beside its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color,
                                 linestyle=style, linewidth=1.6, connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=0, shrinkB=0))
    if text:
        mid = ((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1])
        ax.text(*mid, text, ha="center", va="center", color=color, fontsize=9.5)


def graphical_model():
    """The VAE as a graphical model: p(z) p_θ(x|z) generates, q_φ(z|x) infers.

    Returns the matplotlib figure (transparent background). Introduced in chapter 3.
    """
    fig, ax = _canvas(7.2, 3.1, (-1.4, 8.6), (0, 4.2))
    ax.add_patch(Rectangle((1.6, 0.35), 4.8, 3.3, fill=False, edgecolor=GREY, linewidth=1.2))
    ax.text(6.25, 0.55, "N images", ha="right", color=GREY, fontsize=9.5)
    for (x, y), name, kind in (((4, 3.0), "$z$", "latent"), ((4, 1.0), "$x$", "data")):
        ax.add_patch(Circle((x, y), 0.42, facecolor=FILLS[kind], edgecolor=GREY, linewidth=1.4))
        ax.text(x, y, name, ha="center", va="center", color=INK, fontsize=14)
    _arrow(ax, (3.8, 2.6), (3.8, 1.42), text=r"$p_\theta(x\,|\,z)$" + "\ndecoder", offset=(-1.0, 0.0))
    _arrow(ax, (4.2, 1.42), (4.2, 2.6), style="--", text=r"$q_\phi(z\,|\,x)$" + "\nencoder", offset=(1.0, 0.0))
    ax.text(4.0, 3.85, r"prior $p(z) = \mathcal{N}(0, I)$", ha="center", color=GREY, fontsize=9.5)
    # the notes sit outside the plate (x from 1.6 to 6.4), clear of its border
    ax.text(1.4, 2.0, "solid: how the model\ngenerates an image\n\ndashed: how it guesses\nthe code of an image",
            ha="right", va="center", color=GREY, fontsize=8.5)
    ax.text(6.6, 1.0, "shaded circle\nof the data:\nobserved", ha="left", va="center", color=GREY, fontsize=8.5)
    return fig


def reparameterization_graph():
    """The reparameterization trick as a computation graph.

    The noise ε enters from the side, outside the parameters' path; the
    gradient of the loss (orange, dashed) flows back through z = μ + σ ⊙ ε
    into μ, log σ² and the encoder, and never needs to pass through the
    sampling of ε. Returns the figure. Introduced in chapter 3.
    """
    fig, ax = _canvas(9.0, 3.6, (0, 13), (0, 5.2))
    _box(ax, 1.0, 2.6, "image $x$", "data", width=1.5)
    _box(ax, 3.2, 2.6, "encoder\n$\\phi$", "net", width=1.4, height=1.0)
    _box(ax, 5.4, 3.6, "$\\mu$", "latent", width=1.1)
    _box(ax, 5.4, 1.6, "$\\log\\sigma^2$", "latent", width=1.3)
    _box(ax, 7.6, 4.7, "$\\varepsilon \\sim \\mathcal{N}(0, I)$", "noise", width=2.2, height=0.6)
    _box(ax, 7.6, 2.6, "$z = \\mu + \\sigma \\odot \\varepsilon$", "latent", width=2.2)
    _box(ax, 9.9, 2.6, "decoder\n$\\theta$", "net", width=1.4, height=1.0)
    _box(ax, 12.0, 2.6, "loss\n$-$ELBO", "loss", width=1.5, height=1.0)
    _box(ax, 9.9, 0.6, "KL$(\\mu, \\sigma)$", "loss", width=1.6)
    for start, end in (((1.75, 2.6), (2.5, 2.6)), ((3.9, 2.9), (4.85, 3.5)), ((3.9, 2.3), (4.75, 1.7)),
                       ((5.95, 3.5), (6.5, 2.9)), ((6.05, 1.7), (6.5, 2.3)), ((7.6, 4.4), (7.6, 2.95)),
                       ((8.7, 2.6), (9.2, 2.6)), ((10.6, 2.6), (11.25, 2.6)), ((6.05, 1.4), (9.1, 0.6)),
                       ((10.7, 0.7), (11.6, 2.1))):
        _arrow(ax, start, end)
    for start, end in (((11.25, 2.35), (10.6, 2.35)), ((9.2, 2.35), (8.7, 2.35)), ((6.6, 2.45), (6.0, 3.2)),
                       ((6.6, 2.2), (6.1, 1.9)), ((4.8, 3.2), (3.95, 2.75)), ((4.7, 1.45), (3.95, 2.1))):
        _arrow(ax, start, end, color=GRADIENT, style="--")
    ax.text(8.9, 4.7, "noise enters here;\nno gradient needed", ha="left", va="center", color=GREY, fontsize=8.5)
    ax.text(0.2, 0.5, "grey: forward pass\norange, dashed: gradients", ha="left", va="center",
            color=GREY, fontsize=8.5)
    return fig


def _shape(tensor_shape) -> str:
    """``(None, 14, 14, 32)`` written without the batch axis: ``14×14×32``."""
    return "×".join(str(n) for n in tuple(tensor_shape)[1:])


def network_shapes(model):
    """A built VAE's encoder and decoder, one box per layer with its output shape.

    Args:
        model: a built :class:`vae.models.VAE` (e.g. ``vae.pretrained.load("conv")``)
            whose ``encoder`` and ``decoder`` are Keras functional models. The
            shapes are read from the layers, never typed.

    Returns the figure: the encoder in the left column and the decoder in the
    right, each read from top to bottom, the batch axis left out of every
    shape. The encoder's two heads (``mean`` and ``log_var``), which read the
    same layer, share its last row. Introduced in chapter 5.
    """
    columns = []
    for network in (model.encoder, model.decoder):
        rows = []
        for layer in network.layers:
            outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
            shape = ", ".join(_shape(o.shape) for o in outputs)
            text = f"{layer.name} · {type(layer).__name__}\n{shape}"
            if layer.name == "log_var" and rows and rows[-1][0][0] == "mean":
                rows[-1].append((layer.name, text))  # the second head, beside the first
            else:
                rows.append([(layer.name, text)])
        columns.append(rows)
    count = max(len(rows) for rows in columns)
    gap, width, height, centres = 1.15, 4.2, 0.85, (2.3, 8.5)
    fig, ax = _canvas(8.6, 0.78 * (count * gap + 0.9), (-0.3, 11.1), (-0.2, count * gap + 0.7))
    top = count * gap - 0.35
    for column, (rows, x, label) in enumerate(zip(columns, centres, ("encoder", "decoder"))):
        ax.text(x, top + 0.75, label, ha="center", color=GREY, fontsize=12)
        for r, row in enumerate(rows):
            y = top - r * gap
            box_width = (width - 0.2 * (len(row) - 1)) / len(row)
            for k, (name, text) in enumerate(row):
                bx = x - width / 2 + box_width / 2 + k * (box_width + 0.2)
                head = name in ("mean", "log_var")
                kind = "data" if (column, r) == (0, 0) else ("latent" if r == 0 or head else "net")
                _box(ax, bx, y, text, kind, width=box_width, height=height, fontsize=10.5 if len(row) == 1 else 9)
                if r:
                    _arrow(ax, (x, y + gap - height / 2 - 0.06), (bx, y + height / 2 + 0.06))
    last = top - (len(columns[0]) - 1) * gap
    start, end = (centres[0] + width / 2 + 0.1, last), (centres[1] - width / 2 - 0.1, top)
    _arrow(ax, start, end)
    ax.text((start[0] + end[0]) / 2, last - 0.45, "sample\n$z = \\mu + \\sigma \\odot \\varepsilon$",
            ha="center", va="top", color=GREY, fontsize=10.5)
    return fig


def bits_back_stack():
    """The bits-back coder's stack: the sender's three steps and the receiver's mirror.

    Sender (top row): pop z with q(z|x) (the stack shrinks by −log q(z|x)
    bits borrowed from it), push x with p(x|z), push z with p(z). Receiver
    (bottom row): the same steps undone in reverse order, which returns the
    borrowed bits. Bar heights are schematic. Returns the figure.
    Introduced in chapter 9.
    """
    fig, ax = _canvas(9.6, 6.6, (0, 16), (0, 11.0))
    base, q_bits, x_bits, z_bits = 1.6, 0.9, 1.6, 1.1
    # the tallest stack holds base - q + x + z; the step labels go above it
    tallest = base - q_bits + x_bits + z_bits
    sender = [("stack at start", [("earlier", base, "noise")]),
              ("pop $z$ with $q(z|x)$", [("earlier", base - q_bits, "noise")]),
              ("push $x$ with $p(x|z)$", [("earlier", base - q_bits, "noise"), ("$x$", x_bits, "data")]),
              ("push $z$ with $p(z)$", [("earlier", base - q_bits, "noise"), ("$x$", x_bits, "data"),
                                        ("$z$", z_bits, "latent")])]
    for row, (y0, title, states) in enumerate(((6.3, "sender", sender), (0.4, "receiver", sender[::-1]))):
        ax.text(0.1, y0 + tallest + 0.75, title, color=GREY, fontsize=11, ha="left", va="center")
        for i, (label, layers) in enumerate(states):
            x = 1.2 + 3.9 * i
            height = y0
            for name, size, kind in layers:
                ax.add_patch(Rectangle((x, height), 1.8, size, facecolor=FILLS[kind], edgecolor=GREY))
                ax.text(x + 0.9, height + size / 2, name, ha="center", va="center", color=INK, fontsize=8.5)
                height += size
            if i:
                step = label if row == 0 else {"stack at start": "push $z$ with $q(z|x)$",
                                               "pop $z$ with $q(z|x)$": "pop $x$ with $p(x|z)$",
                                               "push $x$ with $p(x|z)$": "pop $z$ with $p(z)$"}[label]
                _arrow(ax, (x - 2.0, y0 + tallest + 0.4), (x - 0.3, y0 + tallest + 0.4), text=step,
                       offset=(0.0, 0.35))
    ax.text(8.0, 5.55, "the receiver undoes each step in reverse order and gets $x$ back,\n"
            "and with it the $-\\log_2 q(z|x)$ bits the sender borrowed",
            ha="center", va="center", color=GREY, fontsize=9)
    return fig


def rate_distortion_plane(beta: float = 1.0, points=None):
    """The rate-distortion plane with the line of slope −β that a β-VAE minimizes along.

    Args:
        beta: the KL weight; every point of a line D + βR = constant costs the
            same, and the best model at that β is where the lowest such line
            touches the frontier.
        points: optional measured ``(rate, distortion)`` pairs in nats to
            draw as dots (e.g. the models of a β sweep).

    The frontier is a schematic convex curve unless ``points`` are given, in
    which case they are drawn on it too. Returns the figure. Introduced in chapter 8.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    fig.patch.set_alpha(0.0)
    ax.patch.set_alpha(0.0)
    rate = np.linspace(0.2, 40, 300)
    scale, floor, top = 12.0, 60.0, 140.0
    distortion = floor + (top - floor) * np.exp(-rate / scale)
    ax.plot(rate, distortion, color="#3182bd", linewidth=2.2, label="best achievable distortion at each rate")
    ax.fill_between(rate, 0, distortion, color="#3182bd", alpha=0.15, label="unachievable")
    # tangent point of D + beta R: dD/dR = -beta
    r_star = scale * np.log((top - floor) / (scale * beta))
    d_star = floor + (top - floor) * np.exp(-r_star / scale)
    ax.plot(rate, d_star - beta * (rate - r_star), color=GRADIENT, linestyle="--", linewidth=1.8,
            label=f"$D + \\beta R$ = constant, slope $-\\beta$ (β = {beta:g})")
    ax.plot([r_star], [d_star], "o", color=GRADIENT, markersize=8)
    if points is not None:
        points = np.asarray(points, dtype=float)
        ax.plot(points[:, 0], points[:, 1], "s", color=GREY, label="measured models")
    ax.annotate("the β-VAE's optimum", (r_star, d_star), (r_star + 6, d_star + 22), color=GREY,
                arrowprops={"arrowstyle": "->", "color": GREY})
    ax.set_xlim(0, 40)
    ax.set_ylim(40, 150)
    ax.set_xlabel("rate $R$ = KL$(q(z|x)\\,\\|\\,p(z))$ (nats)", color=GREY)
    ax.set_ylabel("distortion $D$ (nats)", color=GREY)
    ax.tick_params(colors=GREY)
    for spine in ax.spines.values():
        spine.set_color(GREY)
    legend = ax.legend(loc="upper right", fontsize=8.5, frameon=False)
    for text in legend.get_texts():
        text.set_color(GREY)
    fig.tight_layout()
    return fig
