"""Real-world files: every odd mode loads as upright 8-bit RGB; bad files fail clearly."""
import numpy as np
import pytest
from PIL import Image

from helpers.env import KitError
from helpers.images import ImageLoadError, list_images, load_images, load_rgb, load_rgb_bytes


@pytest.fixture
def odd_files(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :15] = (255, 0, 0)
    files = {}
    Image.fromarray(rgb).convert("L").save(files.setdefault("gray", tmp_path / "gray.png"))
    Image.fromarray(rgb).convert("P").save(files.setdefault("palette", tmp_path / "palette.gif"))
    rgba = Image.fromarray(rgb).convert("RGBA")
    rgba.putalpha(0)
    rgba.save(files.setdefault("rgba", tmp_path / "rgba.png"))
    Image.fromarray(rgb).convert("CMYK").save(files.setdefault("cmyk", tmp_path / "cmyk.JPG"))
    Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16)).save(
        files.setdefault("16bit", tmp_path / "deep.png"))
    Image.fromarray(rgb).save(files.setdefault("webp", tmp_path / "photo.webp"), lossless=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise when shown
    Image.fromarray(rgb).save(files.setdefault("exif", tmp_path / "rotated.jpg"), exif=exif)
    return files


def test_odd_modes_load_as_rgb(odd_files):
    for kind, path in odd_files.items():
        img = load_rgb(path)
        assert img.mode == "RGB", kind
    assert np.asarray(load_rgb(odd_files["rgba"])).min() == 255  # transparent -> white
    deep = np.asarray(load_rgb(odd_files["16bit"]))
    assert deep.max() > 200 and deep.min() == 0  # scaled, not clipped to white
    assert np.asarray(load_rgb(odd_files["cmyk"]))[10, 2, 0] > 200


def test_exif_rotation_is_applied(odd_files):
    img = load_rgb(odd_files["exif"])
    assert img.size == (20, 30)  # width and height swapped: upright
    arr = np.asarray(img)
    assert arr[2, 10, 0] > 200 and arr[-2, 10, 0] < 60  # red half now on top


def test_bad_files_fail_with_name_and_reason(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is not an image")
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 40), "blue").save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    for name, reason in [("empty.png", "empty"), ("notes.jpg", "not an image"),
                         ("truncated.png", "corrupt or truncated"), ("missing.png", "no such file")]:
        with pytest.raises(ImageLoadError, match=reason) as err:
            load_rgb(tmp_path / name)
        assert name in str(err.value)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(ImageLoadError, match="too large"):
        load_rgb(path)


def test_load_images_skips_and_lists_bad_files_without_touching_them(tmp_path):
    Image.new("RGB", (10, 10), "red").save(tmp_path / "a.PNG")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (12, 8), "green").save(tmp_path / "sub" / "b.jpeg")
    (tmp_path / "sub" / "c.png").write_text("oops")
    (tmp_path / "readme.txt").write_text("not listed")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["a.PNG", "b.jpeg", "c.png"]
    images, kept, skipped = load_images(paths, size=16)
    assert [p.name for p in kept] == ["a.PNG", "b.jpeg"] and images[1].size == (16, 16)
    assert skipped[0][0].name == "c.png" and "not an image" in skipped[0][1]
    assert before == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def test_list_images_on_missing_folder(tmp_path):
    with pytest.raises(KitError, match="folder not found"):
        list_images(tmp_path / "nope")


def test_bytes_load_like_files(odd_files):
    for kind, path in odd_files.items():
        assert load_rgb_bytes(path.read_bytes()).tobytes() == load_rgb(path).tobytes(), kind
    with pytest.raises(ImageLoadError, match="upload.png: not an image"):
        load_rgb_bytes(b"hello", "upload.png")
    with pytest.raises(ImageLoadError, match="empty"):
        load_rgb_bytes(b"")
