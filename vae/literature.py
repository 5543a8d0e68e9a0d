"""Published test NLLs on dynamically binarized MNIST beside the book's models.

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

    Introduced in chapter 11.
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
"""The literature's rows; papers whose figures were not found are left out."""


def _burda_figures(manifest: dict) -> dict | None:
    """The figures recorded at Burda et al.'s protocol, or None."""
    found = []
    for key, figures in manifest.get("evaluations", {}).items():
        if (figures.get("k") == BURDA_K
                and figures.get("n_images") == BURDA_N_IMAGES
                and figures.get("nll") is not None):
            found.append((key, figures))
    if not found:
        return None
    key, figures = min(found, key=lambda item: _seed_of(item[0]))
    return {"key": key, **figures}


def _seed_of(key: str) -> int:
    """The ``seed`` of an evaluation key such as ``"k=5000,n=10000,seed=0"``."""
    fields = dict(part.split("=", 1) for part in key.split(","))
    return int(fields.get("seed", 0))


def shipped_rows(checkpoints=CHECKPOINTS, names=None) -> list[dict]:
    """The book's checkpoints with an NLL recorded at Burda et al.'s protocol.

    Args:
        checkpoints: the folder holding one subfolder per shipped model
            (default: the package's ``vae/checkpoints``).
        names: the shipped models to show, e.g. ``["conv", "mlp"]``; each
            must have a manifest recording the figure, else a ``ValueError``
            says which does not. None (the default): every checkpoint whose
            manifest records one.

    Returns:
        one dict per such checkpoint, in the format of
        :func:`comparison_table` (``nll`` and ``nll_stderr`` in nats per
        image), in name order.

    Introduced in chapter 11.
    """
    checkpoints = Path(checkpoints)
    if names is None:
        folders = sorted(checkpoints.iterdir())
    else:
        folders = [checkpoints / name for name in sorted(set(names))]
        for folder in folders:
            path = folder / MANIFEST_FILE
            if not path.is_file():
                raise ValueError(f"no shipped model {folder.name!r}: "
                                 f"{MANIFEST_FILE} missing in {folder}")
            if _burda_figures(json.loads(path.read_text())) is None:
                raise ValueError(
                    f"the manifest of {folder.name!r} records no NLL at "
                    f"k = {BURDA_K} on {BURDA_N_IMAGES} test digits: run "
                    "python -m vae evaluate --record first")
    rows = []
    for folder in folders:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            continue
        manifest = json.loads(path.read_text())
        figures = _burda_figures(manifest)
        if figures is None:
            continue
        data = manifest.get("data", {})
        rows.append({
            "model": folder.name,
            "nll": float(figures["nll"]),
            "nll_stderr": figures.get("nll_stderr"),
            "k": BURDA_K,
            "stochastic_layers": _stochastic_layers(
                manifest.get("model", {})),
            "binarization": _binarization(data),
            "table": None,
            "source": "this book",
            "bibtex_key": None,
            "checked": True,
            "url": None,
            "note": f"manifest.json evaluations[{figures['key']!r}]",
        })
    return rows


def _stochastic_layers(model: dict) -> int:
    """Layers of latent variables of a manifest's ``model`` config.

    A Ladder VAE's config lists its layers' sizes (``latent_dims``); a config
    may also state the count (``stochastic_layers``); any other model has
    one Gaussian layer.
    """
    if "latent_dims" in model:
        return len(model["latent_dims"])
    return int(model.get("stochastic_layers", 1))


def _binarization(data: dict) -> str | None:
    """How a manifest's ``data`` says the digits were binarized."""
    train = data.get("train")
    seed = data.get("test_binarization_seed")
    if seed is None:
        return train
    return f"{train}; test set binarized once with seed {seed}"


def literature_rows(rows=ROWS) -> list[dict]:
    """The literature's rows as dicts in :func:`comparison_table`'s format.

    Introduced in chapter 11.
    """
    return [{
        "model": row.model,
        "nll": row.nll,
        "nll_stderr": None,
        "k": row.k,
        "stochastic_layers": row.stochastic_layers,
        "binarization": row.binarization,
        "table": row.table,
        "source": "literature",
        "bibtex_key": row.bibtex_key,
        "checked": row.checked,
        "url": row.url,
        "note": row.note,
    } for row in rows]


def comparison_table(checkpoints=CHECKPOINTS, names=None) -> list[dict]:
    """The shipped models beside the literature, by test NLL (best first).

    Args:
        checkpoints: the folder of shipped checkpoints (default: the package's).
        names: the shipped models to include (see :func:`shipped_rows`);
            None: every one with a recorded figure.

    Returns:
        a list of dicts with keys ``model``, ``nll`` (nats per image),
        ``nll_stderr`` (nats, the book's rows only, else None), ``k``,
        ``stochastic_layers``, ``binarization``, ``table``, ``source``
        (``"this book"`` or ``"literature"``), ``bibtex_key``, ``checked``,
        ``url`` and ``note``. A book row is every checkpoint whose manifest
        records an NLL with ``k = 5000`` on all 10,000 test digits.

    Introduced in chapter 11.
    """
    rows = shipped_rows(checkpoints, names) + literature_rows()
    return sorted(rows, key=lambda row: row["nll"])


def to_markdown(rows: list[dict]) -> str:
    """A Markdown table of :func:`comparison_table`'s rows.

    NLLs are printed in nats per image with two decimals; a literature row's
    source is its ``{cite}`` key, marked "not checked" unless the figure was
    read in the paper's text.

    Introduced in chapter 11.
    """
    lines = ["| Model | Test NLL (nats) | k | Stochastic layers | Source |",
             "| --- | --- | --- | --- | --- |"]
    for row in rows:
        if row["source"] == "this book":
            source = "this book (recorded in the manifest)"
        else:
            source = f"{{cite}}`{row['bibtex_key']}`"
            source += "" if row["checked"] else ", not checked"
        k = "" if row["k"] is None else str(row["k"])
        layers = ("" if row["stochastic_layers"] is None
                  else str(row["stochastic_layers"]))
        lines.append(f"| {row['model']} | {row['nll']:.2f} | {k} | {layers} "
                     f"| {source} |")
    return "\n".join(lines) + "\n"
