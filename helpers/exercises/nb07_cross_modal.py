"""Exercise checks of 07_cross_modal."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call, report_level, _has_loop, _number

THRESHOLDS = {"pass": 0.25, "good": 0.40, "excellent": 0.55}   # recall@10 on never-seen combinations


def _reference_multi(zi, zt, logit_scale, groups):
    import torch
    import torch.nn.functional as F
    zi, zt = F.normalize(zi, dim=1), F.normalize(zt, dim=1)
    logits = logit_scale.exp() * zi @ zt.T
    same = (groups[:, None] == groups[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    def ce(lg):
        return -(target * F.log_softmax(lg, dim=1)).sum(1).mean()
    return (ce(logits) + ce(logits.T)) / 2, ce(logits), logits, same


def check_multi_positive_loss(func) -> None:
    """Exercise of 07_cross_modal: symmetric InfoNCE where every pair with the same group is a positive."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(7)
    zi, zt = torch.randn(6, 5, generator=g) * 3, torch.randn(6, 5, generator=g) * 3   # not normalised on purpose
    zt[1] = zi[1] * 2                                                                 # a near-duplicate pair
    groups = torch.tensor([0, 1, 0, 2, 1, 3])
    scale = torch.tensor(2.0)
    got = _number(_call(func, zi.clone(), zt.clone(), scale.clone(), groups.clone()), "the loss")
    want, one_way, logits, same = _reference_multi(zi, zt, scale, groups)
    n_zi, n_zt = F.normalize(zi, dim=1), F.normalize(zt, dim=1)
    target = torch.arange(6)
    plain = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    raw = _reference_multi(zi * 1, zt * 1, torch.tensor(0.0), groups)[0]
    unnorm = scale.exp() * zi @ zt.T
    tgt = same / same.sum(1, keepdim=True)
    unnorm_loss = (-(tgt * F.log_softmax(unnorm, 1)).sum(1).mean() - (tgt * F.log_softmax(unnorm.T, 1)).sum(1).mean()) / 2
    if np.isclose(got, float(one_way), atol=1e-4):
        raise ExerciseError("only one direction: average the image -> text and the text -> image losses")
    if np.isclose(got, float(plain), atol=1e-4):
        raise ExerciseError("only the diagonal counts as positive: every pair with the same group is a positive")
    if np.isclose(got, float(raw), atol=1e-4) or np.isclose(got, float(_reference_multi(n_zi, n_zt, torch.tensor(
            np.log(2.0)), groups)[0]), atol=1e-4):
        raise ExerciseError("the temperature is missing or wrong: multiply the cosines by logit_scale.exp()")
    if np.isclose(got, float(unnorm_loss), atol=1e-4):
        raise ExerciseError("the embeddings are not L2-normalised: compare directions (cosines), not raw dot products")
    if not np.isclose(got, float(want), atol=1e-4):
        raise ExerciseError("wrong value: the target of each row is spread evenly over its positives, and the loss "
                            "is the cross-entropy with the log-softmax of the scaled cosines, both ways, averaged")
    print("Correct: symmetric InfoNCE with every same-group pair as a positive.")



def check_recall_table(func) -> None:
    """Exercise of 07_cross_modal: recall@k of every query for several k, vectorised."""
    sims = np.array([[0.9, 0.1, 0.8, 0.3, 0.2], [0.1, 0.7, 0.2, 0.9, 0.6], [0.5, 0.4, 0.3, 0.2, 0.1]])
    y_query, y_gallery = np.array([0, 1, 2]), np.array([0, 1, 0, 2, 1])
    got = np.asarray(_call(func, sims.copy(), y_query, y_gallery, (1, 2)), dtype=float)
    want = np.array([[0.5, 1.0], [0.0, 0.5], [0.0, 0.0]])
    if got.shape != (3, 2):
        raise ExerciseError(f"return one row per query and one column per k: shape (3, 2) here, got {got.shape}")
    if np.allclose(got, [[1.0, 1.0], [0.0, 0.5], [0.0, 0.0]]):
        raise ExerciseError("that looks like precision@k: divide by the number of relevant gallery items, not by k")
    if np.allclose(got, [[1.0, 1.0], [0.5, 1.0], [0.0, 0.0]]):
        raise ExerciseError("k is off by one: the top k are the first k columns of the ranking")
    if np.allclose(got, [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]):
        raise ExerciseError("the ranking is reversed: the most similar (largest sims) come first")
    if not np.allclose(got, want):
        raise ExerciseError("wrong values: rank each row by decreasing similarity, count the relevant items in the "
                            "top k, divide by the row's number of relevant items")
    if _has_loop(func):
        raise ExerciseError("the values are right, but use no Python loop or comprehension: argsort, cumsum and "
                            "indexing do it for all queries and all k at once")
    print("Correct: recall@k for every query and every k, vectorised.")


