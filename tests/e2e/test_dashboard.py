"""The web dashboard in a real browser (headless Chromium through Playwright) against `sth serve`: sign in, train,
follow the log, evaluate, compare, download with the checksum checked, upload a dataset and summarise it; sweep and
read the sweep's page."""

import io
import os
import re
import shutil

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.browser


@pytest.fixture
def page(served):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing (.ci/run installs the Debian package chromium)")
        pytest.skip("needs Chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    sync_api.expect.set_options(timeout=15_000)  # a busy CI machine: waits end as soon as the page is there
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(accept_downloads=True)
        page.problems = []
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.on("console", lambda message: page.problems.append(message.text) if message.type == "error" else None)
        page.goto(f"{served['STH_URL']}/")
        yield page
        browser.close()


def hold(page, pattern: str) -> list:
    """Hold back the answers to requests matching `pattern` until `release`."""
    held: list = []
    page.route(pattern, lambda route: held.append(route))
    return held


def release(page, pattern: str, held: list, waiting) -> None:
    """Wait for the held request, check that the page still `waiting()` for it half a second on, let it through."""
    for _ in range(100):  # the route handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert held, f"the page sent no request for {pattern}"
    page.wait_for_timeout(500)
    assert waiting(), f"the page went on without the answer to {pattern}"
    held.pop().continue_()
    page.unroute(pattern)


def shoot(page, name: str) -> None:
    """A full-page screenshot for a person to look at, when STH_SCREENSHOTS names a folder."""
    if os.environ.get("STH_SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['STH_SCREENSHOTS']}/{name}.png", full_page=True)


def sign_in(page, served) -> None:
    from playwright.sync_api import expect

    page.fill("#key", served["STH_API_KEY"])
    page.click("#login-form button")
    expect(page.locator("#who")).to_have_text("admin (admin)")


LAYOUT = """([table, pane]) => {
  const box = (e) => e.getBoundingClientRect();
  const t = document.querySelector(table), column = t.parentElement, p = document.querySelector(pane);
  const width = t.style.width;
  t.style.width = "min-content";  // the narrowest the table can be, and its first row's cells at that width
  const minContent = box(t).width, cells = [...(t.querySelector("tbody tr") || t).children].map((c) => box(c).width);
  t.style.width = width;
  return { table: box(t).right, column: box(column).right, pane: box(p).left, columnWidth: box(column).width,
           minContent, cells, split: p.parentElement.className,
           rows: [...t.querySelectorAll("tbody tr")].map((r) => r.innerText) };
}"""


def assert_beside(page, table: str, pane: str, timeout_ms: float = 5_000) -> None:
    """Two columns: the pane's left edge is right of the list's column, and the table fits in that column (no
    sideways scroll), waited for up to `timeout_ms` (the list is drawn again every 2 s). Stacked, the pane starts
    where the list does. Heights are not compared: the pane is sticky, so after a scroll its top may lie below a
    short table's bottom on screen."""
    ok = "(l) => l.pane >= l.column - 1 && l.table <= l.column + 1"
    try:
        page.wait_for_function(f"(args) => ({ok})(({LAYOUT})(args))", arg=[table, pane], timeout=timeout_ms)
    except Exception as error:  # playwright's TimeoutError: say what the layout was
        raise AssertionError(f"{pane} is not beside {table}: {page.evaluate(LAYOUT, [table, pane])}") from error


def below(page, table: str, pane: str) -> bool:
    t, p = page.locator(table).bounding_box(), page.locator(pane).bounding_box()
    return p["y"] >= t["y"] + t["height"] - 1


def test_a_researcher_trains_evaluates_compares_and_downloads(page, served):
    from playwright.sync_api import expect

    page.fill("#key", "sth_not-a-key")
    page.click("#login-form button")
    expect(page.locator("#toast")).to_contain_text("unknown or revoked")
    held = hold(page, "**/v1/evaluators")  # no tab may show before the catalogue is in hand
    page.fill("#key", served["STH_API_KEY"])
    page.click("#login-form button")
    release(page, "**/v1/evaluators", held, waiting=lambda: page.locator("#who").inner_text() == "")
    expect(page.locator("#who")).to_have_text("admin (admin)")
    expect(page.locator("#toast")).to_be_hidden()  # the wrong key's error is not left standing

    held = hold(page, "**/v1/presets")  # the form must wait for the presets (a quick click once sent preset '')
    page.click("#tabs button[data-tab=submit]")
    button = page.locator("#train-form button")
    release(page, "**/v1/presets", held, waiting=button.is_disabled)
    expect(page.locator("#eval-evaluators input[value=gaussian]")).to_be_checked()
    page.select_option("#train-preset", "smoke")  # the default, quick, trains a ResNet: seconds matter here
    page.fill("#train-spec", '{"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"threshold": 1.5}}')
    page.click("#train-form button")
    expect(page.locator("#toast")).to_contain_text("spec.reg.threshold: must be < 1.0, got 1.5")  # the 422 as is
    page.fill("#train-spec", '{"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}')
    page.click("#train-form button")
    expect(page.locator("#toast")).to_contain_text("queued training")
    row = page.locator("#jobs tbody tr").first
    expect(row.locator("td.what")).to_have_text("small_cnn mnist-5k a0.1 Th0.2 e1 seed 0")  # its setting, in words
    expect(row).to_contain_text("succeeded", timeout=120_000)
    job_id = row.get_attribute("data-job")
    row.locator("button", has_text="details").click()
    expect(page.locator("#detail-log")).to_contain_text("epoch 1/1")
    assert_beside(page, "#jobs", "#job-detail")  # 1280 px wide: the details beside the list
    page.set_viewport_size({"width": 900, "height": 720})
    assert below(page, "#jobs", "#job-detail")  # narrow: below it
    page.set_viewport_size({"width": 1280, "height": 720})
    trained = page.locator("#job-detail dd button.link").last.inner_text()  # the model it trained, linked

    page.click("#tabs button[data-tab=submit]")
    page.fill("#eval-params", '{"gaussian": {"n_images": 100, "strengths": [0, 0.2, 0.4]}}')
    page.click("#eval-form button")
    expect(page.locator("#toast")).to_contain_text("queued evaluation")
    newest = page.locator("#jobs tbody tr").first
    expect(newest).to_contain_text("evaluate")  # the table has been drawn again with the new job on top
    expect(newest).to_contain_text("succeeded", timeout=120_000)
    # the evaluation row names its model (the name the worker gave it: setting, seed, job) and its evaluators
    expect(newest.locator("td.what")).to_have_text(re.compile(r"^small_cnn-mnist-5k-a0\.1-Th0\.2-e1-s0-\w+: gaussian$"))

    page.click("#tabs button[data-tab=models]")
    page.locator("#models .pick").first.check()
    page.select_option("#compare-evaluator", "gaussian")
    page.click("#compare")
    page.wait_for_function("document.querySelector('#compare-figure').naturalWidth > 0")
    expect(page.locator("#compare-note")).to_contain_text("95% Student t interval")
    page.click("#tabs button[data-tab=jobs]")
    page.locator(f"#jobs tr[data-job='{job_id}'] button", has_text="details").click()
    page.locator("#job-detail dd button.link", has_text=trained).click()  # the training's page links its model's
    expect(page.locator("#model-title")).to_contain_text(trained)
    expect(page.locator("#model-summary")).to_contain_text("small_cnn mnist-5k a0.1 Th0.2 e1 seed 0")
    page.wait_for_function("document.querySelector('#model-history').naturalWidth > 0")
    expect(page.locator("#model-results")).to_contain_text("AUC")
    page.fill("#model-tags", "demo, e2e")
    page.click("#model-form button")
    expect(page.locator("#toast")).to_contain_text("saved")
    on_top = "(() => { const b = document.querySelector('#toast').getBoundingClientRect();"
    on_top += " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2).id; })()"
    assert page.evaluate(on_top) == "toast"  # above the model page beside the list, not under it
    expect(page.locator("#model-tags")).to_have_value("demo, e2e")
    assert_beside(page, "#models", "#model-page")
    shoot(page, "dashboard-model")
    with page.expect_download() as download:
        page.locator("#models button", has_text="download").first.click()
    assert download.value.suggested_filename.endswith(".safetensors")
    expect(page.locator("#download-status")).to_contain_text("checked")  # sha256 computed in the browser

    page.click("#tabs button[data-tab=datasets]")
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, images=rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), labels=rng.integers(0, 10, 300))
    page.set_input_files("#upload-file", {"name": "toy.npz", "mimeType": "application/octet-stream",
                                          "buffer": buffer.getvalue()})  # fmt: skip
    page.fill("#upload-name", "toy")
    page.click("#upload-form button")
    expect(page.locator("#toast")).to_contain_text("uploaded upload:toy")
    page.select_option("#sim-dataset", "upload:toy")
    page.fill("#sim-threshold", "0.5")
    page.fill("#sim-low", "0.25")  # the double variant's Th2
    page.click("#similarity-form button")
    expect(page.locator("#similarity")).to_contain_text("300 images, 44850 pairs")
    figure = page.locator("#similarity svg.sim-figure")
    assert figure.locator("g.bins rect").count() == 40  # a bar per bin
    texts = figure.locator("text").all_text_contents()
    titles = {"pixel similarity S of a pair of images", "fraction of pairs"}
    assert titles | {"+Th", "\u2212Th", "+Th2", "\u2212Th2"} <= set(texts)  # axis titles, the marks' labels
    x_ticks = figure.locator("text.x-tick").all_text_contents()
    assert x_ticks == ["-1", "-0.75", "-0.5", "-0.25", "0", "0.25", "0.5", "0.75", "1"]
    y_ticks = [float(t) for t in figure.locator("text.y-tick").all_text_contents()]  # fractions of pairs
    assert len(y_ticks) >= 3 and y_ticks[0] == 0 and 0 < y_ticks[-1] <= 1 and y_ticks == sorted(y_ticks)
    assert any(t.startswith("\u00b1Th2 = \u00b10.25") for t in texts) and "\u00b1Th = \u00b10.5" in texts  # legend
    x_of = {t: figure.locator("text.x-tick", has_text=re.compile(f"^{re.escape(t)}$")).get_attribute("x")
            for t in ("0.5", "-0.5", "0.25", "-0.25")}  # fmt: skip
    marks = figure.locator("g.marks line")
    assert marks.count() == 4  # +-Th and +-Th2, where the ticks of +-0.5 and +-0.25 are
    assert sorted(float(marks.nth(i).get_attribute("x1")) for i in range(4)) == sorted(map(float, x_of.values()))
    shoot(page, "dashboard-similarity")
    expected = ("401", "422")  # the wrong key and the bad threshold, both on purpose
    assert all(any(code in problem for code in expected) for problem in page.problems), page.problems


