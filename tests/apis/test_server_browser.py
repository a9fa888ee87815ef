"""seglab serve's page in a real headless Chromium: upload through the file input, see the overlay, the legend
and area shares, move the opacity slider, download the index PNG and compare it with inference_model."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import torch
from _optional import require, skip_reason
from _serve_fixtures import decode_png, running, shapes_image, tiny_model

from seglab.apis import inference_model


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        skip_reason("no-chromium", "apt-get install -y chromium (.ci/run does)")
    return path


def test_page_uploads_shows_overlay_and_downloads_the_index_png(tmp_path):
    sync_api = require("playwright.sync_api")
    chromium = _chromium()
    _, _, model = tiny_model(tmp_path)
    torch.set_num_threads(1)
    image_path = tmp_path / "scene.png"
    cv2.imwrite(str(image_path), shapes_image(48, 72, 5))
    expected = inference_model(model, str(image_path)).pred_sem_seg.data[0].numpy()
    counts = np.bincount(expected.ravel(), minlength=5)
    (tmp_path / "notes.png").write_bytes(b"plain text, not a PNG")
    with running(model) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.wait_for_selector("#legend tbody tr:nth-child(5)")  # /meta fetched: every class listed
            assert page.locator("#legend tbody tr td:nth-child(2)").all_inner_texts() == server.classes
            page.set_input_files("#file", str(image_path))
            page.wait_for_function("() => { const o = document.getElementById('overlay');"
                                   " return !o.hidden && o.complete && o.naturalWidth > 0; }", timeout=30_000)
            assert page.eval_on_selector("#overlay", "o => [o.naturalWidth, o.naturalHeight]") == [72, 48]
            # Legend: the present classes first, largest share first, with their percentages.
            rows = page.locator("#legend tbody tr")
            top = int(np.argmax(counts))
            assert rows.nth(0).get_attribute("data-index") == str(top)
            assert rows.nth(0).locator("td.share").inner_text() == f"{100 * counts[top] / expected.size:.2f} %"
            page.fill("#opacity", "0.25")
            assert page.eval_on_selector("#overlay", "o => getComputedStyle(o).opacity") == "0.25"
            with page.expect_download() as info:
                page.click("#download")
            download = info.value
            assert download.suggested_filename == "scene_labels.png"
            with open(download.path(), "rb") as f:
                np.testing.assert_array_equal(decode_png(f.read()), expected)
            # A file that is no image: the page shows the server's message.
            page.set_input_files("#file", str(tmp_path / "notes.png"))
            page.wait_for_selector("#status.error")
            assert "not an image" in page.inner_text("#status")
        finally:
            browser.close()
