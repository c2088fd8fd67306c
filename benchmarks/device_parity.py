"""CPU against GPU on one machine with CUDA: the same features (parity) and how much faster each path is.

For every pretrained and trained extractor of ``helpers.extractors`` whose weights are present, the
embedded datasets (catalogue + shapes) are featurised by ``helpers.pipeline.compute`` twice, with
``CBIR_DEVICE=cpu`` and ``CBIR_DEVICE=cuda``, and compared: largest absolute difference, smallest
row cosine, share of identical top-10 lists, leave-one-out mAP of each. Then images/s of the
streaming pipeline on a larger folder (the same photos repeated), and seconds per epoch of
training notebook 02's SmallCNN on each device. Prints a table; exits 1 if the GPU disagrees.

    python benchmarks/device_parity.py            # on a machine with CUDA (a CPU-only machine: skipped)
"""
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from helpers.datasets import build, load_embedded
from helpers.env import KitError
from helpers.metrics import evaluate_leave_one_out
from helpers.pipeline import compute


def on(device: str, name: str, paths):
    os.environ["CBIR_DEVICE"] = device
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    X, kept, _ = compute(name, paths, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    return X, time.perf_counter() - start


def unit(X):
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def parity(names, paths, labels) -> bool:
    ok = True
    print(f"{'features':<24}{'max |diff|':>11}{'min cos':>10}{'same top10':>11}{'mAP cpu':>9}{'mAP gpu':>9}")
    for name in names:
        try:
            on("cuda", name, paths[:8])   # warm-up: loads weights, cuDNN picks kernels
            Xc, _ = on("cpu", name, paths)
            Xg, _ = on("cuda", name, paths)
        except KitError as err:
            print(f"{name:<24} skipped: {err}")
            continue
        A, B = unit(Xc), unit(Xg)
        top_a = np.argsort(-(A @ A.T), axis=1)[:, 1:11]
        top_b = np.argsort(-(B @ B.T), axis=1)[:, 1:11]
        same = float(np.mean([set(a) == set(b) for a, b in zip(top_a, top_b)]))
        cos = float((A * B).sum(1).min())
        m_a, m_b = evaluate_leave_one_out(A, labels)["mAP"], evaluate_leave_one_out(B, labels)["mAP"]
        good = cos > 0.999 and abs(m_a - m_b) < 0.005
        ok &= good
        print(f"{name:<24}{np.abs(Xc - Xg).max():>11.2e}{cos:>10.6f}{same:>11.3f}{m_a:>9.4f}{m_b:>9.4f}"
              f"{'' if good else '   <- GPU DISAGREES'}")
    return ok


def throughput(paths, n_cpu: int = 400, n_gpu: int = 8000):
    """Images/s of the streaming pipeline on each device (the same photos repeated), then where the GPU path's time
    goes: decoding alone, the network alone, and the pipeline with other (batch, workers) settings."""
    import helpers.pipeline as pipeline
    many = (list(paths) * (n_gpu // len(paths) + 1))[:n_gpu]
    print(f"\nstreaming pipeline, efficientnet_lite0 at 224 px (threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cores)")
    _, t_cpu = on("cpu", "efficientnet_lite0", many[:n_cpu])
    _, t_gpu = on("cuda", "efficientnet_lite0", many)
    rate_cpu, rate_gpu = n_cpu / t_cpu, n_gpu / t_gpu
    print(f"  cpu  {rate_cpu:8.1f} images/s ({n_cpu} images)\n  cuda {rate_gpu:8.1f} images/s ({n_gpu} images, "
          f"loader {pipeline.loader_settings(n_gpu, 'cuda')})\n  GPU / CPU {rate_gpu / rate_cpu:.1f}x")

    from helpers.extractors import get
    preprocess, embed = get("efficientnet_lite0").load()
    batch, workers = pipeline.loader_settings(n_gpu, "cuda")
    for b, w in ((16, workers), (batch, workers)):
        loader = torch.utils.data.DataLoader(pipeline._Files([Path(p) for p in many], preprocess, 224),
                                             batch_size=b, num_workers=w, collate_fn=pipeline._stack)
        start = time.perf_counter()
        n = sum(len(good) for good, _, _ in loader)
        print(f"  decode + preprocess only, batch {b:>3} x {w} workers: {n / (time.perf_counter() - start):8.1f} images/s")
    x = torch.randint(0, 256, (256, 3, 224, 224), dtype=torch.uint8)
    for benchmark in (False, True):
        torch.backends.cudnn.benchmark = benchmark
        for b in (16, 64, 256):
            xb = x[:b].pin_memory()
            embed(xb)
            torch.cuda.synchronize()
            start, reps = time.perf_counter(), max(2, 2048 // b)
            for _ in range(reps):
                embed(xb)
            torch.cuda.synchronize()
            print(f"  network only (8-bit host tensor -> features on host), batch {b:>3}, cudnn.benchmark "
                  f"{benchmark!s:<5}: {b * reps / (time.perf_counter() - start):8.1f} images/s")
    torch.backends.cudnn.benchmark = False
    for b, w in ((16, workers), (32, workers), (128, workers)):
        print(f"  pipeline with batch {b:>3} x {w} workers: {n_gpu / with_loader(b, w, many):8.1f} images/s")


def with_loader(batch: int, workers: int, paths) -> float:
    """Seconds of the GPU pipeline on ``paths`` with other loader settings."""
    import helpers.pipeline as pipeline
    original = pipeline.loader_settings
    pipeline.loader_settings = lambda n, device: (batch, workers)
    try:
        return on("cuda", "efficientnet_lite0", paths)[1]
    finally:
        pipeline.loader_settings = original


def large_photos(n: int = 300):
    """Phone-sized JPEGs (benchmarks/index_photos.py's): the loader settings must also suit them."""
    sys.path.insert(0, str(Path(__file__).parent))
    from index_photos import DATA_DIR, make_photos
    photos = make_photos(DATA_DIR / "bench" / "photos_4000x3000", n)
    print(f"\n{len(photos)} JPEGs of 4000 x 3000, efficientnet_lite0 on the GPU")
    for b, w in ((16, 14), (64, 14)):
        print(f"  batch {b:>3} x {w} workers: {len(photos) / with_loader(b, w, photos):8.1f} images/s")


def training(epochs: int = 3):
    from helpers.images import load_images
    from helpers.models import SmallCNN, small_input
    paths, labels, _ = load_embedded("shapes")
    images, _, _ = load_images(paths)
    x = torch.stack([small_input(img) for img in images])
    y = torch.as_tensor(labels)
    print(f"\ntraining SmallCNN on {len(x)} shapes images, batch 64, {epochs} epochs")
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = SmallCNN(n_classes=int(y.max()) + 1, dropout=0.3).to(device)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xd, yd = x.to(device), y.to(device)
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            for i in range(0, len(xd), 64):
                loss = torch.nn.functional.cross_entropy(model(xd[i:i + 64]), yd[i:i + 64])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        print(f"  {device:<5}{min(times):7.2f} s/epoch (best of {epochs}), last loss {loss.item():.3f}")


if __name__ == "__main__":
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare (run this on a machine with a GPU)")
        sys.exit(0)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    for dataset in ("catalogue", "shapes"):
        build(dataset)
    cat_paths, cat_labels, _ = load_embedded("catalogue")
    sh_paths, sh_labels, _ = load_embedded("shapes")
    paths = list(cat_paths) + list(sh_paths)
    labels = np.concatenate([cat_labels, np.asarray(sh_labels) + int(np.max(cat_labels)) + 1])
    ok = parity(["colour_hist", "efficientnet_lite0", "efficientnet_lite0_gem", "resnet18", "small_cnn",
                 "autoencoder"], paths, labels)
    throughput(cat_paths)
    large_photos()
    training()
    sys.exit(0 if ok else 1)