def test_a_researcher_sweeps_and_reads_the_sweep_page(page, served):
    """The sweep form (a 422 shown at its field, then a tiny sweep: two trainings and their evaluations, seconds),
    the sweep's page (its table, selection, warnings and the figure comparing its settings), its children."""
    from playwright.sync_api import expect

    sign_in(page, served)
    page.click("#tabs button[data-tab=submit]")
    expect(page.locator("#sweep-evaluators input[value=gaussian]")).to_be_checked()
    page.select_option("#sweep-preset", "smoke")
    page.fill("#sweep-spec", '{"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}')
    page.fill("#sweep-grid", "reg.alpha = 0.1\nreg.threshold = 0.2, 1.5")
    page.fill("#sweep-params", '{"gaussian": {"n_images": 100, "strengths": [0, 0.2, 0.4]}}')
    page.fill("#sweep-min", "0.01")  # any setting may be selected after one epoch
    page.click("#sweep-form button")
    expect(page.locator("#sweep-error strong")).to_have_text("grid.reg.threshold")  # the 422's details.field
    expect(page.locator("#sweep-error")).to_contain_text("must be < 1.0, got 1.5")
    expect(page.locator("#sweep-grid")).to_have_class(re.compile("invalid"))
    expect(page.locator("#toast")).to_be_hidden()  # said once, where the field is
    page.fill("#sweep-grid", '{"reg.alpha": [0.1]}')  # JSON works too
    page.click("#sweep-form button")
    expect(page.locator("#sweep-error")).to_be_hidden()
    expect(page.locator("#detail-title")).to_have_text("Sweep")  # the sweep's page opens by itself
    sweep_id = page.locator("#detail-id").inner_text()
    sweep_row = page.locator(f"#jobs tr[data-job='{sweep_id}']")
    expect(sweep_row.locator("td.what")).to_have_text("small_cnn mnist-5k e1: reg.alpha 0.1, seed 0, by gaussian")
    assert_beside(page, "#jobs", "#job-detail")  # the running sweep's row has two buttons: they stack, it fits
    shoot(page, "dashboard-sweep-running")
    table = page.locator("#sweep-table")
    expect(table).to_be_visible(timeout=240_000)  # drawn again when the sweep ends
    expect(page.locator("#detail-progress")).to_contain_text("4 of 4 child jobs done")
    assert table.locator("tbody tr").all_inner_texts()[0].startswith("baseline (alpha 0)")
    expect(table.locator("tr.selected-row")).to_contain_text("reg.alpha 0.1")
    expect(table.locator("tr.selected-row .badge")).to_have_text("selected")
    expect(page.locator(".sweep-selected")).to_contain_text("Selected: reg.alpha 0.1")
    expect(page.locator("#sweep-evaluator")).to_have_value("gaussian")
    expect(page.locator("#sweep-figure-note")).to_contain_text("95% t interval")
    page.wait_for_function("document.querySelector('#sweep-figure').naturalWidth > 0")
    assert_beside(page, "#jobs", "#job-detail")
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole page in the screenshot
    shoot(page, "dashboard-sweep")

    # warnings stand above the table: one sent as a finished sweep's result would carry it
    warning = "the baseline looks undertrained: 1 of its 1 model(s) kept their last epoch"

    def with_warning(route):
        job = route.fetch().json()
        job["result"]["warnings"].append(warning)
        route.fulfill(json=job)

    page.route(f"**/v1/jobs/{sweep_id}", with_warning)
    sweep_row.locator("button", has_text="sweep page").click()
    expect(page.locator("#job-detail .warnings li").last).to_have_text(warning)
    box, top = page.locator("#job-detail .warnings").bounding_box(), table.bounding_box()
    assert box["y"] + box["height"] <= top["y"]
    page.unroute(f"**/v1/jobs/{sweep_id}")

    page.click("#sweep-children")  # its trainings and evaluations, and only them
    expect(page.locator("#f-parent")).to_be_visible()
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(4)
    for i in range(4):
        expect(rows.nth(i).locator("td.kind")).to_contain_text(f"of {sweep_id[:8]}")
    evaluation = page.locator("#jobs tbody tr", has=page.locator("td.kind", has_text="evaluate")).first
    named = re.compile(r"^small_cnn-mnist-5k-a(0|0\.1-Th0\.2)-e1-s0-\w+: gaussian$")  # its model, its evaluator
    expect(evaluation.locator("td.what")).to_have_text(named)
    page.click("#f-parent-clear")
    expect(rows).to_have_count(5)  # the sweep too
    assert not page.problems or all("422" in p for p in page.problems), page.problems


