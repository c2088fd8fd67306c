"""Metric learning: learn an embedding for retrieval itself, with a triplet loss on class-disjoint data.

The losses and the batch-hard miner are written out in notebook 06 first; these are the same functions, for
the exercise checks and the command line (``python -m helpers evaluate FOLDER --features metric_cnn``).
This module is about torch models, so it imports torch at the top (as ``helpers.models`` does).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.env import KitError


def class_disjoint_split(labels: np.ndarray, n_unseen: int, n_val_per_class: int, seed: int = 0) -> dict:
    """Split images by class: training classes vs unseen classes that no training step or choice sees.

    ``labels``: int array (n_images,). ``n_unseen`` classes (drawn with ``seed``) form the test set; in each
    training class ``n_val_per_class`` images are held out for validation (choices), the rest trains.
    Returns a dict of sorted int arrays ``train_idx``, ``val_idx``, ``test_idx``, ``train_classes``,
    ``unseen_classes``.
    Taught in 06_metric_learning, section "1. A class-disjoint protocol".
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if not 1 <= n_unseen <= len(classes) - 2:
        raise KitError(f"n_unseen must leave at least 2 training classes: got {n_unseen} of {len(classes)} classes")
    rng = np.random.default_rng(seed)
    unseen = np.sort(rng.permutation(classes)[:n_unseen])
    train_classes = np.setdiff1d(classes, unseen)
    val = []
    for c in train_classes:
        members = np.flatnonzero(labels == c)
        if len(members) <= n_val_per_class + 1:
            raise KitError(f"class {c} has {len(members)} images: too few to hold out {n_val_per_class} for validation")
        val.extend(rng.permutation(members)[:n_val_per_class])
    val_idx = np.sort(np.array(val, dtype=int))
    train_idx = np.setdiff1d(np.flatnonzero(np.isin(labels, train_classes)), val_idx)
    return dict(train_idx=train_idx, val_idx=val_idx, test_idx=np.flatnonzero(np.isin(labels, unseen)),
                train_classes=train_classes, unseen_classes=unseen)


class EmbeddingNet(nn.Module):
    """A small conv net (3 blocks, 32 -> 4 px) ending in a linear projection; ``embed`` L2-normalises it.

    ``n_classes > 0`` adds a linear classifier on the projection (the cross-entropy baseline: same body).
    Input (B, 3, size, size) standardised images; ``embed`` returns (B, embedding_dim) unit vectors.
    Taught in 06_metric_learning, section "3. Training an embedding network".
    """

    def __init__(self, embedding_dim: int = 64, n_classes: int = 0, width: int = 32):
        super().__init__()
        self.hparams = {"embedding_dim": embedding_dim, "n_classes": n_classes, "width": width}

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.features = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.project = nn.Linear(4 * width, embedding_dim)
        self.classifier = nn.Linear(embedding_dim, n_classes) if n_classes else None

    def forward(self, x):
        return self.project(self.features(x).mean(dim=(2, 3)))        # (B, embedding_dim), not normalised

    def embed(self, x):
        return F.normalize(self.forward(x), dim=1)                      # (B, embedding_dim), unit length

    def logits(self, x):
        if self.classifier is None:
            raise KitError("this EmbeddingNet has no classifier: build it with n_classes > 0")
        return self.classifier(self.forward(x))                         # (B, n_classes)


def triplet_loss(anchor, positive, negative, margin: float = 0.2):
    """mean(max(0, d(a, p) - d(a, n) + margin)) with Euclidean distances; inputs (B, d).

    Taught in 06_metric_learning, section "2. Contrastive and triplet losses, by hand".
    """
    d_ap = (anchor - positive).pow(2).sum(1).clamp_min(1e-12).sqrt()
    d_an = (anchor - negative).pow(2).sum(1).clamp_min(1e-12).sqrt()
    return F.relu(d_ap - d_an + margin).mean()


