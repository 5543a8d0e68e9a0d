"""The literature table: keys exist, shipped rows come from the manifests."""

import json
import re
import shutil
from pathlib import Path

import pytest

from vae import literature

ROOT = Path(__file__).resolve().parents[1]
BIB_KEYS = set(
    re.findall(
        r"^@\w+\{([^,\s]+),",
        (ROOT / "book" / "references.bib").read_text(),
        flags=re.MULTILINE,
    )
)


def _burda_nll(manifest):
    """Each Burda-protocol NLL a manifest records, read independently; else
    the subset estimates (k = 100 on all 10,000 minus the subset's k = 100 -
    k = 5000 difference)."""
    evaluations = manifest.get("evaluations", {})
    full = [
        figures["nll"]
        for key, figures in evaluations.items()
        if key.startswith("k=5000,n=10000,")
    ]
    if full or "k=100,n=10000,seed=0" not in evaluations:
        return full
    return [
        evaluations["k=100,n=10000,seed=0"]["nll"]
        - figures["shortcut"]["excess_over_k"]
        for key, figures in evaluations.items()
        if key.startswith("k=5000,subset_n=")
    ]


def _shipped_with_burda_nll(checkpoints):
    names = {}
    for path in sorted(Path(checkpoints).glob("*/manifest.json")):
        nlls = _burda_nll(json.loads(path.read_text()))
        if nlls:
            names[path.parent.name] = nlls
    return names


@pytest.mark.parametrize(
    "row", literature.ROWS, ids=lambda r: f"{r.bibtex_key}-{r.model}"
)
def test_each_row_cites_a_key_of_references_bib(row):
    assert row.bibtex_key in BIB_KEYS


@pytest.mark.parametrize(
    "row", literature.ROWS, ids=lambda r: f"{r.bibtex_key}-{r.model}"
)
def test_checked_rows_say_where_and_unchecked_rows_say_why(row):
    if row.checked:
        assert row.url and row.url.startswith("http") and row.table
        # the locator names the table the figure is in
        assert row.checked_at and row.table in row.checked_at
    else:
        assert row.checked_at is None
        assert "could not" in row.note or "not reached" in row.note
    assert row.note.strip()
    assert row.nll > 0


def test_left_out_papers_have_a_key_a_reason_and_no_row():
    keys = [key for key, _ in literature.LEFT_OUT]
    assert len(keys) == len(set(keys))
    assert set(keys) <= BIB_KEYS
    assert not set(keys) & {row.bibtex_key for row in literature.ROWS}
    for _, reason in literature.LEFT_OUT:
        assert reason.startswith("no figure:")


def test_literature_dicts_carry_the_locator_of_each_row():
    dicts = literature.literature_rows()
    assert [d["checked_at"] for d in dicts] == [
        r.checked_at for r in literature.ROWS
    ]
    assert all(
        (d["checked_at"] is not None) == d["checked"] for d in dicts
    )


def test_every_shipped_checkpoint_with_a_recorded_nll_appears_and_no_other():
    expected = _shipped_with_burda_nll(literature.CHECKPOINTS)
    assert "conv" in expected  # the book's best model carries the figure
    book = [
        r for r in literature.comparison_table() if r["source"] == "this book"
    ]
    assert sorted(r["model"] for r in book) == sorted(expected)
    for row in book:
        assert row["nll"] in expected[row["model"]]


def test_a_new_checkpoint_with_a_recorded_nll_appears_without_code_changes(
    tmp_path,
):
    shutil.copy(
        literature.CHECKPOINTS / "conv" / "manifest.json", tmp_path / "x.json"
    )
    manifest = json.loads((tmp_path / "x.json").read_text())
    manifest["evaluations"] = {
        "k=5000,n=10000,seed=3": {"k": 5000, "n_images": 10000, "nll": 79.5}
    }
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "manifest.json").write_text(json.dumps(manifest))
    manifest["evaluations"] = {
        "k=100,n=10000,seed=0": {"k": 100, "n_images": 10000, "nll": 70.0}
    }
    (tmp_path / "k100only").mkdir()
    (tmp_path / "k100only" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "no_manifest").mkdir()
    book = [
        r
        for r in literature.comparison_table(tmp_path)
        if r["source"] == "this book"
    ]
    assert [(r["model"], r["nll"]) for r in book] == [("new", 79.5)]


def test_rows_are_sorted_by_nll_and_hold_the_literature():
    rows = literature.comparison_table()
    nlls = [r["nll"] for r in rows]
    assert nlls == sorted(nlls)
    assert sum(r["source"] == "literature" for r in rows) == len(
        literature.ROWS
    )


def test_markdown_prints_each_figure_and_its_citation():
    rows = literature.comparison_table()
    text = literature.to_markdown(rows)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(rows)
    for row, line in zip(rows, lines[2:]):
        assert f"{row['nll']:.2f}" in line and row["model"] in line
        if row["source"] == "literature":
            assert f"{{cite}}`{row['bibtex_key']}`" in line
            assert ("not checked" in line) == (not row["checked"])
            stated = row["binarization"] is not None and not row[
                "binarization"
            ].startswith("not stated")
            assert ("binarization not stated" in line) == (not stated)


