"""Generators of the two embedded datasets: procedural ``shapes`` and photo ``catalogue``.

Every image is a pure function of its recorded parameters, so a notebook can re-render one
image with a single nuisance changed (brighter, rotated, smaller, ...). Photos come from the
scikit-image and scikit-learn wheels through their APIs; nothing is downloaded.
"""
from __future__ import annotations

import colorsys
import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "cross",
                 "ring", "hexagon", "diamond", "crescent", "arrow"]
# Each class prefers one hue, so colour is partly (not fully) informative of class.
PREFERRED_HUE = dict(zip(SHAPE_CLASSES, np.linspace(0, 1, len(SHAPE_CLASSES), endpoint=False)))
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "retina", "motorcycle", "china", "flower"]
SUPER = 3  # draw at 3x and downsample: smooth edges


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """One of the bundled real photos as a uint8 array (H, W, 3).

    Plumbing: not taught in a notebook.
    """
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        return load_sample_image(f"{name}.jpg")
    from skimage import data
    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return np.ascontiguousarray(getattr(data, name)()[..., :3])


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float):
    def ring(n, radii, start=0.0):
        t = np.deg2rad(angle) + start + np.arange(n * len(radii)) * 2 * np.pi / (n * len(radii))
        rr = np.tile(radii, n) * r
        return list(zip(cx + rr * np.cos(t), cy + rr * np.sin(t)))
    if kind == "square":
        return ring(4, [1.0], np.pi / 4)
    if kind == "triangle":
        return ring(3, [1.0], -np.pi / 2)
    if kind == "star":
        return ring(5, [1.0, 0.42], -np.pi / 2)
    if kind == "hexagon":
        return ring(6, [1.0])
    pts = {"diamond": [(0, -1), (.55, 0), (0, 1), (-.55, 0)],
           "cross": [(-.3, -1), (.3, -1), (.3, -.3), (1, -.3), (1, .3), (.3, .3), (.3, 1),
                     (-.3, 1), (-.3, .3), (-1, .3), (-1, -.3), (-.3, -.3)],
           "arrow": [(-1, -.25), (.2, -.25), (.2, -.7), (1, 0), (.2, .7), (.2, .25), (-1, .25)]}[kind]
    a = np.deg2rad(angle)
    return [(cx + r * (x * np.cos(a) - y * np.sin(a)), cy + r * (x * np.sin(a) + y * np.cos(a))) for x, y in pts]


def object_mask(kind: str, size: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    """The silhouette of one shape, drawn exactly as the generators draw it: a greyscale PIL image (size, size),
    255 inside the shape and 0 outside.

    kind: one of ``SHAPE_CLASSES``; (cx, cy): its centre and r: its radius, in pixels of the mask; angle: its
    rotation in degrees. Draw at ``SUPER`` times the image size and average blocks of SUPER x SUPER pixels to get
    the fraction of each image pixel the object covers.
    Used in 08_explain_and_detect, section "3. Diagnosing a failure with the maps".
    """
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    box = [cx - r, cy - r, cx + r, cy + r]
    if kind == "circle":
        draw.ellipse(box, fill=255)
    elif kind == "ring":
        draw.ellipse(box, fill=255)
        draw.ellipse([cx - .55 * r, cy - .55 * r, cx + .55 * r, cy + .55 * r], fill=0)
    elif kind == "crescent":
        draw.ellipse(box, fill=255)
        a = np.deg2rad(angle)
        ox, oy = cx + .45 * r * np.cos(a), cy + .45 * r * np.sin(a)
        draw.ellipse([ox - .8 * r, oy - .8 * r, ox + .8 * r, oy + .8 * r], fill=0)
    else:
        draw.polygon(_polygon(kind, cx, cy, r, angle), fill=255)
    return mask


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val)) * 255.0


def _lighting(arr: np.ndarray, p: dict) -> np.ndarray:
    """Brightness, contrast and colour cast on a float image (H, W, 3) in 0..255."""
    arr = (arr - 128.0) * p["contrast"] + 128.0
    arr = arr * p["brightness"] * np.array([p["cast_r"], p["cast_g"], p["cast_b"]])
    return arr


