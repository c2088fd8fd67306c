"""Exercise checks of 06_metric_learning."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call

THRESHOLDS = {"pass": 0.57, "good": 0.63, "excellent": 0.68}   # mAP on the 4 unseen shapes classes (leave-one-out)


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


def _unseen_test_data(seed: int = 0):
    """The 4 unseen classes of notebook 06 at 32 px, standardised with the training-class statistics."""
    import torch
    from helpers.datasets import load_embedded
    from helpers.images import load_images
    from helpers.metric import class_disjoint_split
    paths, labels, _ = load_embedded("shapes", seed=seed)
    split = class_disjoint_split(labels, n_unseen=4, n_val_per_class=20, seed=seed)
    keep = np.concatenate([split["train_idx"], split["test_idx"]])
    images, _, _ = load_images([paths[i] for i in keep], size=32)
    X = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    n_train = len(split["train_idx"])
    mean = X[:n_train].mean(dim=(0, 2, 3), keepdim=True)
    std = X[:n_train].std(dim=(0, 2, 3), keepdim=True)
    return (X[n_train:] - mean) / std, labels[split["test_idx"]]


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
    level = max((name for name, t in THRESHOLDS.items() if score >= t), key=THRESHOLDS.get, default=None)
    line = (f"mAP {score:.3f} on the {len(y)} images of the unseen classes "
            f"(pass {THRESHOLDS['pass']}, good {THRESHOLDS['good']}, excellent {THRESHOLDS['excellent']})")
    if level is None:
        raise ExerciseError(f"{line}: below pass. Train longer or combine embeddings, choosing on validation data")
    print(f"Correct: {level}. {line}.")
    return score


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
