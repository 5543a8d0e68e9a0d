"""Published test likelihoods on dynamically binarized MNIST, beside the book's models.

Each :class:`LiteratureRow` is one figure from a paper: the model as the paper
names it, its test negative log-likelihood in nats per image (lower is
better), and what is known of how it was measured (binarization, importance
samples ``k``, stochastic layers). ``checked`` says whether the figure was read
in the paper's own text, with ``url`` and ``table`` saying where; an unchecked
row's ``note`` says where the figure came from instead and why it could not be
checked. A field the source does not state is ``None``: nothing is filled in
from memory.

:func:`comparison_table` puts these rows beside every shipped checkpoint whose
manifest holds a figure recorded by ``python -m vae evaluate --record`` under
Burda et al.'s protocol (``k = 5000`` importance samples on all 10,000 test
digits), sorted by NLL; :func:`to_markdown` prints the result as a table whose
literature rows carry their ``{cite}`` keys. A new checkpoint with such a
recorded figure appears without any change here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CHECKPOINTS = Path(__file__).parent / "checkpoints"
MANIFEST_FILE = "manifest.json"

BURDA_K = 5000
"""Importance samples per test digit in Burda et al.'s protocol."""
BURDA_N_IMAGES = 10_000
"""Test digits in Burda et al.'s protocol: the whole MNIST test set."""

_ISSUE = "issue 19 of the book's tracker"
_UNREACHED = ("the paper's table could not be read here: the stored arXiv, "
              "ar5iv and proceedings pages hold only the paper's opening")
_BURDA_BINARIZATION = (
    "dynamic: a fresh random binarization each time a digit is given to the "
    "model, 59,600 training digits (per the authors' code README, "
    "https://github.com/yburda/iwae)")


@dataclass(frozen=True)
class LiteratureRow:
    """One published test NLL on binarized MNIST.

    Attributes:
        bibtex_key: the paper's key in ``book/references.bib``.
        model: the model as the paper names it.
        nll: test negative log-likelihood, nats per image (lower is better).
        table: the table of the paper the figure is in, or None if not known.
        binarization: how the digits were binarized, as stated by the source,
            or None if not stated.
        k: importance samples per test digit of the NLL estimate, or None if
            not stated in the source read.
        stochastic_layers: layers of latent variables, or None if not stated.
        checked: True only if the figure was read in the paper's own text.
        url: where the figure was read (required when ``checked``).
        note: where an unchecked figure came from and why it is unchecked.
    """

    bibtex_key: str
    model: str
    nll: float
    table: str | None
    binarization: str | None
    k: int | None
    stochastic_layers: int | None
    checked: bool
    url: str | None
    note: str


ROWS: tuple[LiteratureRow, ...] = (
    LiteratureRow(
        bibtex_key="burda2016importance",
        model="VAE",
        nll=85.33,
        table="Table 1 (as quoted)",
        binarization=_BURDA_BINARIZATION,
        k=None,
        stochastic_layers=2,
        checked=False,
        url=None,
        note=(f"quoted in {_ISSUE} as Burda et al.'s two-layer VAE; "
              f"{_UNREACHED}, so k is not filled in"),
    ),
    LiteratureRow(
        bibtex_key="burda2016importance",
        model="IWAE",
        nll=82.90,
        table="Table 1 (as quoted)",
        binarization=_BURDA_BINARIZATION,
        k=None,
        stochastic_layers=None,
        checked=False,
        url=None,
        note=(f"quoted in {_ISSUE} as IWAE's figure; {_UNREACHED}, so k "
              "and the number of stochastic layers are not filled in"),
    ),
    LiteratureRow(
        bibtex_key="sonderby2016ladder",
        model="Ladder VAE",
        nll=81.74,
        table=None,
        binarization="dynamic (as the aggregator labels it, not the paper)",
        k=None,
        stochastic_layers=None,
        checked=False,
        url=None,
        note=(f"quoted in {_ISSUE} as the Ladder VAE's reported figure and "
              "listed for 'MNIST dynamically binarized (test)' on the "
              "benchmark aggregator https://www.wizwand.com/paper/"
              f"68fa627d1e209131ce9f98cf; {_UNREACHED}"),
    ),
)
"""The literature's rows; papers whose figures could not be found are left out."""
