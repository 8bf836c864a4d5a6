"""The three notebooks execute top to bottom on the bundled area (stored without outputs).

Each notebook has one parameter cell (tag ``parameters``: AREA, POLICY, MINUTES [, BUDGET_WAN], OUT)
and a conclusion cell (tag ``conclusion``) that writes its findings from the results.  The test
injects ``OUT = <tmp>/out`` after the parameter cell (the papermill convention), runs the kernel in
an empty folder with every proxy pointing at a closed port (no downloads), and checks that

* nothing is written outside ``OUT`` and the expected files are inside it;
* the conclusion states numbers that the test recomputes itself from the files the notebook wrote
  (the per-community access CSV, the 街道 scorecard XLSX, the exported site list) — not from the
  notebook's own variables.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebooks run in; a test dependency, never skipped)
import nbclient
import nbformat
import pandas as pd
import pytest

import tuoyu_geo

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
PARAMETERS = {"AREA", "POLICY", "MINUTES", "OUT"}


def test_three_notebooks_present():
    assert [p.name for p in NOTEBOOKS] == ["01_coverage.ipynb", "02_street_gaps.ipynb", "03_site_plan.ipynb"]


def _tagged(nb, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs_with_one_parameter_cell(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear outputs before committing"
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) and "English" in text  # bilingual
    params = _tagged(nb, "parameters")
    assert len(params) == 1 and nb.cells[params[0]].cell_type == "code"
    assigned = set(re.findall(r"^([A-Z_]+) = ", nb.cells[params[0]].source, flags=re.M))
    assert PARAMETERS <= assigned, assigned
    if path.stem == "03_site_plan":
        assert "BUDGET_WAN" in assigned
    # the parameter cell comes before any work, and nothing else names a policy, an area or a budget
    code = [c.source for i, c in enumerate(nb.cells) if c.cell_type == "code" and i != params[0]]
    assert params[0] == min(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for src in code:
        assert not re.search(r"wuxi-|national-|tianjin-|hebei-|binhai-|shanghai-xuhui|budget_wan=\d", src), src
    assert len(_tagged(nb, "conclusion")) == 1 and _tagged(nb, "conclusion")[0] == len(nb.cells) - 1


def _run(path: Path, tmp_path: Path, monkeypatch) -> tuple[nbformat.NotebookNode, Path, Path]:
    # the kernel must import the same tuoyu_geo as the tests (source checkout or installed)
    pkg_parent = str(Path(tuoyu_geo.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")])))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # a download attempt fails instead of leaving the machine
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    nb = nbformat.read(path, as_version=4)
    at = _tagged(nb, "parameters")[0] + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(f"OUT = {str(out)!r}  # injected by the test"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert [p for p in cwd.rglob("*")] == []  # nothing written outside OUT
    return nb, cwd, out


def _conclusion(nb) -> str:
    cell = nb.cells[_tagged(nb, "conclusion")[0]]
    texts = [o["data"]["text/markdown"] for o in cell.outputs if o.output_type == "display_data"
             and "text/markdown" in o.get("data", {})]
    assert len(texts) == 1
    return texts[0]


def _displays(nb, mime: str) -> int:
    return sum(mime in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if o.output_type in ("display_data", "execute_result"))


def _files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def _pct(share: float) -> str:
    return f"{100 * share:.1f} %"


def test_01_coverage(tmp_path, monkeypatch):
    nb, _, out = _run(NOTEBOOKS[0], tmp_path, monkeypatch)
    assert {"maps/01_coverage.html", "tables/community_access.csv"} <= set(_files(out))
    assert _displays(nb, "image/png") >= 1 and _displays(nb, "text/html") >= 3  # chart; map and tables inline
    text = _conclusion(nb)
    # recompute from the per-community CSV: infant-weighted share within 15 min of a 普惠 institution,
    # overall and per 街道 (街道 where fewer than half the infants reach one)
    com = pd.read_csv(out / "tables" / "community_access.csv", encoding="utf-8-sig", dtype={"street_id": str})
    yes = com["within15_puhui"].map({"是": True, "否": False, True: True, False: False}).astype(bool)
    w = com["infants"].astype(float)
    share = float((w * yes).sum() / w.sum())
    by = (w * yes).groupby(com["street_id"]).sum() / w.groupby(com["street_id"]).sum()
    assert 0 < share < 1 and _pct(share) in text, (share, text)
    assert f"{int((by < 0.5).sum())} / {by.size} 个街道" in text
    assert f"全区 {w.sum():,.0f} 名婴幼儿" in text


def test_02_street_gaps(tmp_path, monkeypatch):
    nb, _, out = _run(NOTEBOOKS[1], tmp_path, monkeypatch)
    assert {"figures/street_place_gap.png", "tables/street_scorecard.xlsx"} <= set(_files(out))
    assert _displays(nb, "image/png") >= 2 and _displays(nb, "text/html") >= 3
    text = _conclusion(nb)
    sc = pd.read_excel(out / "tables" / "street_scorecard.xlsx", sheet_name="街道指标")
    met = int((sc["综合状态"] == "达标").sum())
    gap = int(sc["托位缺口"].sum())
    no_puhui = int((sc["有普惠机构"] == "否").sum())
    assert len(sc) == 13 and gap > 0
    for rule in ("每千人口托位数", "普惠托位占比", "一街道一普惠", "居住区配建标准"):
        assert f"{rule} {int((sc[f'{rule}状态'] == '达标').sum())}" in text, rule
    assert f"{met} / {len(sc)} 个街道全部规则达标" in text, text
    assert f"托位缺口合计 {gap:,} 个" in text and f"没有普惠机构的街道 {no_puhui} 个" in text
    # booleans are 是/否 and shares percentages in the notebook's own tables too
    html = "".join(o["data"].get("text/html", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type in ("display_data", "execute_result"))
    assert ">是<" in html or ">否<" in html
    assert not re.search(r"<td>(True|False)</td>", html) and re.search(r"<td>\d+\.\d %</td>", html)


def test_03_site_plan(tmp_path, monkeypatch):
    nb, _, out = _run(NOTEBOOKS[2], tmp_path, monkeypatch)
    files = set(_files(out))
    assert {"maps/03_site_plan.html", "outputs/manifest.json", "outputs/tuoyu_plan.gpkg",
            "outputs/recommended_sites.csv"} <= files
    assert _displays(nb, "image/png") >= 1 and _displays(nb, "text/html") >= 4
    text = _conclusion(nb)
    sites = pd.read_csv(out / "outputs" / "recommended_sites.csv", encoding="utf-8-sig")
    places_col = next(c for c in sites.columns if c.startswith("托位"))
    n, places = len(sites), int(sites[places_col].sum())
    assert n > 0 and f"推荐新增 {n} 个普惠站点、{places:,} 个托位" in text, (n, places, text)
    # 街道 meeting each rule and every rule, before → after, from the workbook's comparison sheet
    comp = pd.read_excel(out / "outputs" / "tuoyu_plan.xlsx", sheet_name="街道前后对比")
    comp = comp[comp["街道编号"] != "合计"]
    assert len(comp) == 13
    for rule in ("每千人口托位数", "普惠托位占比", "一街道一普惠", "居住区配建标准"):
        b, af = (int((comp[f"{rule}状态（{when}）"] == "达标").sum()) for when in ("方案前", "方案后"))
        assert f"{rule} {b} → {af}" in text, rule
    b, af = (int((comp[f"综合状态（{when}）"] == "达标").sum()) for when in ("方案前", "方案后"))
    assert f"全部规则达标的街道：{b} → {af} / 13 个" in text
    man = json.loads((out / "outputs" / "manifest.json").read_text(encoding="utf-8"))
    assert "预算 1,500 万元" in text  # the budget parameter, shown from BUDGET_WAN
    assert "wuxi-2025" in json.dumps(man, ensure_ascii=False) and "wuxi-2025" in text
