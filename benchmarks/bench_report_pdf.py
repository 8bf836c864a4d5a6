"""HTML → PDF renderers for the 专项规划 report: time, size, pages, Chinese text in the PDF.

    PYTHONPATH=src python benchmarks/bench_report_pdf.py [--html report.html] [--xhtml2pdf-path DIR]

Without ``--html`` it writes the report of the synthetic four-街道 grid (tests/synth.py, budget
200 万元).  Candidates, each in a fresh child process (so font caches are cold, as for a user):

* **weasyprint** — ``weasyprint.HTML(string=...).write_pdf()`` (what the tool uses);
* **xhtml2pdf** — ``pisa.CreatePDF`` (ReportLab underneath), if importable (``--xhtml2pdf-path``
  adds a folder to ``sys.path``, e.g. one made with ``pip install --target DIR xhtml2pdf``);
* **chromium** — ``chromium --headless --print-to-pdf`` (a browser binary, not a pip package).

"CJK text" = every section heading of the report is in the PDF's extracted text (pypdf), i.e. a
CJK font was embedded with a ToUnicode map.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_WEASY = """
import sys, time, weasyprint
html = open(sys.argv[1], encoding="utf-8").read()
t = time.perf_counter(); data = weasyprint.HTML(string=html).write_pdf(); dt = time.perf_counter() - t
open(sys.argv[2], "wb").write(data); print(dt)
"""
_XHTML = """
import sys, time
sys.path.insert(0, sys.argv[3]) if sys.argv[3] else None
from xhtml2pdf import pisa
html = open(sys.argv[1], encoding="utf-8").read()
t = time.perf_counter()
with open(sys.argv[2], "wb") as f:
    r = pisa.CreatePDF(html, dest=f, encoding="utf-8")
print(time.perf_counter() - t)
"""


def _synthetic_html(out: Path) -> Path:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
    import synth

    import tuoyu_geo as tg
    from tuoyu_geo.report.document import report_html

    area = tg.make_area(streets=synth.streets(), communities=synth.communities(), institutions=synth.institutions(),
                        candidates=synth.candidates(), policy="national-2025", graph=synth.grid_graph(),
                        name="synthetic")
    a = tg.assess(area, "national-2025", plan=tg.PlanOptions(budget_wan=200), with_isochrones=False)
    out.write_text(report_html(a), encoding="utf-8")
    return out


def _check(pdf: Path, headings: list[str]) -> dict:
    import pypdf

    r = pypdf.PdfReader(pdf)
    text = re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in r.pages))
    fonts = sorted({str(f.get_object().get("/BaseFont")) for p in r.pages
                    for f in (p["/Resources"].get("/Font") or {}).values()})
    return {"bytes": pdf.stat().st_size, "pages": len(r.pages),
            "cjk_text": all(h in text for h in headings), "fonts": fonts[:4]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", type=Path)
    ap.add_argument("--xhtml2pdf-path", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    html = args.html or _synthetic_html(tmp / "report.html")
    headings = [h for h in re.findall(r"<h2>[一二三四五六七八九十]+、([^<]+)</h2>", html.read_text(encoding="utf-8"))]
    results = {}
    for name, code in (("weasyprint", _WEASY), ("xhtml2pdf", _XHTML)):
        out = tmp / f"{name}.pdf"
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code, str(html), str(out), args.xhtml2pdf_path],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0 or not out.exists():
            results[name] = {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:200]}
            continue
        results[name] = {"render_s": round(float(p.stdout.strip().splitlines()[-1]), 2),
                         "process_s": round(wall, 2), **_check(out, headings)}
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        out = tmp / "chromium.pdf"
        t = time.perf_counter()
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp / 'profile'}", "--no-pdf-header-footer",
                        f"--print-to-pdf={out}", html.as_uri()], capture_output=True, timeout=180,
                       env={**os.environ, "HOME": str(tmp)})
        wall = time.perf_counter() - t
        results["chromium"] = ({"process_s": round(wall, 2), **_check(out, headings)} if out.exists()
                               else {"error": "no PDF"})
    else:
        results["chromium"] = {"error": "no chromium binary"}
    print(json.dumps({"html": str(html), "html_bytes": html.stat().st_size, "results": results},
                     ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
