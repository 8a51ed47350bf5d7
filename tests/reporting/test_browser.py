"""The HTML pages opened in headless Chromium: they load clean, their plots decode, they sort,
and a plugin's script tag shows as text.

No driver library: a copy of the page gets two scripts of ours, one first in <head> that
records every error and `console.error` from then on, one at the end that, after `load`,
checks the images, clicks a header of a sortable table and reads the column back, and writes a
JSON verdict into the DOM. `chromium --headless --dump-dom` runs the page and prints the DOM;
the test parses the verdict. A screenshot of the page's top is saved beside the copy.
Skipped, saying so, where no Chromium is installed (CI installs Debian's `chromium`).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sleepy_plugin

from suite.cli import main
from suite.plugins import PluginHost
from suite.reporting import write_reports
from suite.runner import RunConfig, run_matrix

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


BROWSER = _browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason=f"no headless browser installed (looked for {', '.join(BROWSERS)})"
)

_CAPTURE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
</script>"""

_CHECKS = """<script>
window.addEventListener("load", function () {
  var verdict = {errors: window.__errors, images: [], sort: null, pwned: window.__pwned || null};
  Array.prototype.forEach.call(document.images, function (img) {
    verdict.images.push({alt: img.alt, complete: img.complete, width: img.naturalWidth});
  });
  function numbers(table, col) {
    var out = [];
    for (var b = 0; b < table.tBodies.length; b++) {
      Array.prototype.forEach.call(table.tBodies[b].rows, function (row) {
        var v = row.cells[col] && row.cells[col].getAttribute("data-v");
        if (v !== null && v !== "" && v !== undefined) out.push(Number(v));
      });
    }
    return out;
  }
  // a results table grouped per parameter point (several tbody) first: the harder case
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.sortable"));
  tables.sort(function (a, b) { return b.tBodies.length - a.tBodies.length; });
  for (var t = 0; t < tables.length && verdict.sort === null; t++) {
    var heads = tables[t].tHead.rows[0].cells;
    for (var c = 0; c < heads.length; c++) {
      var before = numbers(tables[t], c);
      if (new Set(before).size < 2) continue;
      heads[c].click();
      var ascending = numbers(tables[t], c);
      heads[c].click();
      var descending = numbers(tables[t], c);
      verdict.sort = {column: heads[c].textContent, before: before, ascending: ascending,
                      descending: descending, aria: heads[c].getAttribute("aria-sort")};
      break;
    }
  }
  verdict.scripts = document.querySelectorAll("script").length;
  verdict.text = document.body.textContent;
  verdict.flagged = Array.prototype.map.call(
    document.querySelectorAll("tr.flagged"), function (row) { return row.textContent; });
  var out = document.createElement("pre");
  out.id = "verdict";
  out.textContent = JSON.stringify(verdict);
  document.body.appendChild(out);
});
</script>"""


def _instrumented(page: Path) -> Path:
    text = page.read_text(encoding="utf-8")
    assert text.count("<head>") == 1 and text.count("</body>") == 1
    text = text.replace("<head>", "<head>" + _CAPTURE).replace("</body>", _CHECKS + "</body>")
    copy = page.with_name(page.stem + "-checked.html")
    copy.write_text(text, encoding="utf-8")
    return copy


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    command = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def open_in_browser(page: Path) -> dict:
    """Load an instrumented copy of `page`; the verdict of the in-page checks, and a screenshot."""
    copy = _instrumented(page)
    result = _chromium("--virtual-time-budget=10000", "--dump-dom", copy.as_uri())
    match = re.search(r'<pre id="verdict">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no verdict in the dumped DOM; stderr: {result.stderr[-2000:]}"
    verdict = json.loads(html.unescape(match[1]))
    shot = page.with_name(page.stem + "-top.png")
    _chromium("--window-size=1280,900", f"--screenshot={shot}", page.as_uri())
    verdict["screenshot"] = shot
    return verdict


def _check_page(verdict: dict) -> None:
    assert verdict["errors"] == [], verdict["errors"]
    assert verdict["images"], "the page has no plot"
    broken = [img["alt"] for img in verdict["images"] if not img["complete"] or img["width"] <= 0]
    assert not broken, f"plots that did not decode: {broken}"
    sort = verdict["sort"]
    assert sort is not None, "no sortable column with two different numbers"
    assert sort["ascending"] == sorted(sort["before"]), sort
    assert sort["descending"] == sorted(sort["before"], reverse=True), sort
    assert sort["aria"] == "descending"
    assert verdict["pwned"] is None  # no plugin string ran as a script
    shot = verdict["screenshot"]
    assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG")


@pytest.fixture
def quick_run(tmp_path: Path) -> Path:
    """A real quick run: two cheap built-in benchmarks beside the sleepy plugin (whose summary
    and one cell's error carry a script tag)."""
    host = PluginHost(entry_points=False).load()
    host.register_plugin(sleepy_plugin, "sleepy")
    config = RunConfig(
        quick=True,
        device="cpu",
        out_dir=tmp_path / "run",
        benchmarks=["moe-load-balance", "loss-imbalanced", "sleepy-time"],
        components=["topk", "cross-entropy", "torch-cross-entropy", "sleepy-ref", "sleepy-a"],
        argv=["nlpsuite", "run", "--quick"],
    )
    import os

    os.environ["SLEEPY_FAIL"] = "sleepy-a"
    try:
        store, folder = run_matrix(host.registry, config)
    finally:
        os.environ.pop("SLEEPY_FAIL", None)
    write_reports(store.document(), folder)
    return folder / "report.html"


def test_run_report_in_chromium(quick_run: Path):
    verdict = open_in_browser(quick_run)
    _check_page(verdict)
    assert len(verdict["images"]) >= 5  # ROC, PR (two models each), expert load, sleepy plots
    assert sleepy_plugin.HOSTILE in verdict["text"]  # shown as text, in the summary and error
    assert verdict["scripts"] == 3  # our capture and checks, and the page's own sort script


def test_compare_page_in_chromium(tmp_path: Path):
    old = sleepy_plugin.run_sleepy(tmp_path / "old")
    new = sleepy_plugin.run_sleepy(tmp_path / "new", slow="sleepy-b")
    page = tmp_path / "compare.html"
    code = main(["compare", str(old), str(new), "--threshold", "0.5", "--html", str(page)])
    assert code == 1
    verdict = open_in_browser(page)
    assert verdict["errors"] == []
    assert verdict["flagged"] and all("sleepy-b" in row for row in verdict["flagged"])
    assert len(verdict["flagged"]) == 2  # both parameter points of the slowed component
    sort = verdict["sort"]
    assert sort is not None and sort["ascending"] == sorted(sort["before"])
    assert verdict["screenshot"].is_file()
