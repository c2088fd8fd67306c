"""The "search by photo" app without a browser: every update replaces the tiles; uploads are framed neutrally."""
import datetime
import io

import numpy as np
import pytest
from PIL import Image

from helpers.app import FRAME, SearchApp, png_thumbnail


@pytest.fixture
def app(folder):
    paths = sorted(folder.rglob("*.png"))
    images = {p: Image.open(p).convert("RGB") for p in paths}

    def search(image, feature, k):                 # a fake engine: mean colour distance
        q = np.asarray(image, float).mean((0, 1))
        d = sorted((float(np.abs(np.asarray(images[p], float).mean((0, 1)) - q).sum()), p) for p in paths)
        return [(p, 1 / (1 + s)) for s, p in d[:k]]
    examples = {f"{p.parent.name}/{p.stem}": (images[p], p.parent.name) for p in paths[::4]}
    return SearchApp(search, examples, ["a", "b"], k=3)


def _upload(app, data: bytes, name: str):
    app.upload.value = ({"name": name, "content": memoryview(data), "type": "image/png", "size": len(data),
                         "last_modified": datetime.datetime.now()},)


def _colours(app):
    return [tile.children[1].value.split("color:")[1][:7] for tile in app.results.children]


def test_every_update_shows_k_results_framed_by_relevance(app):
    assert len(app.results.children) == 3 and len(app.query.children) == 1
    assert _colours(app)[0] == FRAME[True]                      # the query image itself is in this gallery
    for k in (5, 1, 12):
        app.k.value = k
        assert len(app.results.children) == k
    app.picker.value = list(app.examples)[1]
    app.feature.value = "a"
    assert len(app.results.children) == 12 and "12 results in" in app.status.value


def test_an_upload_is_framed_neutrally_and_back_returns_to_the_products(app):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 120, 0)).save(buf, format="PNG")
    _upload(app, buf.getvalue(), "mine.png")
    assert set(_colours(app)) == {FRAME[None]} and not app.back.disabled
    assert all(" + " not in t.children[1].value and " x " not in t.children[1].value for t in app.results.children)
    app.k.value = 2                                             # controls keep working on the upload
    assert len(app.results.children) == 2 and set(_colours(app)) == {FRAME[None]}
    app.back.click()
    assert app.back.disabled and app.upload.value == () and FRAME[None] not in _colours(app)


def test_a_file_that_is_not_an_image_gives_one_sentence_and_the_app_keeps_working(app):
    _upload(app, b"just text", "notes.png")
    assert "not an image" in app.status.value and app.results.children == ()
    app.back.click()
    assert len(app.results.children) == 3


def test_thumbnails_are_at_least_128_px():
    small = Image.new("RGB", (48, 24))
    thumb = Image.open(io.BytesIO(png_thumbnail(small)))
    assert max(thumb.size) == 128 and thumb.size[0] == 2 * thumb.size[1]


def test_a_text_query_searches_with_the_text_model_and_back_clears_it(folder):
    paths = sorted(folder.rglob("*.png"))
    calls = []

    def text_search(query, k):
        calls.append(query)
        if "zebra" in query:
            from helpers.env import KitError
            raise KitError("no word of 'zebra' names a shape the model knows")
        return [(p, 0.5) for p in paths[:k]]
    examples = {"a": (Image.open(paths[0]).convert("RGB"), paths[0].parent.name)}
    app = SearchApp(lambda im, f, k: [(p, 0.9) for p in paths[:k]], examples, ["f"], k=4, text_search=text_search)
    assert app.text in app.widget.children
    app.text.value = "a red star"
    assert calls == ["a red star"] and len(app.results.children) == 4 and set(_colours(app)) == {FRAME[None]}
    assert "text" in app.status.value and not app.back.disabled
    app.text.value = "a zebra"
    assert "zebra" in app.status.value and app.results.children == ()
    app.back.click()
    assert app.text.value == "" and len(app.results.children) == 4 and FRAME[True] in _colours(app)
    assert len(SearchApp(lambda *a: [], examples, ["f"]).widget.children) == len(app.widget.children) - 1  # no box


def test_the_why_toggle_draws_the_maps_over_the_thumbnails(folder):
    paths = sorted(folder.rglob("*.png"))
    asked = []

    def explain(image, result_paths, feature):
        asked.append((feature, len(result_paths)))
        return (np.ones((2, 2)), [np.eye(2)] * len(result_paths)) if feature == "cnn" else None
    examples = {"a": (Image.open(paths[0]).convert("RGB"), paths[0].parent.name)}
    app = SearchApp(lambda im, f, k: [(p, 0.9) for p in paths[:k]], examples, ["hist", "cnn"], k=3, explain=explain)
    plain = [t.children[0].value for t in app.results.children]
    assert asked == []                                           # off by default: no cost
    app.why.value = True
    assert asked == [("cnn", 3)] and "maps" in app.status.value
    assert [t.children[0].value for t in app.results.children] != plain
    app.feature.value = "hist"
    assert "CNN features only" in app.status.value and [t.children[0].value for t in app.results.children] == plain
