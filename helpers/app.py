"""The "search by photo" app of 04_cosine_retrieval, as one small ipywidgets class.

Every result is its own ``widgets.Image`` in a box whose ``children`` are replaced on each update: no
``Output.clear_output()`` (with ipywidgets 8 it blanks every second update, ipywidgets issue 3702).
The same app runs in the notebook and, without code, as a web page: ``make app`` serves ``helpers/app.ipynb``
with Voila.
"""
from __future__ import annotations

import html
import io
import time

# Okabe-Ito colours, as in helpers.plotting: relevant, not relevant, unknown (an upload has no label), query
FRAME = {True: "#009E73", False: "#D55E00", None: "#999999"}
MARK = {True: "+ ", False: "x ", None: ""}
QUERY = "#0072B2"
THUMB = 128   # px: large enough to see a product


def png_thumbnail(image, size: int = THUMB) -> bytes:
    """A PIL image as PNG bytes, fitted into ``size`` x ``size`` pixels (aspect kept).

    Plumbing: not taught in a notebook.
    """
    img = image.convert("RGB").copy()
    img.thumbnail((size, size))
    if max(img.size) < size:                                   # small images are enlarged to the thumbnail size
        scale = size / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class SearchApp:
    """Query by a product photo or an upload; see the k best matches with their scores.

    ``search(image, feature, k)`` returns [(path, score), ...] best first; ``examples`` maps a name to
    (PIL image, label): results whose folder name equals the label are framed as relevant, others as not; an
    upload has no label, so its results are framed neutrally. ``text_search(query, k)``, if given (07's
    ``helpers.crossmodal.search_text``), adds a text box: a typed description searches its gallery instead.
    ``explain(image, paths, feature)``, if given, adds a "why" toggle: it returns (query map, [one map per result])
    such as 08's ``helpers.explain.similarity_maps`` gives (or None for a feature it cannot explain), drawn
    over the thumbnails.
    A notebook displays the app itself (``app`` as a cell's last line); ``app.widget`` is its ipywidgets box.
    Used in 04_cosine_retrieval, section "6. Search by photo".
    """

    def __init__(self, search, examples: dict, features: list, k: int = 6, max_k: int = 12, default=None,
                 feature=None, text_search=None, explain=None):
        import ipywidgets as widgets
        self.search, self.examples, self.uploaded, self.text_search = search, examples, None, text_search
        self.explain = explain
        wide = {"description_width": "initial"}
        self.picker = widgets.Dropdown(options=list(examples), value=default or next(iter(examples)),
                                       description="product photo", style=wide, layout={"width": "340px"})
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload a photo",
                                         layout={"width": "170px"})
        self.back = widgets.Button(description="back to product photos", disabled=True, layout={"width": "190px"})
        self.feature = widgets.ToggleButtons(options=list(features), value=feature or features[-1], description="feature",
                                             style={**wide, "button_width": "auto"})
        self.k = widgets.IntSlider(value=k, min=1, max=max_k, description="k", style=wide)
        self.status = widgets.HTML()
        self.query = widgets.VBox()
        self.results = widgets.Box(layout={"flex_flow": "row wrap"})
        self.results.add_class("cbir-results")
        for w in (self.picker, self.feature, self.k):
            w.observe(self.update, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.back.on_click(self._on_back)
        self.text = widgets.Text(placeholder="or describe it: a small red striped star", description="text",
                                 continuous_update=False, style=wide, layout={"width": "420px"})
        self.text.observe(self._on_text, names="value")
        self.why = widgets.ToggleButton(description="why? similarity maps", layout={"width": "190px"})
        self.why.observe(self.update, names="value")
        rows = [widgets.HBox([self.picker, self.upload, self.back] + ([self.why] if explain else []))]
        rows += [self.text] if text_search else []
        self.widget = widgets.VBox(rows + [self.feature, self.k, self.status, widgets.HBox([self.query, self.results])])
        self.update()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _on_upload(self, change) -> None:
        if change["new"]:
            item = change["new"][0]
            self.uploaded = (bytes(item["content"]), item["name"])
            self.back.disabled = False
            self.update()

    def _on_text(self, change) -> None:
        if change["new"].strip():
            self.back.disabled = False
            self.update()

    def _on_back(self, _=None) -> None:
        self.uploaded, self.back.disabled = None, True
        self.upload.value = ()
        self.text.value = ""
        self.update()

    def current_query(self):
        """(PIL image, title, label or None) of the upload if there is one, else of the picked product photo."""
        if self.uploaded is not None:
            from helpers.images import load_rgb_bytes
            content, name = self.uploaded
            return load_rgb_bytes(content, name), name, None
        image, label = self.examples[self.picker.value]
        return image, self.picker.value, label

    def update(self, _=None) -> list:
        """Search again and replace the query and result tiles; returns [(path, score), ...]."""
        import ipywidgets as widgets
        text = self.text.value.strip() if self.text_search else ""
        start = time.perf_counter()
        try:                                    # a bad file or an unknown word: say so, keep the app alive
            if text:
                label, found = None, self.text_search(text, self.k.value)
                engine, query = "text, notebook 07's model", widgets.HTML(f"<b style='color:{QUERY}'>&ldquo;{html.escape(text[:40])}&rdquo;</b>")
            else:
                image, title, label = self.current_query()
                found, engine = self.search(image, self.feature.value, self.k.value), self.feature.value
                maps = self.explain(image, [p for p, _ in found], self.feature.value) \
                    if self.explain and self.why.value else None
                if self.why.value and self.explain:
                    engine += "; maps: where the similarity comes from" if maps else "; maps exist for CNN features only"
                query = self._tile(image, title[:24], QUERY, "cbir-query", maps[0] if maps else None)
        except ValueError as err:
            self.status.value = f"<b style='color:{FRAME[False]}'>{html.escape(str(err))}</b>"   # names come from users
            self.query.children, self.results.children = (), ()
            return []
        ms = 1000 * (time.perf_counter() - start)
        self.status.value = (f"{len(found)} results in {ms:.0f} ms ({engine})"
                             + ("; no label for this query: results are framed in grey" if label is None else ""))
        self.query.children = (query,)
        heat = maps[1] if not text and maps else [None] * len(found)
        self.results.children = tuple(
            self._tile(_open(path), f"#{rank} {MARK[rel]}{score:.2f}", FRAME[rel], "cbir-result", h)
            for rank, ((path, score), h) in enumerate(zip(found, heat), start=1)
            for rel in [None if label is None else path.parent.name == label])
        return found

    @staticmethod
    def _tile(image, text: str, colour: str, css: str, heat=None):
        import ipywidgets as widgets
        picture = widgets.Image(value=png_thumbnail(image if heat is None else heat_overlay(image, heat)), format="png",
                                layout={"width": f"{THUMB}px", "height": f"{THUMB}px", "object_fit": "contain",
                                        "border": f"4px solid {colour}"})
        caption = widgets.HTML(f"<span style='color:{colour};font-weight:bold'>{html.escape(text)}</span>")
        tile = widgets.VBox([picture, caption], layout={"margin": "0 6px 6px 0", "align_items": "center"})
        tile.add_class(css)
        return tile


def heat_overlay(image, heat, alpha: float = 0.55):
    """``image`` (PIL) with a small map (h, w) drawn over it: positive contributions in the inferno colours.

    Plumbing: not taught in a notebook.
    """
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image
    h = np.clip(np.asarray(heat, dtype=np.float32), 0, None)
    h = h / h.max() if h.max() > 0 else h
    big = np.asarray(Image.fromarray(h).resize(image.size, Image.BILINEAR))          # (H, W) in [0, 1]
    rgb = colormaps["inferno"](big)[..., :3] * 255
    blend = (1 - alpha) * np.asarray(image.convert("RGB"), np.float32) + alpha * rgb
    return Image.fromarray(blend.clip(0, 255).astype(np.uint8))


def _open(path):
    from helpers.images import load_rgb
    return load_rgb(path)


def catalogue_app(seed: int = 0):
    """The app over the catalogue gallery with colour histograms and EfficientNet-Lite0 (what ``make app`` serves),
    plus text search over ``shapes`` once notebook 07 has saved its model.

    The search is the one 04_cosine_retrieval builds in section 6, cosine top-k on L2-normalised features.
    Plumbing: not taught in a notebook.
    """
    from helpers.datasets import build, protocol
    from helpers.extractors import get
    from helpers.images import load_images
    from helpers.pipeline import compute_cached
    from helpers.retrieval import CosineIndex
    build("catalogue", seed=seed)
    cat = protocol("catalogue", seed=seed)
    gallery = [cat["paths"][i] for i in cat["gallery_idx"]]
    names = {"colour histogram": "colour_hist", "CNN (EfficientNet-Lite0)": "efficientnet_lite0"}
    describe, indexes = {}, {}
    for title, name in names.items():
        preprocess, embed = get(name).load()
        describe[title] = (preprocess, embed)
        indexes[title] = CosineIndex().fit(compute_cached(name, gallery, progress=False)[0])

    def search(image, feature, k):
        import numpy as np
        import torch
        preprocess, embed = describe[feature]
        x = preprocess(image.convert("RGB"))
        q = np.stack([x]) if embed is None else embed(torch.stack([x]))     # (1, d), as compute_cached made them
        scores, idx = indexes[feature].search(np.asarray(q, dtype=np.float32), k)
        return [(gallery[j], float(s)) for s, j in zip(scores[0], idx[0])]

    queries = [cat["paths"][i] for i in cat["query_idx"]]
    images, kept, _ = load_images(queries)
    examples = {f"{p.parent.name}/{p.stem}": (img, p.parent.name) for p, img in zip(kept, images)}
    def explain(image, paths, feature):                          # 08's similarity maps, for the CNN only
        import torch
        from helpers.backbones import load_backbone
        from helpers.explain import similarity_maps
        from helpers.features import feature_maps
        if feature != "CNN (EfficientNet-Lite0)":
            return None
        model, preprocess = _BACKBONE.setdefault("effnet", load_backbone("efficientnet_lite0"))
        with torch.inference_mode():
            fmaps = feature_maps(model.eval(), torch.stack([preprocess(im) for im in [image] + [_open(p) for p in paths]]))
        pairs = [similarity_maps(fmaps[0], fmaps[i]) for i in range(1, len(fmaps))]   # (query map, result map)
        return pairs[0][0] if pairs else None, [r for _, r in pairs]

    from helpers.crossmodal import MODEL_NAME, search_text
    from helpers.store import model_record
    text_search = search_text if model_record(MODEL_NAME) is not None else None   # once notebook 07 has run
    return SearchApp(search, examples, list(names), default=list(examples)[7], feature="CNN (EfficientNet-Lite0)",
                     text_search=text_search, explain=explain)


_BACKBONE: dict = {}
