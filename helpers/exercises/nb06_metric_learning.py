"""Exercise checks of 06_metric_learning."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call, report_level

THRESHOLDS = {"pass": 0.60, "good": 0.65, "excellent": 0.70}   # mAP on 160 held-back images of the 4 unseen classes:
# raw pixels 0.566 and an untrained network 0.467 fail; one triplet network of the notebook 0.658-0.684 (good);
# the three seeds together 0.707 (excellent)


def _reference_batch_all(emb, labels, margin, include_self=False, squared=False, hinge=True):
    import torch
    D = torch.cdist(emb, emb)                                     # (B, B)
    if squared:
        D = D ** 2
    same = labels[:, None] == labels[None, :]
    pos = same if include_self else same & ~torch.eye(len(labels), dtype=torch.bool)
    neg = ~same
    valid = pos[:, :, None] & neg[:, None, :]                     # (a, p, n)
    raw = D[:, :, None] - D[:, None, :] + margin
    losses = torch.relu(raw) if hinge else raw
    return losses[valid].mean()


def check_batch_all(func) -> None:
    """Exercise of 06_metric_learning: the batch-all triplet loss (mean over every valid triplet)."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(6)
    emb = F.normalize(torch.randn(12, 5, generator=g), dim=1)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    out = _call(func, emb.clone(), labels.clone(), 0.3)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise ExerciseError("return one number: the loss averaged over the valid triplets")
    ref = _reference_batch_all(emb, labels, 0.3)
    if torch.isclose(out, ref, atol=1e-5):
        tight = F.normalize(torch.randn(8, 5, generator=g), dim=1)
        lab = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        out2 = _call(func, tight, lab, 1.5)
        if not torch.isclose(out2, _reference_batch_all(tight, lab, 1.5), atol=1e-5):
            raise ExerciseError("right on one batch, wrong on another: do not hard-code the batch size or the classes")
        print("Correct: your batch-all triplet loss matches the reference on every triplet.")
        return
    if torch.isclose(out, _reference_batch_all(emb, labels, 0.3, include_self=True), atol=1e-5):
        raise ExerciseError("your positives include the anchor itself (d(a, a) = 0 is a free, useless triplet): "
                            "a positive must be another image of the anchor's class")
    if torch.isclose(out, _reference_batch_all(emb, labels, 0.3, squared=True), atol=1e-5):
        raise ExerciseError("you used squared distances: use Euclidean distances, as in the triplet loss above")
    if torch.isclose(out, _reference_batch_all(emb, labels, 0.3, hinge=False), atol=1e-5):
        raise ExerciseError("a triplet that is already satisfied must cost 0: clamp each term at 0 (max(0, ...))")
    raise ExerciseError("wrong value: average max(0, d(a, p) - d(a, n) + margin) over every (a, p, n) with p != a "
                        "of the anchor's class and n of another class")


HELD_BACK_SEED, HELD_BACK_PER_CLASS = 606, 40   # new images of the unseen classes, drawn with a seed 06 never uses


