"""Numbers for the prose: a value computed in a cell, formatted once, shown in the text.

Introduced in chapter 6. ``glue("ch06_active", 28)`` records the text ``28``
under the name ``ch06_active`` in the cell's output without displaying
anything; the book's markdown writes ``{glue}`ch06_active``` where the
number belongs, and the site (MyST-NB) puts the recorded text there. So a
number in the prose is always the one the code beside it computed, and it
changes when the model or the run changes. ``tests/test_glue.py`` checks
that every name used in a notebook's markdown is recorded in that notebook,
and every recorded name is used.

The output has the form MyST-NB's own ``myst_nb.glue(name, value,
display=False)`` writes (a ``text/plain`` entry under the
``application/papermill.record/`` prefix, named in the ``scrapbook``
metadata), so the notebooks need no MyST-NB on Colab.
"""

from typing import Any

__all__ = ["glue"]

_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, spec: str = "") -> str:
    """Record ``format(value, spec)`` under ``name`` for the prose; return it.

    Introduced in chapter 6.

    Args:
        name: the name the markdown uses, ``chNN_what`` by convention.
        value: a number or a string (any object ``format`` accepts).
        spec: a format specification, e.g. ``".2f"`` or ``"+.2f"`` or
            ``","``: the rounding is chosen here, once.

    Returns:
        The formatted text, so a cell can print the same thing.
    """
    from IPython.display import display

    text = format(value, spec)
    display(
        {_PREFIX + "text/plain": text},
        raw=True,
        metadata={"scrapbook": {"name": name, "mime_prefix": _PREFIX}},
    )
    return text
