"""A tiny CLIP: an image encoder and a text encoder pulled into one L2-normalised space.

The classes are the ones notebook 07 shows (a test keeps them identical); ``helpers.store`` saves a trained
``TinyCLIP`` and ``search_text`` loads it to find ``shapes`` images for a free-text query.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.env import KitError

MODEL_NAME = "tiny_clip"
IMAGE_SIZE = 32   # shapes images (48 px) read at 32 x 32: 2.25 times fewer pixels; colour and outline survive


class ImageEncoder(nn.Module):
    """Small CNN: images (B, 3, 32, 32) in [0, 1] -> L2-normalised embeddings (B, dim).

    Taught in 07_cross_modal, section "2. Two encoders, one space".
    """

    def __init__(self, dim=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),    # (B, 16, 16, 16)
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),   # (B, 32, 8, 8)
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),   # (B, 64, 4, 4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, dim))                  # (B, dim)

    def forward(self, x):
        return F.normalize(self.net(x - 0.5), dim=1)


class BagOfWords(nn.Module):
    """Mean of word vectors, then a linear layer: token ids (B, max_len), lengths (B,) -> (B, dim), L2-normalised.

    Taught in 07_cross_modal, section "2. Two encoders, one space".
    """

    def __init__(self, vocab_size, dim=64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, 64, mode="mean", padding_idx=0)   # mean of word vectors
        self.proj = nn.Linear(64, dim)

    def forward(self, ids, lengths):
        return F.normalize(self.proj(self.embed(ids)), dim=1)                        # (B, dim); order ignored


class GRUText(nn.Module):
    """A GRU reads the words in order; its last state, projected: (B, max_len), (B,) -> (B, dim), L2-normalised.

    Taught in 07_cross_modal, section "2. Two encoders, one space".
    """

    def __init__(self, vocab_size, dim=64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 64, padding_idx=0)
        self.gru = nn.GRU(64, 64, batch_first=True)
        self.proj = nn.Linear(64, dim)

    def forward(self, ids, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.gru(packed)                                                      # h: (1, B, 64), last word
        return F.normalize(self.proj(h[0]), dim=1)                                   # (B, dim); order matters


class TinyCLIP(nn.Module):
    """The two encoders and the learnable temperature: ``image(x)`` (B, 3, 32, 32) in [0, 1] -> (B, dim),
    ``text(ids, lengths)`` (B, max_len) int64, (B,) -> (B, dim), both L2-normalised; ``logit_scale`` is
    log(1 / temperature). ``vocab`` (a list of words) travels with the model so a saved one can read text.
    Taught in 07_cross_modal, section "2. Two encoders, one space".
    """

    def __init__(self, vocab, text="bow", dim=64, temperature=0.1):
        super().__init__()
        self.hparams = {"vocab": list(vocab), "text": text, "dim": dim, "temperature": temperature}
        self.vocab = list(vocab)
        self.image = ImageEncoder(dim)
        self.text = {"bow": BagOfWords, "gru": GRUText}[text](len(vocab), dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / temperature)))


def reference_clip_loss(z_image, z_text, logit_scale):
    """Symmetric InfoNCE the direct way: mean cross-entropy of the scaled cosine logits, images -> texts and
    texts -> images, averaged. ``z_image``, ``z_text``: (B, dim) L2-normalised, row i of each is a pair.
    Used in 07_cross_modal, section "3. The symmetric InfoNCE loss, by hand".
    """
    logits = logit_scale.exp() * z_image @ z_text.T                                # (B, B)
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def train_clip(model, X, texts_for_epoch, epochs, loss_fn=reference_clip_loss, batch_size=64, lr=3e-3, seed=0,
               on_epoch=None, progress=None):
    """Train ``model`` (a TinyCLIP) on images ``X`` (n, 3, 32, 32) and captions: ``texts_for_epoch(epoch)`` gives
    n fresh captions per epoch. ``on_epoch(epoch, model)`` runs after each epoch (validation). Returns the losses.
    Used in 07_cross_modal, section "4. Training on the CPU".
    """
    from helpers.captions import encode_texts
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for epoch in (progress or (lambda r: r))(range(1, epochs + 1)):
        ids, lengths = (torch.from_numpy(a) for a in encode_texts(texts_for_epoch(epoch), model.vocab))
        order, total = torch.randperm(len(X), generator=g), 0.0
        model.train()
        for start in range(0, len(X) - 1, batch_size):
            b = order[start:start + batch_size]
            loss = loss_fn(model.image(X[b]), model.text(ids[b], lengths[b]), model.logit_scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))                      # temperature >= 0.01
            total += loss.item() * len(b)
        losses.append(total / len(X))
        model.eval()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return losses


@torch.inference_mode()
def embed_images(model, X, batch_size=256) -> np.ndarray:
    """L2-normalised image embeddings (n, dim) of images ``X`` (n, 3, 32, 32) in [0, 1].

    Used in 07_cross_modal, section "5. Text to image and image to text".
    """
    model.eval()
    return torch.cat([model.image(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]).numpy()


@torch.inference_mode()
def embed_texts(model, texts) -> np.ndarray:
    """L2-normalised text embeddings (n_texts, dim); unknown words are dropped.

    Used in 07_cross_modal, section "5. Text to image and image to text".
    """
    from helpers.captions import encode_texts
    ids, lengths = encode_texts(list(texts), model.vocab)
    model.eval()
    return model.text(torch.from_numpy(ids), torch.from_numpy(lengths)).numpy()


_GALLERY: dict = {}     # (model file, its mtime, folder) -> (paths, image embeddings)


def search_text(query: str, k: int = 10, data_dir: Path | str | None = None) -> list[tuple[Path, float]]:
    """The ``k`` ``shapes`` images whose embeddings are most cosine-similar to a free-text query.

    Returns [(path, score), ...] best first, with the model notebook 07 saved. Raises ``KitError`` when that
    model or the dataset is missing, or when no word of the query is known to the model.
    Used in 07_cross_modal, section "9. Search by text".
    """
    from helpers.captions import SYNONYMS, tokenise
    from helpers.datasets import load_folder
    from helpers.env import data_dir as data_dir_of
    from helpers.images import load_images
    from helpers.store import load_model
    if int(k) != k or k < 1:
        raise KitError(f"k must be a positive whole number, got {k!r}")
    found = load_model(MODEL_NAME, data_dir=data_dir, missing_ok=True)
    if found is None:
        raise KitError(f"no trained text-image model under {data_dir_of(data_dir) / 'models'}: run notebook "
                       "07_cross_modal first (python -m helpers run 07)")
    model = found[0]
    content = {w for words in SYNONYMS.values() for w in words} & set(model.vocab)
    if not content & set(tokenise(query)):
        raise KitError(f"no word of {query!r} names a shape, colour, texture, size or background the model knows: "
                       f"use words such as 'red', 'star', 'striped' or 'small'")
    root = data_dir_of(data_dir) / "shapes"
    key = (str(found[1]["path"]), found[1]["path"].stat().st_mtime, str(root))
    if key not in _GALLERY:                     # the images' embeddings, once per model and folder (an app asks often)
        paths, _, _ = load_folder(root)
        images, _, _ = load_images(paths, size=IMAGE_SIZE)
        X = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
        _GALLERY.clear()
        _GALLERY[key] = (paths, embed_images(model, X))
    paths, gallery = _GALLERY[key]
    scores = gallery @ embed_texts(model, [query])[0]                                  # (n_images,)
    top = np.argsort(-scores, kind="stable")[:int(k)]
    return [(Path(paths[i]), float(scores[i])) for i in top]


def expected_scores_under_ties(sims, y_query, y_gallery, ks=(1, 5, 10)) -> dict:
    """Recall@k and AP of every query, averaged exactly over every order of tied scores (n_query,) each.

    A score that counts words (a keyword search) gives many gallery items the same score; sorting them in
    gallery order would favour whichever items happen to come first. Here every tie is broken in all ways
    at once: the expected recall@k and the expected AP over uniformly random orders within each tie
    (McSherry and Najork, ECIR 2008). Without ties both equal the ordinary values.
    ``sims``: (n_query, n_gallery); ``y_query`` (n_query,), ``y_gallery`` (n_gallery,); relevant = same label.
    Returns {"R@k": array (n_query,) for each k, "AP": array (n_query,)}.
    Used in 07_cross_modal, section "5. Text to image and image to text".
    """
    sims, y_query, y_gallery = np.asarray(sims, float), np.asarray(y_query), np.asarray(y_gallery)
    if sims.shape != (len(y_query), len(y_gallery)):
        raise KitError(f"sims has shape {sims.shape}, expected (n_query, n_gallery) = "
                       f"({len(y_query)}, {len(y_gallery)})")
    out = {f"R@{k}": np.zeros(len(y_query)) for k in ks}
    out["AP"] = np.zeros(len(y_query))
    for q, (row, label) in enumerate(zip(sims, y_query)):
        values, inverse = np.unique(-row, return_inverse=True)                  # tie groups, best first
        size = np.bincount(inverse, minlength=len(values))                      # items per tie group
        rel = np.bincount(inverse, weights=(y_gallery == label), minlength=len(values))   # relevant per group
        n_rel = rel.sum()
        if n_rel == 0:
            raise KitError(f"query {q} has no relevant item in the gallery")
        start = np.concatenate([[0], np.cumsum(size)[:-1]])                     # items ranked above each group
        before = np.concatenate([[0], np.cumsum(rel)[:-1]])                     # relevant items above each group
        for k in ks:
            inside = np.clip(k - start, 0, size)                                # group positions within the top k
            out[f"R@{k}"][q] = (rel * inside / size).sum() / n_rel
        ap = 0.0
        for s, n, r, b in zip(start, size, rel, before):
            if r == 0:
                continue
            j = np.arange(1, n + 1)                                             # positions inside the group
            others = (j - 1) * (r - 1) / (n - 1) if n > 1 else 0.0              # expected relevant ahead, in group
            ap += (r / n * (b + 1 + others) / (s + j)).sum()
        out["AP"][q] = ap / n_rel
    return out
