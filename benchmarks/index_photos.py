"""Wall time and peak memory of ``python -m helpers index FOLDER --features efficientnet_lite0``
on 300 phone-sized JPEG photos (4000 x 3000 px, a few MB each).

Targets: peak memory (the command and its loader worker processes, summed as PSS so that pages the
forked workers share with the main process count once) < 2 GB, and >= 3 x the images/s of the code
before the streaming rewrite. That baseline is measured in the same run with ``--baseline-repo PATH``
(a git worktree of commit e6ff794; it needs about 16 GB of memory), else the figures this script
measured for it on the reference machine (2 cores): 1.91 images/s, 15.5 GB peak.
A second run on a single photo measures the start-up (imports, model), so the per-image rate is shown too.

The photos are made once, seeded, from the real photos shipped with scikit-image and scikit-learn
(a random crop of one source, enlarged, with a colour/brightness change and mild noise) into
``<data dir>/bench/photos_4000x3000/<source>/<i>.jpg``; the data dir is $CBIR_DATA or ``data/``.
``--repo PATH`` measures another checkout's ``helpers`` (e.g. a git worktree of an older commit).
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("CBIR_DATA", ROOT / "data"))
SIZE = (4000, 3000)  # (width, height), landscape
MAX_RSS_GB, SPEED_UP = 2.0, 3.0
BASELINE = {"images_per_s": 1.91, "peak_rss_gb": 15.5}   # e6ff794, this script, reference machine


def sources() -> dict:
    """Real photos as uint8 arrays of shape (height, width, 3), by name."""
    from skimage import data
    from sklearn.datasets import load_sample_images
    china, flower = load_sample_images().images
    return {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee(),
            "rocket": data.rocket(), "china": china, "flower": flower}


def make_photo(source: np.ndarray, path: Path, seed: int) -> None:
    """One 4000 x 3000 JPEG: random 4:3 crop of ``source``, enlarged, recoloured, with mild noise."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    h, w = source.shape[:2]
    crop_w = int(min(w, h * 4 / 3) * rng.uniform(0.6, 1.0))
    crop_h = int(crop_w * 3 / 4)
    x0, y0 = rng.integers(0, w - crop_w + 1), rng.integers(0, h - crop_h + 1)
    img = Image.fromarray(source[y0:y0 + crop_h, x0:x0 + crop_w]).resize(SIZE, Image.BICUBIC)
    gain = rng.uniform(0.85, 1.15, size=3) * rng.uniform(0.8, 1.2)  # colour cast x brightness
    img = img.point([min(255, int(v * g)) for g in gain for v in range(256)])  # one lookup table per channel
    noise = rng.integers(-10, 11, size=(SIZE[1], SIZE[0], 3), dtype=np.int8)  # sensor-like, std ~6 grey levels
    pixels = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)  # (3000, 4000, 3)
    Image.fromarray(pixels).save(path, quality=90)


def make_photos(folder: Path, n_photos: int, seed: int = 0) -> list:
    """Write the photos that are missing; returns all their paths."""
    srcs = sources()
    names = sorted(srcs)
    paths = [folder / names[i % len(names)] / f"{i}.jpg" for i in range(n_photos)]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    if todo:
        start = time.perf_counter()
        for name in names:
            (folder / name).mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            list(pool.map(make_photo, [srcs[names[i % len(names)]] for i in todo],
                          [paths[i] for i in todo], [seed + i for i in todo]))
        print(f"generated {len(todo)} photos in {time.perf_counter() - start:.1f} s")
    print(f"{n_photos} photos, {sum(p.stat().st_size for p in paths) / 1e9:.2f} GB in {folder}")
    return paths


def run_measured(cmd: list, cwd: Path, env: dict, interval: float = 0.25):
    """(wall seconds, peak memory in bytes summed over the process and its children, stdout text).

    Memory is PSS where the system reports it (Linux), else RSS (which counts shared pages once per process).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        peak = 0
        try:
            import psutil
            parent = psutil.Process(proc.pid)
            while proc.poll() is None:
                rss = 0
                with contextlib.suppress(psutil.Error):  # a process may end while we read it
                    for p in [parent, *parent.children(recursive=True)]:
                        info = p.memory_full_info()
                        rss += getattr(info, "pss", info.rss)
                peak = max(peak, rss)
                time.sleep(interval)
        except ImportError:  # peak of the largest child only, not a sum
            import resource
            proc.wait()
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{err.read()[-2000:]}")
        return wall, peak, out.read()


def measure(repo: Path, folder: Path, features: str) -> dict:
    """Run ``index`` on ``folder`` with ``repo``'s helpers: wall time, images, peak memory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "helpers", "index", str(folder), "--features", features,
               "--out", str(Path(tmp) / "index.npz"), "--json"]
        wall, peak, out = run_measured(cmd, repo, env)
    n = json.loads(out)["n_images"]
    return {"repo": str(repo), "n_images": n, "wall_s": round(wall, 1), "images_per_s": round(n / wall, 2),
            "peak_rss_gb": round(peak / 1e9, 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-photos", type=int, default=300)
    parser.add_argument("--features", default="efficientnet_lite0")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose helpers to measure")
    parser.add_argument("--baseline-repo", type=Path, help="checkout of the code before streaming (e6ff794)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args()
    folder = DATA_DIR / "bench" / "photos_4000x3000"
    paths = make_photos(folder, args.n_photos)
    with tempfile.TemporaryDirectory() as one:
        (Path(one) / "a").mkdir()
        os.symlink(paths[0], Path(one) / "a" / paths[0].name)
        startup = measure(args.repo.resolve(), Path(one), args.features)["wall_s"]
    result = measure(args.repo.resolve(), folder, args.features)
    baseline = measure(args.baseline_repo.resolve(), folder, args.features) if args.baseline_repo else BASELINE
    result.update(startup_s=startup, per_image_rate=round((result["n_images"] - 1) / (result["wall_s"] - startup), 2),
                  baseline=baseline, speed_up=round(result["images_per_s"] / baseline["images_per_s"], 1),
                  features=args.features)
    result["rss_ok"], result["speed_ok"] = result["peak_rss_gb"] < MAX_RSS_GB, result["speed_up"] >= SPEED_UP
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        where = "measured now" if args.baseline_repo else "recorded"
        print(f"{result['repo']}: {result['n_images']} images ({args.features}) in {result['wall_s']} s, of which "
              f"start-up {startup} s; {result['per_image_rate']} images/s after start-up")
        print(f"speed     {result['images_per_s']:6.2f} images/s vs {baseline['images_per_s']} before ({where}): "
              f"{result['speed_up']} x  (target >= {SPEED_UP} x)  {'PASS' if result['speed_ok'] else 'FAIL'}")
        print(f"peak mem  {result['peak_rss_gb']:6.2f} GB vs {baseline['peak_rss_gb']} GB before  "
              f"(target < {MAX_RSS_GB} GB)  {'PASS' if result['rss_ok'] else 'FAIL'}")
    sys.exit(0 if result["rss_ok"] and result["speed_ok"] else 1)