def test_a_list_of_names_selects_those_shipped_models_only():
    book = [
        r
        for r in literature.comparison_table(names=["mlp", "conv"])
        if r["source"] == "this book"
    ]
    assert [r["model"] for r in book] == sorted(
        ["mlp", "conv"], key=lambda name: next(
            x["nll"] for x in book if x["model"] == name
        )
    )
    assert len(literature.comparison_table(names=["conv"])) == 1 + len(
        literature.ROWS
    )


def test_a_named_model_without_a_manifest_or_a_recorded_nll_is_refused(
    tmp_path,
):
    with pytest.raises(ValueError, match="no shipped model 'absent'"):
        literature.shipped_rows(names=["absent"])
    (tmp_path / "unrecorded").mkdir()
    (tmp_path / "unrecorded" / "manifest.json").write_text(
        json.dumps({"evaluations": {}})
    )
    with pytest.raises(ValueError, match="records no NLL"):
        literature.shipped_rows(tmp_path, names=["unrecorded"])


def test_a_ladder_checkpoint_counts_its_layers_from_its_config(tmp_path):
    manifest = json.loads(
        (literature.CHECKPOINTS / "conv" / "manifest.json").read_text()
    )
    manifest["model"] = {"architecture": "ladder", "latent_dims": [32, 16]}
    (tmp_path / "ladder").mkdir()
    (tmp_path / "ladder" / "manifest.json").write_text(json.dumps(manifest))
    (row,) = literature.shipped_rows(tmp_path, names=["ladder"])
    assert row["stochastic_layers"] == 2
    (conv,) = literature.shipped_rows(names=["conv"])
    assert conv["stochastic_layers"] == 1


def test_each_row_says_by_which_protocol_it_was_measured():
    rows = literature.comparison_table(names=["conv"])
    (conv,) = [r for r in rows if r["source"] == "this book"]
    assert conv["protocol"] == literature.FULL_PROTOCOL
    recorded = json.loads(
        (literature.CHECKPOINTS / "conv" / "manifest.json").read_text()
    )["evaluations"][conv["evaluation"]]
    assert (recorded["k"], recorded["n_images"]) == (5000, 10_000)
    assert recorded["nll"] == pytest.approx(conv["nll"])
    published = [r for r in rows if r["source"] == "literature"]
    assert {r["protocol"] for r in published} == {
        literature.PUBLISHED_PROTOCOL}
    assert all(r["evaluation"] is None for r in published)


def _subset_manifest(n=2000, with_full_k100=True):
    """A manifest as evaluate --subset --record and evaluate --k 100 --record leave it."""
    evaluations = {
        "k=5000,subset_n=%d,subset_seed=0,seed=0" % n: {
            "k": 5000, "n_images": n, "nll": 80.9, "nll_stderr": 0.4,
            "subset": {"n": n, "seed": 0, "population": 10000},
            "sampling": {"seed": 0, "chunk_size": 500},
            "shortcut": {"k": 100, "nll": 81.1, "nll_stderr": 0.4,
                         "excess_over_k": 0.2,
                         "excess_over_k_stderr": 0.03},
        }
    }
    if with_full_k100:
        evaluations["k=100,n=10000,seed=0"] = {
            "k": 100, "n_images": 10000, "nll": 81.25, "nll_stderr": 0.2}
    return {"model": {"architecture": "conv"}, "data": {},
            "evaluations": evaluations}


def test_a_subset_measured_model_gets_the_estimate_and_says_so(tmp_path):
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "manifest.json").write_text(
        json.dumps(_subset_manifest()))
    (row,) = literature.shipped_rows(tmp_path, names=["slow"])
    assert row["nll"] == pytest.approx(81.25 - 0.2)
    assert row["nll_stderr"] == pytest.approx((0.2**2 + 0.03**2) ** 0.5)
    assert row["k"] == 5000
    assert row["protocol"] == literature.SUBSET_PROTOCOL
    assert row["evaluation"] == "k=5000,subset_n=2000,subset_seed=0,seed=0"
    assert row["note"].startswith("estimate: k = 100 on all 10,000")
    assert "random 2,000" in row["note"] and "0.20 nats" in row["note"]
    (table_row,) = [line for line in literature.to_markdown([row]).splitlines() if "81.05" in line]
    assert "this book, estimated" in table_row  # the table says so too, not only the note


@pytest.mark.parametrize("manifest", [
    _subset_manifest(n=1999), _subset_manifest(with_full_k100=False)],
    ids=["subset too small", "no k=100 on all digits"])
def test_a_subset_figure_alone_or_too_small_makes_no_row(tmp_path, manifest):
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "manifest.json").write_text(json.dumps(manifest))
    assert literature.shipped_rows(tmp_path) == []
    with pytest.raises(ValueError, match="nor on a subset of 2000"):
        literature.shipped_rows(tmp_path, names=["slow"])