def _unseen_test_data(seed: int = 0):
    """Held-back images of notebook 06's 4 unseen classes: rendered here with another seed, never saved or shown.

    40 new images per unseen class at 32 px, standardised with the statistics of the notebook's training images.
    """
    import torch
    from PIL import Image
    from helpers import synth
    from helpers.datasets import SIZES, load_embedded
    from helpers.images import load_images
    from helpers.metric import class_disjoint_split
    paths, labels, class_names = load_embedded("shapes", seed=seed)
    split = class_disjoint_split(labels, n_unseen=4, n_val_per_class=20, seed=seed)
    train_images, _, _ = load_images([paths[i] for i in split["train_idx"]], size=32)
    unseen = [class_names[c] for c in split["unseen_classes"]]
    images, y = [], []
    n_classes = len(synth.SHAPE_CLASSES)
    for index in range(HELD_BACK_PER_CLASS * n_classes):
        name = synth.SHAPE_CLASSES[index % n_classes]
        if name in unseen:
            params = synth.sample_shape_params(index, HELD_BACK_SEED)
            img = synth.render_shape(params, SIZES["shapes"]["size"]).convert("RGB")
            images.append(img.resize((32, 32), Image.BICUBIC))
            y.append(class_names.index(name))

    def tensor(ims):
        return torch.tensor(np.stack([np.asarray(im) for im in ims]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    X_train, X = tensor(train_images), tensor(images)
    mean = X_train.mean(dim=(0, 2, 3), keepdim=True)
    std = X_train.std(dim=(0, 2, 3), keepdim=True)
    return (X - mean) / std, np.array(y)


def unseen_map(embed_fn, X, y) -> float:
    """Leave-one-out mAP of ``embed_fn(X)`` (cosine): every image queries all the others."""
    from helpers.metrics import evaluate
    E = np.asarray(_call(embed_fn, X), dtype=float)
    if E.ndim != 2 or len(E) != len(X):
        raise ExerciseError(f"your function should return an array (n_images, d) = ({len(X)}, d), got shape {E.shape}")
    if not np.isfinite(E).all():
        raise ExerciseError("your embeddings contain nan or inf")
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    if (norms < 1e-8).any():
        raise ExerciseError("some embeddings are all zeros: cosine similarity is undefined for them")
    E = E / norms
    if (E @ E.T).min() > 0.999:
        raise ExerciseError("your embeddings collapsed: every pair has cosine near 1, so the ranking is noise")
    return evaluate(E @ E.T, y, y, exclude=np.arange(len(y)))["mAP"]


def check_design(embed_fn, data=None) -> float:
    """Exercise of 06_metric_learning: an embedding recipe scored on the held-back unseen classes."""
    X, y = data if data is not None else _unseen_test_data()
    first = np.asarray(_call(embed_fn, X[:8]), dtype=float)
    again = np.asarray(_call(embed_fn, X[:8]), dtype=float)
    if first.shape != again.shape or not np.allclose(first, again, atol=1e-5):
        raise ExerciseError("your function gives different vectors for the same images: call model.eval() "
                            "and do not train or draw random numbers inside it")
    score = unseen_map(embed_fn, X, y)
    return report_level(score, THRESHOLDS, f"mAP on {len(y)} held-back images of the unseen classes",
                        "train longer or combine embeddings, choosing on validation data")


def check_whitening(fit_whitening) -> None:
    """Exercise of 06_metric_learning: PCA-whitening fitted on training vectors, applied to new ones."""
    rng = np.random.default_rng(6)
    A = rng.normal(size=(200, 6)) @ np.diag([5.0, 3, 1, 0.5, 0.2, 0.1]) + 4.0   # training vectors, off-centre
    B = rng.normal(size=(30, 6)) @ np.diag([1.0, 1, 1, 1, 1, 1]) * 2 + 1.0       # other vectors
    whiten = _call(fit_whitening, A, 4)
    if not callable(whiten):
        raise ExerciseError("fit_whitening should return a function that whitens new vectors")
    W = np.asarray(_call(whiten, B), dtype=float)
    if W.shape != (30, 4):
        raise ExerciseError(f"whitening 30 vectors to 4 components should give shape (30, 4), got {W.shape}")
    if not np.allclose(np.linalg.norm(W, axis=1), 1, atol=1e-4):
        raise ExerciseError("the whitened vectors are not L2-normalised: divide each row by its norm at the end")

    def reference(train, data, centre=True):
        mean = train.mean(0) if centre else np.zeros(train.shape[1])
        _, s, Vt = np.linalg.svd(train - mean, full_matrices=False)
        Z = (data - mean) @ Vt[:4].T / (s[:4] / np.sqrt(len(train) - 1))
        return Z / np.linalg.norm(Z, axis=1, keepdims=True)

    def same(Z1, Z2):   # equal up to the sign of each component: compare cosine similarities between rows
        return np.allclose(np.abs(Z1), np.abs(Z2), atol=1e-3) and np.allclose(Z1 @ Z1.T, Z2 @ Z2.T, atol=1e-3)

    if same(W, reference(B, B)):
        raise ExerciseError("your whitening is fitted on the vectors it transforms: fit the mean and the components "
                            "on the training vectors only, then apply them unchanged to new vectors")
    if same(W, reference(A, B, centre=False)):
        raise ExerciseError("subtract the training mean before projecting")
    if not same(W, reference(A, B)):
        raise ExerciseError("wrong values: centre with the training mean, project on the top principal directions "
                            "(largest variance first), divide each by its standard deviation, then L2-normalise")
    print("Correct: your PCA-whitening is fitted on training vectors only and matches the reference.")
