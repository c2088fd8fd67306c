"""Captions for the ``shapes`` images, written from the generator's recorded factors, and their tokens.

Every ``shapes`` image records its class, hue, texture, scale and background (``metadata.csv``), so a caption
such as "a small red striped star on a photo background" can be written for it without a human. Several
templates and synonyms make the captions varied; a fixed list of colour-shape combinations is kept out of
training to test whether the model composes words it only saw apart.
"""
from __future__ import annotations

import re

import numpy as np

from helpers.env import KitError

COLOURS = ["red", "yellow", "green", "blue", "purple"]       # 72 degrees of hue each, centred on 18, 90, ...
SYNONYMS = {"circle": ["circle", "disc"], "square": ["square", "box"], "triangle": ["triangle"],
            "star": ["star"], "cross": ["cross", "plus"], "ring": ["ring", "donut"], "hexagon": ["hexagon"],
            "diamond": ["diamond", "rhombus"], "crescent": ["crescent", "moon"], "arrow": ["arrow"],
            "red": ["red", "scarlet"], "yellow": ["yellow", "golden"], "green": ["green"], "blue": ["blue", "azure"],
            "purple": ["purple", "violet"], "solid": ["plain", "solid"], "stripes": ["striped"],
            "dots": ["dotted", "spotted"], "checker": ["checkered"], "small": ["small", "little"],
            "large": ["large", "big"], "photo": ["photo"], "gradient": ["gradient", "smooth"]}
TEMPLATES = ["a {size} {colour} {texture} {shape} on a {background} background",
             "a photo of a {colour} {shape}",
             "{colour} {shape}",
             "a {texture} {shape} that is {colour}",
             "the {shape} is {colour} and {size}",
             "a {colour} {shape} with a {background} background"]
# Held out of training: one colour that is not its preferred colour for every shape (the compositional test).
UNSEEN = [("circle", "blue"), ("square", "green"), ("triangle", "purple"), ("star", "red"), ("cross", "yellow"),
          ("ring", "red"), ("hexagon", "yellow"), ("diamond", "green"), ("crescent", "blue"), ("arrow", "green")]


def colour_name(hue: float) -> str:
    """The colour word of a hue in [0, 1): five bins of 72 degrees, "red" centred on 18 degrees.

    Taught in 07_cross_modal, section "1. Captions from the generator's factors".
    """
    return COLOURS[int(((hue + 0.05) % 1.0) * 5) % 5]


def factors(row: dict) -> dict:
    """The canonical words of one ``shapes`` metadata row: shape, colour, texture, size, background.

    Taught in 07_cross_modal, section "1. Captions from the generator's factors".
    """
    return {"shape": row["label"], "colour": colour_name(row["hue"]), "texture": row["texture"],
            "size": "small" if row["scale"] < 0.41 else "large", "background": row["background"]}


def caption(row: dict, rng: np.random.Generator, template: int | None = None) -> str:
    """One caption of an image: a random template (or ``template``) filled with random synonyms.

    ``row``: a metadata row (``helpers.datasets.read_metadata``); ``rng``: the generator that picks.
    Taught in 07_cross_modal, section "1. Captions from the generator's factors".
    """
    words = {slot: str(rng.choice(SYNONYMS[value])) for slot, value in factors(row).items()}
    t = TEMPLATES[rng.integers(len(TEMPLATES))] if template is None else TEMPLATES[template]
    return t.format(**words)


def tokenise(text: str) -> list[str]:
    """Lower-case words of a text (letters only).

    Plumbing: not taught in a notebook.
    """
    return re.findall(r"[a-z]+", text.lower())


def build_vocab() -> list[str]:
    """Every word the caption templates can produce, sorted, after "<pad>" (index 0).

    Plumbing: not taught in a notebook.
    """
    words = {w for syn in SYNONYMS.values() for s in syn for w in tokenise(s)}
    words |= {w for t in TEMPLATES for w in tokenise(re.sub(r"\{\w+\}", " ", t))}
    return ["<pad>"] + sorted(words)


def encode_texts(texts, vocab: list[str], max_len: int = 12):
    """Token ids of texts, unknown words dropped: (ids int64 array (n_texts, max_len) padded with 0,
    lengths int64 array (n_texts,)). A text with no known word gets length 0.

    Plumbing: not taught in a notebook.
    """
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.zeros((len(texts), max_len), dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        known = [index[w] for w in tokenise(text) if w in index and w != "<pad>"][:max_len]
        ids[row, :len(known)] = known
        lengths[row] = len(known)
    return ids, lengths


def combo(row: dict) -> tuple[str, str]:
    """(shape, colour word) of a metadata row.

    Plumbing: not taught in a notebook.
    """
    return row["label"], colour_name(row["hue"])


def split(rows: list[dict], seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.15) -> dict:
    """Indices of train / val / test_seen / test_unseen for metadata ``rows`` (a list of dicts).

    test_unseen: every image whose (shape, colour) is in ``UNSEEN`` (never trained on); the rest is split at
    random into held-out images of seen combinations (``test_fraction``), validation (``val_fraction``, for
    choices) and training. Returns a dict of sorted int arrays.
    Used in 07_cross_modal, section "1. Captions from the generator's factors".
    """
    if not rows:
        raise KitError("no metadata rows to split: build the shapes dataset (python -m helpers datasets build shapes)")
    unseen = np.array([combo(r) in UNSEEN for r in rows])
    rest = np.random.default_rng(seed).permutation(np.flatnonzero(~unseen))
    n_test, n_val = int(round(test_fraction * len(rest))), int(round(val_fraction * len(rest)))
    return {"train": np.sort(rest[n_test + n_val:]), "val": np.sort(rest[n_test:n_test + n_val]),
            "test_seen": np.sort(rest[:n_test]), "test_unseen": np.flatnonzero(unseen)}