def fresh_images(seed: int = 1, per_combo: int = 10):
    """Never-stored shapes images: ``per_combo`` of each held-out colour-shape combination and as many of each
    shape in its usual colour. Returns (X (n, 3, 32, 32) float tensor, rows with ``hue`` set)."""
    import torch
    from helpers.captions import COLOURS, UNSEEN
    from helpers.synth import SHAPE_CLASSES, render_shape, sample_shape_params
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(per_combo * 2 * len(SHAPE_CLASSES)):
        p = sample_shape_params(10_000 + i, seed)                           # indices beyond the stored dataset
        unseen = dict(UNSEEN)[p["label"]] if (i // len(SHAPE_CLASSES)) % 2 == 0 else None
        hue = COLOURS.index(unseen) * 0.2 + 0.05 + rng.uniform(-0.04, 0.04) if unseen else p["hue"]
        rows.append({**p, "hue": round(float(hue) % 1.0, 4)})
    X = np.stack([np.asarray(render_shape(r, 48).resize((32, 32), 3)) for r in rows])   # 3 = bicubic
    return torch.tensor(X, dtype=torch.float32).permute(0, 3, 1, 2) / 255, rows


def check_text_encoder(make_text_encoder, epochs: int = 12, data_dir=None) -> float:
    """Open exercise of 07_cross_modal: a text encoder, trained with a fixed recipe, scored by text -> image
    recall@10 on freshly drawn images of colour-shape combinations no caption in training ever named."""
    import torch
    from helpers import captions as C
    from helpers.crossmodal import TinyCLIP, embed_images, embed_texts, train_clip
    from helpers.datasets import load_folder, read_metadata
    from helpers.env import data_dir as data_dir_of
    from helpers.images import load_images
    vocab = C.build_vocab()
    torch.manual_seed(0)                                 # the same initial weights, whatever ran before
    encoder = _call(make_text_encoder, len(vocab), 64)
    if not isinstance(encoder, torch.nn.Module):
        raise ExerciseError("make_text_encoder should return a torch.nn.Module with forward(ids, lengths)")
    ids, lengths = (torch.from_numpy(a) for a in C.encode_texts(["a red star", "a big striped blue box"], vocab))
    with torch.no_grad():
        out = encoder(ids, lengths)
    if tuple(out.shape) != (2, 64):
        raise ExerciseError(f"the encoder gives {tuple(out.shape)} for 2 texts, expected (2, 64)")
    if not torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-4):
        raise ExerciseError("the text embeddings are not L2-normalised (end with F.normalize(..., dim=1))")
    meta = read_metadata("shapes", data_dir)
    root = data_dir_of(data_dir) / "shapes"
    paths, _, _ = load_folder(root)
    rows = [meta[str(p.relative_to(root))] for p in paths]
    train = C.split(rows)["train"]
    images, _, _ = load_images([paths[i] for i in train], size=32)
    X = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    torch.manual_seed(0)
    model = TinyCLIP(vocab, "bow", 64)
    model.text = encoder
    train_clip(model, X, lambda e: [C.caption(rows[i], np.random.default_rng([0, e, int(i)])) for i in train],
               epochs)                                                  # a fresh caption per image and epoch
    X_new, new_rows = fresh_images()
    groups = np.array([hash(C.combo(r)) for r in new_rows])
    unseen = np.array([C.combo(r) in C.UNSEEN for r in new_rows])
    rng = np.random.default_rng(3)
    queries = [C.caption(r, rng) for r, u in zip(new_rows, unseen) if u]
    sims = embed_texts(model, queries) @ embed_images(model, X_new).T          # (n_query, n_gallery)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    relevant = groups[top] == groups[unseen][:, None]
    score = float((relevant.sum(1) / (groups[None, :] == groups[unseen][:, None]).sum(1)).mean())
    return report_level(score, THRESHOLDS, "recall@10 on never-seen colour-shape combinations",
                        "train longer, or change the encoder (the validation split holds seen combinations only: "
                        "hold a combination out of training yourself to measure composition)")
