"""The three notebooks execute top to bottom on the bundled area (stored without outputs)."""

from __future__ import annotations

import os
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run in; a test dependency, never skipped)
import nbclient
import nbformat
import pytest

import tuoyu_geo

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_three_notebooks_present():
    assert [p.name for p in NOTEBOOKS] == ["01_coverage.ipynb", "02_street_gaps.ipynb", "03_site_plan.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs before committing"
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) and "English" in text  # bilingual


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    # the kernel must import the same tuoyu_geo as the tests (source checkout or installed)
    pkg_parent = str(Path(tuoyu_geo.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    expected = {"01_coverage": ["maps/01_coverage.html"],
                "02_street_gaps": ["figures/street_place_gap.png", "tables/street_scorecard.xlsx"],
                "03_site_plan": ["maps/03_site_plan.html", "outputs/manifest.json", "outputs/tuoyu_plan.gpkg"]}
    for f in expected[path.stem]:
        assert f in written, (f, written)
