"""report.html of `arena compare` in a real headless Chromium: it makes no network request at all (plotly.js and
the data are inline), draws its charts, shows hostile model names as text and prints to PDF.

Needs Debian's chromium at /usr/bin/chromium and playwright (driven with executable_path).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compare import STRENGTH, _battles, _changed, _write_run

from arena.cli import main

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"
CATS = ("x", "<b>cat</b>")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium: apt-get install -y chromium"),
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a weekly pair: m-a better, one model with a name full of HTML."""
    root = tmp_path_factory.mktemp("htmlreport")
    strength = {**STRENGTH, HOSTILE: 0.1}
    old = _battles(strength, 40, seed=1, cats=CATS)
    new = _changed(old, _battles({**strength, "m-a": 1.5}, 40, seed=2, cats=CATS), "m-a")
    old_run, new_run = _write_run(root, "r1", old), _write_run(root, "r2", new)
    assert main(["compare", str(old_run), str(new_run), "--rounds", "60"]) == 0
    return new_run / "report.html"


def test_report_html_opens_offline_with_charts_and_escaped_names(report: Path) -> None:
    from playwright import sync_api

    text = report.read_text()
    assert "<script>alert(2)" not in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "<script src" not in text and "<link" not in text  # nothing to fetch: plotly.js is inline
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requests: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        page.wait_for_timeout(300)  # let any late fetch (fonts, tiles) show up
        charts = page.locator(".js-plotly-plot").count()
        ticks = page.locator(".js-plotly-plot .ytick text").all_text_contents()
        cells = page.locator("td").all_text_contents()
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4")
        browser.close()
    assert requests and all(u.startswith(("file://", "data:")) for u in requests), requests
    assert dialogs == []
    assert charts == 2  # the changes of every model, and m-a's category contributions
    assert HOSTILE in cells  # shown as text in the tables
    assert HOSTILE.replace("<", "‹").replace(">", "›") in ticks and "‹b›cat‹/b›" in ticks
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