def sample_shape_params(index: int, seed: int = 0) -> dict:
    """The recorded parameters of image ``index`` of the shapes dataset.

    Plumbing: not taught in a notebook.
    """
    rng = np.random.default_rng([seed, index])
    label = SHAPE_CLASSES[index % len(SHAPE_CLASSES)]
    hue = PREFERRED_HUE[label] + rng.normal(0, 0.015) if rng.random() < 0.8 else rng.random()
    photo_name = PHOTOS[rng.integers(len(PHOTOS))]
    return dict(
        label=label, hue=round(float(hue) % 1.0, 4), sat=round(rng.uniform(0.75, 1.0), 3),
        val=round(rng.uniform(0.8, 1.0), 3),
        texture=["solid", "stripes", "dots", "checker"][rng.integers(4)],
        background="photo" if rng.random() < 0.4 else "gradient",
        photo=photo_name, bg_x=round(rng.random(), 4), bg_y=round(rng.random(), 4),
        bg_hue=round(rng.random(), 4), x=round(rng.uniform(-.1, .1), 3), y=round(rng.uniform(-.1, .1), 3),
        scale=round(rng.uniform(0.36, 0.46), 3), rotation=round(rng.uniform(0, 360), 1),
        brightness=round(rng.uniform(0.8, 1.2), 3), contrast=round(rng.uniform(0.8, 1.2), 3),
        cast_r=round(rng.uniform(0.92, 1.08), 3), cast_g=round(rng.uniform(0.92, 1.08), 3),
        cast_b=round(rng.uniform(0.92, 1.08), 3), noise=round(rng.uniform(0, 6), 2),
        occlusion=round(rng.uniform(0.08, 0.18), 3) if rng.random() < 0.25 else 0.0,
        occ_x=round(rng.random(), 3), occ_y=round(rng.random(), 3),
        noise_seed=int(rng.integers(2**31)),
    )


