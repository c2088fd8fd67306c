"""Images per second of efficientnet_lite0 features at 224 px: the kit's ``extract_features``
against the plainest fast PyTorch loop, measured in the same run. Target: ratio >= 0.9.

Both sides start from the same decoded PIL images and apply the same preprocessing, so the
ratio measures the kit's overhead (batching, pooling, progress, conversion), nothing else.
"""
import time

import torch

from helpers.datasets import load_embedded
from helpers.features import extract_features
from helpers.images import load_images
from helpers.backbones import load_backbone


def plain_loop(model, images, preprocess, batch_size=8, layout=torch.channels_last):
    """The fastest loop we found: small batches, channels-last (timings per layout and batch below)."""
    out = []
    model = model.to(memory_format=layout)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.stack([preprocess(img) for img in images[start:start + batch_size]])
            out.append(model(x.contiguous(memory_format=layout)))
    return torch.cat(out).numpy()


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


if __name__ == "__main__":
    paths, _, _ = load_embedded("catalogue")
    images, _, _ = load_images(paths[:96])
    model, preprocess = load_backbone("efficientnet_lite0")
    for layout in (torch.contiguous_format, torch.channels_last):
        for batch_size in (8, 32):
            plain_loop(model, images[:16], preprocess, batch_size, layout)  # warm-up
            t, _ = best_of(lambda: plain_loop(model, images, preprocess, batch_size, layout), repeats=2)
            print(f"plain loop, {str(layout).split('.')[-1]:<17} batch {batch_size:>2}: {len(images) / t:6.1f} images/s")
    t_plain, ref = best_of(lambda: plain_loop(model, images, preprocess))
    t_kit, ours = best_of(lambda: extract_features(model, images, preprocess, progress=False))
    assert abs(ref - ours).max() < 1e-4, "kit and plain loop disagree"
    print(f"threads {torch.get_num_threads()}, {len(images)} images at 224 px")
    print(f"plain PyTorch loop   {len(images) / t_plain:6.1f} images/s")
    print(f"kit extract_features {len(images) / t_kit:6.1f} images/s")
    print(f"ratio kit / plain    {t_plain / t_kit:6.2f}  (target >= 0.9)")
