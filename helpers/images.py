"""Load real-world image files safely as RGB, and find the images in a folder.

Grayscale, palette, RGBA, CMYK, 16-bit and EXIF-rotated files come back as correctly
oriented 8-bit RGB. Corrupt, truncated, empty, non-image and oversized files raise
``ImageLoadError`` with the file name and the reason. Pillow's decompression-bomb limit is
kept. Files are only ever read, never modified.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.env import KitError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class ImageLoadError(KitError):
    """A file that cannot be used as an image; the message says which and why.

    Plumbing: not taught in a notebook.
    """


def _to_8bit_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "F" else max(float(arr.max()), 1e-12)
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path, reduce_to: int | None = None) -> Image.Image:
    """Open ``path`` as an 8-bit RGB PIL image, rotated as its EXIF tag says.

    Transparent pixels are composited on white. Raises ``ImageLoadError`` with a reason
    a beginner can act on instead of a traceback from inside Pillow. ``reduce_to``: a JPEG is
    decoded directly at a reduced scale (1/2, 1/4 or 1/8; Pillow's draft mode) that keeps both
    sides at least this many pixels: a 4000 x 3000 phone photo for a 224 px network decodes
    about 10 x faster, in 1/64 of the memory.
    Used in 04_cosine_retrieval, section "6. Search by photo".
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such file")
    return _decode(path, path, path.stat().st_size, reduce_to)


def load_rgb_bytes(data: bytes, name: str = "uploaded image") -> Image.Image:
    """Like ``load_rgb`` for the bytes of a file (e.g. an upload widget's content).

    Used in 04_cosine_retrieval, section "6. Search by photo".
    """
    import io
    return _decode(io.BytesIO(bytes(data)), name, len(data))


def _decode(source, path, size: int, reduce_to: int | None = None) -> Image.Image:
    if size == 0:
        raise ImageLoadError(f"{path}: the file is empty (0 bytes)")
    try:
        with Image.open(source) as img:
            if reduce_to and img.format == "JPEG":
                img.draft("RGB", (reduce_to, reduce_to))
            img = ImageOps.exif_transpose(img)
            img.load()
            return _to_8bit_rgb(img)
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{path}: the image is too large to decode safely "
                             f"(over Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels); resize it first") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"{path}: the image is corrupt or truncated ({err})") from None


def list_images(folder: str | Path) -> list[Path]:
    """Every file with an image extension under ``folder`` (recursively, any case), sorted.

    Plumbing: not taught in a notebook.
    """
    folder = Path(folder)
    if not folder.exists():
        raise KitError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise KitError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def load_images(paths, size: int | None = None):
    """Load many files, skipping the ones that fail.

    Returns (images, kept_paths, skipped) where ``skipped`` is a list of
    (path, reason) pairs. ``size`` resizes every image to size x size.
    Used in 00_start_here, section "6. A first search engine: raw pixels".
    """
    images, kept, skipped = [], [], []
    for path in paths:
        try:
            img = load_rgb(path)
        except ImageLoadError as err:
            skipped.append((Path(path), str(err).split(": ", 1)[-1]))
            continue
        if size is not None:
            img = img.resize((size, size), Image.BICUBIC)
        images.append(img)
        kept.append(Path(path))
    return images, kept, skipped
