"""Record files: what a kernel's answers returned on an exercise's cases, as numbers only.

A record is one ``.npz`` file per exercise, written by :func:`vae.grading.check`
in the kernel and read by the grader with ``allow_pickle=False``. It holds a
JSON header (``meta``: the exercise id, the grading run's nonce, one digest per
case of the inputs the kernel used, and an error message for each case whose
call failed) and, for each case ``i`` and output ``key``, the array
``c{i}.{key}`` (booleans, integers or floats; nothing else is accepted).

The grader regenerates the cases itself, so a record made for other inputs
(another seed, a forged file, a stale one) is refused by its digests; a
missing, malformed or oversized record is refused with a reason.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

MAX_RECORD_BYTES = 32 * 2**20  # a record larger than this, on disk or unpacked, is refused
MAX_MESSAGE = 200  # characters kept of an error message


class RecordError(ValueError):
    """A record the grader cannot use; the message says why, in one line."""


def _canonical(value):
    """A case's value as something hashable the same way in every process."""
    if isinstance(value, (bool, np.bool_)):
        return ["bool", bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["int", int(value)]
    if isinstance(value, (float, np.floating)):
        return ["float", float(value).hex()]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (tuple, list)):
        return ["list", [_canonical(v) for v in value]]
    array = np.ascontiguousarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"a case may hold numbers, strings and numeric arrays, not {array.dtype}")
    return ["array", array.dtype.str, list(array.shape), hashlib.sha256(array.tobytes()).hexdigest()]


def _case_digest(case: dict) -> str:
    """The SHA-256 digest of one case's inputs (keys sorted; arrays by dtype, shape and bytes).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    payload = json.dumps({key: _canonical(case[key]) for key in sorted(case)}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _as_numbers(value, what: str = "the answer") -> np.ndarray:
    """``value`` (a tensor, an array, a number, nested lists) as a numeric NumPy array, or ``TypeError``.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} returned {type(value).__name__}; it should be numbers") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} returned {type(value).__name__}; it should be numbers")
    return array


def _message(text) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def _write_record(path, exercise: str, nonce: str, digests: list[str], results: list) -> None:
    """Write one exercise's record: ``results[i]`` is a dict of outputs or an error message (str).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    arrays, errors = {}, {}
    for index, result in enumerate(results):
        if isinstance(result, str):
            errors[str(index)] = _message(result)
            continue
        for key, value in result.items():
            arrays[f"c{index}.{key}"] = _as_numbers(value)
    meta = {"exercise": exercise, "nonce": nonce, "digests": list(digests), "errors": errors}
    path = Path(path)
    temporary = path.with_name(path.name + ".partial.npz")
    np.savez(temporary, meta=np.array(json.dumps(meta)), **arrays)
    temporary.replace(path)


def _read_record(path, exercise: str, nonce: str, digests: list[str],
                max_bytes: int = MAX_RECORD_BYTES) -> list:
    """The results stored in a record, checked against this run; :class:`RecordError` if unusable.

    Returns:
        one entry per case: a dict ``{key: array}``, or the error message of a
        case whose call failed.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError("no record: the check cell did not finish")
    if path.stat().st_size > max_bytes:
        raise RecordError(f"the record is larger than {max_bytes // 2**20} MB and was not read")
    try:
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > max_bytes:
                raise RecordError(f"the record unpacks to more than {max_bytes // 2**20} MB and was not read")
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"][()]))
            arrays = {name: stored[name] for name in stored.files if name != "meta"}
    except RecordError:
        raise
    except Exception:  # noqa: BLE001 - anything unreadable is a malformed record
        raise RecordError("the record is malformed (not a record written by vae.grading.check)") from None
    if not (isinstance(meta, dict) and isinstance(meta.get("digests"), list) and isinstance(meta.get("errors"), dict)):
        raise RecordError("the record is malformed (its header is incomplete)")
    if meta.get("exercise") != exercise:
        raise RecordError(f"the record is for exercise {str(meta.get('exercise'))[:20]!r}, not {exercise}")
    if meta.get("nonce") != nonce:
        raise RecordError("the record was not written during this grading run (forged or stale)")
    if meta["digests"] != list(digests):
        raise RecordError("the record is for other inputs than the grader's cases (forged, or the cases "
                          "were changed in the kernel)")
    results: list = [{} for _ in digests]
    for name, array in arrays.items():
        index, _, key = name[1:].partition(".")
        if not (name.startswith("c") and index.isdigit() and int(index) < len(digests) and key):
            raise RecordError("the record is malformed (an entry for no case)")
        if array.dtype.kind not in "biuf":
            raise RecordError("the record is malformed (an entry that is not numbers)")
        results[int(index)][key] = array
    for index, message in meta["errors"].items():
        if not (str(index).isdigit() and int(index) < len(digests)):
            raise RecordError("the record is malformed (an error for no case)")
        results[int(index)] = _message(message)
    return results
