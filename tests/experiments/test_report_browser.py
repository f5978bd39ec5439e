"""The reviewer report in a real browser: headless Chromium loads every plot and makes no request.

Chromium (Debian package ``chromium``) runs on a copy of the report with a small probe script at the end
of the body that records in the DOM how many images decoded (``data-imgs="loaded/total"``); ``--dump-dom``
prints that DOM. The report's own Content-Security-Policy forbids scripts, so the copy adds
``script-src 'unsafe-inline'`` and nothing else: images stay limited to ``data:`` URIs.

"No external request" is checked three ways: the HTML holds no URL (static), the browser runs with every
host name unresolvable, and Chromium's network log must show no request started by the page (the
browser's own background calls carry the initiator ``not an origin`` and are not the report's doing).
A canary page with an external image proves the log check can fail.

A ``--lang zh`` report is checked for its Chinese headings and the catalog's Chinese indicator names in the
DOM Chromium builds, and for glyphs on screen: a heading in the report's font stack must not look like as many
characters that no font has (the boxes a browser draws without a CJK font).

Without Chromium the tests skip, except under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from innopoints.experiments.compare import compare_formulas
from innopoints.experiments.html import render_html
from innopoints.features.build import loan_features, population_features
from innopoints.models.formula.baseline import official_2024
from innopoints.pipeline.simulate import simulate

PROBE = ("<script>document.body.dataset.imgs = [...document.images].filter(i => i.complete && "
         "i.naturalWidth > 0).length + '/' + document.images.length;</script>")
CANARY = f'<!DOCTYPE html><html><body><img src="http://example.invalid/x.png">{PROBE}</body></html>'
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000")


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed but CI is set: .ci/run must install Debian's `chromium`")
    pytest.skip("chromium is not installed (apt-get install chromium); the browser check runs in CI")


def _open(page: Path, work: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium: the dumped DOM and the URLs of requests the page started."""
    netlog = work / f"{page.stem}.netlog.json"
    done = subprocess.run(
        [_chromium(), *FLAGS, f"--user-data-dir={work / (page.stem + '-profile')}", f"--log-net-log={netlog}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout, _page_requests(netlog)


def _page_requests(netlog: Path) -> list[str]:
    """URLs of every request the page itself started (Chromium's background calls excluded)."""
    text = netlog.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        # A log cut short at exit lacks its closing brackets; the events before are intact.
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"]


@pytest.fixture(scope="module")
def comparison():
    cohort = simulate(3000, 1, default_rate=0.08)
    loans = loan_features(cohort.firms, cohort.firm_years, cohort.loans)
    population, _ = population_features(cohort.firms, cohort.firm_years, 2025)
    a = official_2024()
    # B moves 2 points per stage from R&D expense to invention-patent applications, so both show as changed.
    moved = {"rd_expense": -2.0, "invention_patent_apps": 2.0}
    items = [i.model_copy(update={"points": i.points.model_copy(update={
        s: getattr(i.points, s) + moved[i.id] for s in ("startup", "growth", "stable")})}) if i.id in moved else i
        for i in a.indicators]
    b = a.model_copy(update={"name": "candidate", "title": "<b>not bold</b>", "indicators": items}).with_hash()
    return compare_formulas(a, b, loans, population, n_boot=50)


@pytest.fixture(scope="module")
def report_file(comparison, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(comparison), encoding="utf-8")
    return path


def test_report_renders_with_every_image_loaded_and_no_request(report_file, tmp_path):
    html = report_file.read_text(encoding="utf-8")
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"(?i)https?:|//|<script|<link|url\(", without_images), "the report names a URL"
    policy = "default-src 'none';"
    assert html.count(policy) == 1 and html.count("</body>") == 1
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace(policy, f"{policy} script-src 'unsafe-inline';")
                     .replace("</body>", f"{PROBE}</body>"), encoding="utf-8")

    dom, requests = _open(probe, tmp_path)

    loaded = re.search(r'data-imgs="(\d+)/(\d+)"', dom)
    assert loaded, "the probe did not run: no data-imgs attribute in the dumped DOM"
    n_loaded, n_images = int(loaded[1]), int(loaded[2])
    assert n_images >= 3 and n_loaded == n_images
    assert requests == []
    assert "&lt;b&gt;not bold&lt;/b&gt;" in dom  # the title was escaped, not rendered as markup


def test_network_log_check_catches_an_external_image(tmp_path):
    canary = tmp_path / "canary.html"
    canary.write_text(CANARY, encoding="utf-8")

    dom, requests = _open(canary, tmp_path)

    assert 'data-imgs="0/1"' in dom
    assert requests == ["http://example.invalid/x.png"]


def _screenshot(page: Path, work: Path) -> bytes:
    shot = work / f"{page.stem}.png"
    # A fresh profile goes in through XDG_CONFIG_HOME: with --user-data-dir this Chromium saves a blank screenshot.
    profile = work / f"{page.stem}-config"
    done = subprocess.run(
        [_chromium(), *FLAGS, "--window-size=400,90", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "XDG_CONFIG_HOME": str(profile)},
    )
    assert done.returncode == 0 and shot.is_file(), f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return shot.read_bytes()


@pytest.mark.slow  # three browser runs, about 12 s
def test_chinese_report_shows_chinese_headings_and_indicator_names(comparison, tmp_path):
    page = tmp_path / "report_zh.html"
    html = render_html(comparison, "zh")
    page.write_text(html, encoding="utf-8")

    dom, requests = _open(page, tmp_path)

    assert requests == [] and '<html lang="zh-CN">' in dom
    for heading in ("变化概览", "指标对比", "各指标各阶段分值", "按省份、阶段和中小企业划分的入选变化", "校准"):
        assert f"<h2>{heading}</h2>" in dom
    assert "研发费用金额" in dom and "与主营业务相关的发明专利申请量" in dom  # the two moved indicators

    # Glyphs, not boxes: the heading in the report's own font stack differs from four characters no font has.
    stack = re.search(r"body \{ font-family: ([^;]+);", html)[1]
    shots = []
    for name, text in (("cjk", "变化概览"), ("boxes", "\ue000\ue001\ue002\ue003")):
        probe = tmp_path / f"glyphs_{name}.html"
        probe.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>body {{ margin: 0; '
                         f"font-size: 48px; font-family: {stack}; }}</style></head><body>{text}</body></html>",
                         encoding="utf-8")
        shots.append(_screenshot(probe, tmp_path))
    assert shots[0] != shots[1], "Chinese text renders as boxes: install a CJK font (Debian: fonts-noto-cjk)"