def contrastive_loss(x1, x2, same, margin: float = 0.5):
    """Pairs (B, d), ``same`` (B,) bool: pull matching pairs together (d^2), push others beyond ``margin``.

    Taught in 06_metric_learning, section "2. Contrastive and triplet losses, by hand".
    """
    d = (x1 - x2).pow(2).sum(1).clamp_min(1e-12).sqrt()
    same = same.float()
    return (same * d.pow(2) + (1 - same) * F.relu(margin - d).pow(2)).mean()


def batch_hard_triplet_loss(emb, labels, margin: float = 0.2):
    """Batch-hard triplet loss: for every anchor, its farthest positive (never itself) and nearest negative.

    ``emb`` (B, d), ``labels`` (B,) int tensor; every anchor needs another image of its class in the batch.
    Taught in 06_metric_learning, section "2. Contrastive and triplet losses, by hand".
    """
    D = torch.cdist(emb, emb)                                           # (B, B) distances
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    hardest_pos = D.masked_fill(~same | eye, float("-inf")).amax(1)      # the anchor itself is not a positive
    hardest_neg = D.masked_fill(same, float("inf")).amin(1)
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def pk_batches(labels: np.ndarray, P: int, K: int, n_batches: int, seed: int = 0) -> list[np.ndarray]:
    """``n_batches`` index arrays of P classes x K images each (the sampling batch-hard mining needs).

    A class with fewer than K images contributes all of its images (sampled with replacement up to K).
    Taught in 06_metric_learning, section "2. Contrastive and triplet losses, by hand".
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if P > len(classes) or P < 2 or K < 2:
        raise KitError(f"need 2 <= P <= {len(classes)} classes and K >= 2 images per class, got P={P}, K={K}")
    rng = np.random.default_rng(seed)
    members = {c: np.flatnonzero(labels == c) for c in classes}
    batches = []
    for _ in range(n_batches):
        chosen = rng.choice(classes, size=P, replace=False)
        batches.append(np.concatenate([rng.choice(members[c], size=K, replace=len(members[c]) < K) for c in chosen]))
    return batches


def embed_all(model, X, batch_size: int = 256) -> np.ndarray:
    """``model.embed`` over a tensor (n, 3, size, size) in batches, eval mode; returns (n, d) float array.

    Used in 06_metric_learning, section "3. Training an embedding network".
    """
    model.eval()
    with torch.inference_mode():
        return torch.cat([model.embed(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]).numpy()


def mean_pairwise_cosine(E: np.ndarray) -> float:
    """Mean cosine similarity over all pairs of distinct rows of ``E`` (n, d): near 1 means collapse.

    Taught in 06_metric_learning, section "2. Contrastive and triplet losses, by hand".
    """
    E = np.asarray(E, dtype=float)
    if len(E) < 2:
        raise KitError("need at least 2 embeddings to compare pairs")
    E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    S = E @ E.T                                                         # (n, n)
    n = len(E)
    return float((S.sum() - np.trace(S)) / (n * (n - 1)))


def group_disjoint_split(groups, n_val: int, n_test: int, seed: int = 0) -> dict:
    """Split images by group (e.g. the source photo of each catalogue product): no group straddles two parts.

    ``groups``: one hashable per image (n_images,). ``n_val`` and ``n_test`` groups (drawn with ``seed``) form
    the validation and test parts, the rest trains. Returns a dict of sorted int arrays ``train_idx``,
    ``val_idx``, ``test_idx`` and the sorted group names ``train_groups``, ``val_groups``, ``test_groups``.
    Taught in 06_metric_learning, section "6. Fine-tuning a retrieval head on a frozen pretrained body".
    """
    groups = np.asarray(groups)
    names = np.unique(groups)
    if n_val < 1 or n_test < 1 or n_val + n_test > len(names) - 1:
        raise KitError(f"need n_val, n_test >= 1 and at least 1 training group: got {n_val} + {n_test} "
                       f"of {len(names)} groups")
    order = np.random.default_rng(seed).permutation(names)
    parts = {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
             "train": np.sort(order[n_test + n_val:])}
    out = {f"{part}_idx": np.flatnonzero(np.isin(groups, members)) for part, members in parts.items()}
    out.update({f"{part}_groups": members for part, members in parts.items()})
    return out


def cached_feature_maps(paths, size: int = 224, batch_size: int = 16, data_dir=None) -> np.ndarray:
    """The frozen EfficientNet-Lite0 body's last feature maps (n, 1280, size/32, size/32), float16, cached once.

    The cache file ``data/cache/nb06_maps-<key>.npz`` is keyed by the weights' sha256, the input size and the
    images' names and bytes, so other weights, another size or a changed image is never served stale.
    Taught in 06_metric_learning, section "6. Fine-tuning a retrieval head on a frozen pretrained body".
    """
    import hashlib
    import json
    import os
    from helpers.backbones import EFFNET_SHA256, efficientnet_lite0, preprocess_for
    from helpers.env import data_dir as data_dir_of
    from helpers.features import _as_image, feature_maps
    from helpers.store import fingerprint
    key = hashlib.sha256(json.dumps(["efficientnet_lite0", EFFNET_SHA256, "forward_features", size,
                                     fingerprint(paths)]).encode()).hexdigest()[:16]
    cache = data_dir_of(data_dir) / "cache" / f"nb06_maps-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return z["maps"]
        except (OSError, ValueError, KeyError):
            pass   # unreadable: compute again
    model = efficientnet_lite0().eval().to(memory_format=torch.channels_last)
    base = preprocess_for("efficientnet_lite0")
    if size != 224:
        from torchvision import transforms as T
        base = T.Compose([T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                          T.Normalize([0.5] * 3, [0.5] * 3)])
    chunks = []
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, min(4, os.cpu_count() or 1)))   # a notebook may have set 1 for tiny nets
    try:
        with torch.inference_mode():
            for start in range(0, len(paths), batch_size):
                x = torch.stack([base(_as_image(p)) for p in paths[start:start + batch_size]])
                chunks.append(feature_maps(model, x.contiguous(memory_format=torch.channels_last)).half().numpy())
    finally:
        torch.set_num_threads(threads)
    maps = np.ascontiguousarray(np.concatenate(chunks))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npz")          # written whole, then renamed: never half a cache
    np.savez(tmp, maps=maps)
    os.replace(tmp, cache)
    return maps


class GeMHead(nn.Module):
    """A retrieval head on frozen feature maps: GeM pooling with a learnable p, a linear projection, L2 norm.

    Input (B, in_channels, H, W) feature maps; output (B, dim) unit vectors. ``p`` starts at ``p_init``
    (3, as in Radenović et al.) and is trained with the projection; the body that made the maps stays frozen.
    Taught in 06_metric_learning, section "6. Fine-tuning a retrieval head on a frozen pretrained body".
    """

    def __init__(self, in_channels: int = 1280, dim: int = 128, p_init: float = 3.0):
        super().__init__()
        self.hparams = {"in_channels": in_channels, "dim": dim, "p_init": p_init}
        self.p = nn.Parameter(torch.tensor(float(p_init)))
        self.project = nn.Linear(in_channels, dim)

    def pool(self, maps):
        """Learnable-p GeM: (B, C, H, W) -> (B, C); p is kept at 1 or more."""
        p = self.p.clamp(min=1.0)
        return maps.clamp(min=1e-6).pow(p).mean(dim=(2, 3)).pow(1.0 / p)

    def forward(self, maps):
        return F.normalize(self.project(self.pool(maps)), dim=1)        # (B, dim), unit length

    def embed(self, maps):
        return self.forward(maps)

    def extra_repr(self) -> str:
        return f"GeM p={float(self.p.detach()):.2f} (learnable) -> linear {self.project.in_features} -> {self.project.out_features} -> L2"