def test_a_report_page_shows_each_claims_verdict_and_the_full_report(page, served):
    """A tiny report (two seeds, seconds) queued over the API; its page gives each claim's evidence and verdict,
    and shows the full report in a sandboxed frame."""
    import httpx
    from playwright.sync_api import expect

    headers = {"Authorization": f"Bearer {served['STH_API_KEY']}"}
    job = httpx.post(f"{served['STH_URL']}/v1/reports", headers=headers, json={"protocol": "tiny", "seeds": [0, 1]})
    assert job.status_code == 201, job.text
    report_id = job.json()["id"]
    sign_in(page, served)
    row = page.locator(f"#jobs tr[data-job='{report_id}']")
    expect(row.locator("td.what")).to_have_text("tiny: small_cnn mnist-5k a0.1 Th0.2 e2 vs alpha 0, seeds 0,1")
    expect(row.locator(".status")).to_have_text("succeeded", timeout=240_000)
    row.locator("button", has_text="report").click()
    expect(page.locator("#detail-title")).to_have_text("Report")
    report = httpx.get(f"{served['STH_URL']}/v1/reports/{report_id}", headers=headers).json()
    claims = page.locator("#report-claims tbody tr")
    expect(claims).to_have_count(len(report["claims"]))
    first = report["claims"][0]
    expect(claims.first.locator("td.verdict")).to_have_text(first["verdict"])
    expect(page.locator("#report-summary")).to_contain_text("paired t-test")
    page.click("#report-open")
    frame = page.frame_locator("#report-frame")
    expect(frame.locator("h1")).to_contain_text("reproduction report: tiny")
    expect(frame.locator("svg").first).to_be_visible()
    assert page.locator("#report-frame").get_attribute("sandbox") == ""
    page.set_viewport_size({"width": 1280, "height": 1600})
    shoot(page, "dashboard-report")
    assert not page.problems, page.problems
