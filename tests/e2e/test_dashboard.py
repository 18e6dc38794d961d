"""The web dashboard in a real browser (headless Chromium through Playwright) against `sth serve`: sign in, train,
follow the log, evaluate, compare, download with the checksum checked, upload a dataset and summarise it."""

import io
import os
import shutil

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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
    page.fill("#train-spec", '{"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"threshold": 1.5}}')
    page.click("#train-form button")
    expect(page.locator("#toast")).to_contain_text("spec.reg.threshold: must be < 1.0, got 1.5")  # the 422 as is
    page.fill("#train-spec", '{"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}')
    page.click("#train-form button")
    expect(page.locator("#toast")).to_contain_text("queued training")
    row = page.locator("#jobs tbody tr").first
    expect(row).to_contain_text("succeeded", timeout=120_000)
    row.locator("button", has_text="details").click()
    expect(page.locator("#detail-log")).to_contain_text("epoch 1/1")

    page.click("#tabs button[data-tab=submit]")
    page.fill("#eval-params", '{"gaussian": {"n_images": 100, "strengths": [0, 0.2, 0.4]}}')
    page.click("#eval-form button")
    expect(page.locator("#toast")).to_contain_text("queued evaluation")
    newest = page.locator("#jobs tbody tr").first
    expect(newest).to_contain_text("evaluate")  # the table has been drawn again with the new job on top
    expect(newest).to_contain_text("succeeded", timeout=120_000)

    page.click("#tabs button[data-tab=models]")
    page.locator("#models .pick").first.check()
    page.select_option("#compare-evaluator", "gaussian")
    page.click("#compare")
    page.wait_for_function("document.querySelector('#compare-figure').naturalWidth > 0")
    expect(page.locator("#compare-note")).to_contain_text("95% Student t interval")
    page.locator("#models button.link").first.click()  # the model page: what was trained, how it learned
    expect(page.locator("#model-summary")).to_contain_text("small_cnn mnist-5k a0.1 Th0.2 e1 seed 0")
    page.wait_for_function("document.querySelector('#model-history').naturalWidth > 0")
    expect(page.locator("#model-results")).to_contain_text("AUC")
    page.fill("#model-tags", "demo, e2e")
    page.click("#model-form button")
    expect(page.locator("#toast")).to_contain_text("saved")
    expect(page.locator("#model-tags")).to_have_value("demo, e2e")
    if os.environ.get("STH_SCREENSHOTS"):  # for a person to look at
        page.screenshot(path=f"{os.environ['STH_SCREENSHOTS']}/dashboard-model.png", full_page=True)
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
    page.click("#similarity-form button")
    expect(page.locator("#similarity")).to_contain_text("300 images, 44850 pairs")
    assert page.locator("#similarity .hist span").count() == 40
    expected = ("401", "422")  # the wrong key and the bad threshold, both on purpose
    assert all(any(code in problem for code in expected) for problem in page.problems), page.problems