def render_shape(p: dict, size: int = 48) -> Image.Image:
    """Draw one shapes image from its parameters (see ``sample_shape_params``).

    Used in 01_colour_histograms, section "1. A colour histogram, by hand".
    """
    S = size * SUPER
    # background: a crop of a bundled photo, or a two-colour gradient
    if p["background"] == "photo":
        img = photo(p["photo"])
        side = min(img.shape[:2]) // 2
        y0 = int(p["bg_y"] * (img.shape[0] - side))
        x0 = int(p["bg_x"] * (img.shape[1] - side))
        bg = np.asarray(Image.fromarray(img[y0:y0 + side, x0:x0 + side]).resize((S, S), Image.BILINEAR), float)
    else:
        t = np.linspace(0, 1, S)[None, :, None]
        c0, c1 = _rgb(p["bg_hue"], 0.15, 0.9), _rgb(p["bg_hue"] + 0.5, 0.15, 0.45)
        bg = np.broadcast_to(c0 * (1 - t) + c1 * t, (S, S, 3))
        bg = np.asarray(Image.fromarray(bg.astype(np.uint8)).rotate(p["bg_x"] * 360, resample=Image.BILINEAR,
                                                                    expand=False, fillcolor=tuple(int(v) for v in c0)), float)
    # foreground: the object's colour with a texture
    fg = np.empty((S, S, 3))
    fg[:] = _rgb(p["hue"], p["sat"], p["val"])
    yy, xx = np.mgrid[0:S, 0:S] / SUPER
    if p["texture"] == "stripes":
        fg[(xx + yy) % 8 < 3] *= 0.7
    elif p["texture"] == "dots":
        fg[((xx % 6 - 3) ** 2 + (yy % 6 - 3) ** 2) < 2.5] *= 0.7
    elif p["texture"] == "checker":
        fg[((xx // 4 + yy // 4) % 2) == 1] *= 0.8
    cx, cy = S / 2 + p["x"] * S, S / 2 + p["y"] * S
    alpha = np.asarray(object_mask(p["label"], S, cx, cy, p["scale"] * S, p["rotation"]), float)[..., None] / 255
    arr = bg * (1 - alpha) + fg * alpha
    if p["occlusion"] > 0:  # a grey block hides part of the scene
        w = int(np.sqrt(p["occlusion"]) * S)
        ox, oy = int(p["occ_x"] * (S - w)), int(p["occ_y"] * (S - w))
        arr[oy:oy + w, ox:ox + w] = 128
    arr = _lighting(arr, p)
    small = np.asarray(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).resize((size, size), Image.BOX), float)
    small = small + np.random.default_rng(p["noise_seed"]).normal(0, p["noise"], small.shape)
    return Image.fromarray(np.clip(small + 0.5, 0, 255).astype(np.uint8))


def crop_iou(a: dict, b: dict) -> float:
    """Intersection over union of two square crops given as dicts with x, y, side (same photo or 0.0).

    Plumbing: not taught in a notebook.
    """
    if a["photo"] != b["photo"]:
        return 0.0
    ix = max(0, min(a["x"] + a["side"], b["x"] + b["side"]) - max(a["x"], b["x"]))
    iy = max(0, min(a["y"] + a["side"], b["y"] + b["side"]) - max(a["y"], b["y"]))
    inter = ix * iy
    return inter / (a["side"] ** 2 + b["side"] ** 2 - inter)


MAX_CROP_IOU = 0.1   # products must be different objects: crops of one photo barely overlap (tested < 0.3)


def catalogue_items(n_per_photo: int = 7, seed: int = 0) -> list[dict]:
    """Item definitions: a square crop (photo, x, y, side) of a bundled photo per item.

    Crops of one photo overlap by at most ``MAX_CROP_IOU`` (intersection over union), and a crop with
    almost no texture (a patch of clear sky, the black rim of the retina) is not a product.
    Plumbing: not taught in a notebook.
    """
    items = []
    for p_i, name in enumerate(PHOTOS):
        img = photo(name)
        h, w = img.shape[:2]
        grey = img.mean(axis=2)
        rng = np.random.default_rng([seed, 1000 + p_i])
        mine = []
        for _ in range(5000):
            if len(mine) == n_per_photo:
                break
            side = int(rng.uniform(0.28, 0.4) * min(h, w))
            c = dict(item=f"{name}_{len(mine)}", photo=name, side=side,
                     x=int(rng.integers(0, w - side + 1)), y=int(rng.integers(0, h - side + 1)))
            if grey[c["y"]:c["y"] + side, c["x"]:c["x"] + side].std() < 6:
                continue
            if all(crop_iou(c, m) <= MAX_CROP_IOU for m in mine):
                mine.append(c)
        items += mine
    return items


def sample_view_params(view: int, item_index: int, seed: int = 0) -> dict:
    """Shopper-view parameters; view 0 is the clean catalogue (product) shot.

    Plumbing: not taught in a notebook.
    """
    if view == 0:
        return dict(shift_x=0.0, shift_y=0.0, zoom=1.0, rotation=0.0, flip=0, perspective=0.0,
                    brightness=1.0, contrast=1.0, cast_r=1.0, cast_g=1.0, cast_b=1.0,
                    blur=0.0, jpeg=0, noise=0.0, noise_seed=0)
    rng = np.random.default_rng([seed, 2000 + item_index, view])
    return dict(shift_x=round(rng.uniform(-.12, .12), 3), shift_y=round(rng.uniform(-.12, .12), 3),
                zoom=round(rng.uniform(0.8, 1.25), 3), rotation=round(rng.uniform(-25, 25), 1),
                flip=int(rng.random() < 0.3), perspective=round(rng.uniform(0, 0.12), 3),
                brightness=round(rng.uniform(0.65, 1.35), 3), contrast=round(rng.uniform(0.7, 1.3), 3),
                cast_r=round(rng.uniform(0.85, 1.15), 3), cast_g=round(rng.uniform(0.85, 1.15), 3),
                cast_b=round(rng.uniform(0.85, 1.15), 3), blur=round(rng.uniform(0, 1.2), 2),
                jpeg=int(rng.integers(25, 85)), noise=round(rng.uniform(0, 5), 2),
                noise_seed=int(rng.integers(2**31)))


@lru_cache(maxsize=48)   # a sweep re-draws the same products many times: pad each photo once (<= 48 kept)
def _reflect_padded(name: str, pad: int) -> Image.Image:
    return Image.fromarray(np.pad(photo(name), ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))


def render_view(item: dict, v: dict, size: int = 128) -> Image.Image:
    """One photo of a catalogue item as a shopper might take it.

    Used in 01_colour_histograms, section "4. Where histograms break: controlled sweeps".
    """
    img = photo(item["photo"])
    h, w = img.shape[:2]
    side = item["side"] / v["zoom"]
    cx = item["x"] + item["side"] / 2 + v["shift_x"] * item["side"]
    cy = item["y"] + item["side"] / 2 + v["shift_y"] * item["side"]
    pad = int(side)  # reflect-pad so crops near the border stay filled
    padded = _reflect_padded(item["photo"], pad)
    cx, cy = cx + pad, cy + pad
    jit = v["perspective"] * side * np.array([-1, 1, 1, -1, 1, 1, -1, -1]) * \
        np.random.default_rng(v["noise_seed"] + 1).uniform(0.3, 1.0, 8) if v["perspective"] else np.zeros(8)
    half = side / 2
    quad = np.array([cx - half, cy - half, cx - half, cy + half, cx + half, cy + half, cx + half, cy - half]) + jit
    out = padded.transform((size, size), Image.QUAD, tuple(quad), resample=Image.BICUBIC)
    if v["rotation"]:
        out = out.rotate(v["rotation"], resample=Image.BICUBIC, fillcolor=(255, 255, 255))
    if v["flip"]:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    if v["blur"]:
        out = out.filter(ImageFilter.GaussianBlur(v["blur"]))
    arr = _lighting(np.asarray(out, float), v)
    arr = arr + np.random.default_rng(v["noise_seed"]).normal(0, v["noise"], arr.shape)
    out = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    if v["jpeg"]:
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=v["jpeg"])
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out
