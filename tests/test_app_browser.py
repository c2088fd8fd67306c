"""The "search by photo" app in a real browser: JupyterLab and Voila started on localhost by the test, Chromium
driven by Playwright, a scripted sequence of interactions; after each one the expected number of result images
must be visible, and still visible a moment later (ipywidgets 8 blanked every second update of the old app).

Skipped with a one-line reason where Chromium or Playwright is missing (`.ci/run` installs Chromium with apt).
"""
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt install chromium)")
TOKEN = "cbir-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Server environment: a data folder of its own (the catalogue is built there by the app)."""
    data = tmp_path_factory.mktemp("app_data")
    return {**os.environ, "CBIR_DATA": str(data), "CBIR_DEVICE": "cpu"}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _serve(cmd, env, port, cwd, log):
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()   # listening (a page request
            return proc                                                           # would start Voila's kernel)
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.terminate()
    pytest.fail(f"the server did not start: {' '.join(map(str, cmd))} (see {log.name})")


def _shown(page) -> tuple[int, int, list]:
    """(visible result images, the k the slider shows, result captions)."""
    images = page.locator(".cbir-result img")
    visible = sum(images.nth(i).is_visible() for i in range(images.count()))
    readout = page.locator(".widget-slider .widget-readout")
    if readout.count() == 0:                                   # the app has not rendered yet
        return 0, -1, []
    k = int(readout.first.inner_text().strip())
    captions = page.locator(".cbir-result .widget-html").all_inner_texts()
    return visible, k, captions


def _expect_results(page, what: str, expected: int | None = None, timeout: float = 30):
    """Wait until the results match the slider's k (or ``expected``), then check they stay visible."""
    deadline = time.time() + timeout
    while True:
        visible, k, captions = _shown(page)
        want = k if expected is None else expected
        if visible == want and len(captions) == want:
            break
        if time.time() > deadline:
            pytest.fail(f"after {what}: {visible} result images visible, expected {want}")
        time.sleep(0.25)
    time.sleep(1.5)      # the old app showed new results, then blanked them
    visible, k, captions = _shown(page)
    assert visible == want, f"after {what}: the results disappeared ({visible} of {want} still visible)"
    return captions


def _status(page) -> str:
    status = page.locator(".widget-html-content", has_text=" results in ")
    return status.first.inner_text() if status.count() else ""


def _wait_for_new_status(page, before: str, timeout: float = 15) -> None:
    """The status line names the time of each search: wait until it changes (the kernel has answered)."""
    deadline = time.time() + timeout
    while _status(page) == before and time.time() < deadline:
        time.sleep(0.1)


def _upload_file(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _choose_file(page, path: Path) -> None:
    """Click the upload button and pick ``path`` in the file chooser (ipywidgets keeps its input off the page)."""
    with page.expect_file_chooser() as chooser:
        page.locator(".widget-upload").first.click()
    chooser.value.set_files(str(path))


def _interact(page, tmp_path):
    """At least 10 interactions: k, feature, product, the similarity maps, upload, back, a non-image upload, back."""
    from PIL import Image
    from skimage import data as skdata
    buf = io.BytesIO()
    Image.fromarray(skdata.chelsea()).save(buf, format="PNG")
    cat = _upload_file(tmp_path, "my_cat_photo_with_a_long_file_name.png", buf.getvalue())
    fake = _upload_file(tmp_path, "notes.png", b"this is a text file, not an image")

    captions = _expect_results(page, "the first render", timeout=300)
    assert captions[0].startswith("#1 + "), f"the default query's best match is its product: {captions}"
    handle = page.locator(".widget-slider .noUi-handle").first
    steps = [("k + 1", lambda: (handle.focus(), page.keyboard.press("ArrowRight"))),
             ("k + 1 again", lambda: (handle.focus(), page.keyboard.press("ArrowRight"))),
             ("colour histogram", lambda: page.get_by_role("button", name="colour histogram").click()),
             ("back to the CNN", lambda: page.get_by_role("button", name="CNN (EfficientNet-Lite0)").click()),
             ("another product", lambda: page.locator(".widget-dropdown select").first.select_option(index=3)),
             ("a third product", lambda: page.locator(".widget-dropdown select").first.select_option(index=20)),
             ("k - 1", lambda: (handle.focus(), page.keyboard.press("ArrowLeft"))),
             ("why? on", lambda: page.get_by_role("button", name="why? similarity maps").click()),
             ("why? off", lambda: page.get_by_role("button", name="why? similarity maps").click())]
    for what, act in steps:
        before = _status(page)
        act()
        _wait_for_new_status(page, before)
        _expect_results(page, what)
    _choose_file(page, cat)
    page.locator(".widget-html-content", has_text="no label for this query").first.wait_for(timeout=60_000)
    captions = _expect_results(page, "an upload")
    assert page.locator(".widget-html-content", has_text="no label for this query").first.is_visible()
    assert not any(" + " in f" {c} " or " x " in f" {c} " for c in captions), \
        f"an upload has no label, its results must not be marked right or wrong: {captions}"
    before = _status(page)
    page.get_by_role("button", name="colour histogram").click()
    _wait_for_new_status(page, before)
    _expect_results(page, "changing the feature of an upload")
    page.get_by_role("button", name="back to product photos").click()
    page.locator(".widget-html-content", has_text=" results in ").filter(
        has_not_text="no label").first.wait_for(timeout=60_000)
    captions = _expect_results(page, "back to the product photos")
    assert all(c.split()[1] in "+x" for c in captions), f"a product photo's results are marked again: {captions}"
    _choose_file(page, fake)
    page.locator(".widget-html-content", has_text="not an image").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="back to product photos").click()
    _expect_results(page, "back after a file that is not an image")


def test_the_app_in_jupyterlab_updates_on_every_interaction(browser, env, tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "helpers" / "app.ipynb", root / "app.ipynb")
    port = _free_port()
    with open(tmp_path / "lab.log", "w") as log:
        proc = _serve([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                       f"--ServerApp.token={TOKEN}", "--LabApp.expose_app_in_browser=True", "--allow-root",
                       f"--ServerApp.root_dir={root}"], env, port, root, log)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/app.ipynb?token={TOKEN}")
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=120_000)
            page.wait_for_function("document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]')"
                                   " || document.querySelector('.jp-mod-kernel-idle') || true")
            time.sleep(3)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _interact(page, tmp_path)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_app_as_a_web_page_with_voila(browser, env, tmp_path):
    port = _free_port()
    with open(tmp_path / "voila.log", "w") as log:
        proc = _serve([sys.executable, "-m", "voila", str(ROOT / "helpers" / "app.ipynb"), "--no-browser",
                       f"--port={port}", "--Voila.ip=127.0.0.1", f"--ServerApp.token={TOKEN}"],
                      env, port, ROOT, log)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 760})
            page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}", timeout=300_000)
            _interact(page, tmp_path)
            assert page.get_by_text("from helpers.app import").count() == 0, "the web page shows no code"
            page.get_by_role("button", name="CNN (EfficientNet-Lite0)").click()
            page.locator(".widget-dropdown select").first.select_option(index=7)
            _expect_results(page, "the screenshot's query")
            page.set_viewport_size({"width": 1200, "height": 480})
            shot = ROOT / "build" / "search_by_photo_app.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
