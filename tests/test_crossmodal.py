"""The tiny CLIP of 07: captions, the loss, search_text and its command, and the exercise checks."""
import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import captions as C
from helpers import crossmodal
from helpers.datasets import build, load_folder, read_metadata
from helpers.env import KitError
from helpers.exercises import ExerciseError
from helpers.exercises import nb07_cross_modal as ex
from helpers.images import load_images
from helpers.store import save_model

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "07_cross_modal.ipynb"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A small shapes build and a tiny model trained for 2 epochs and saved as tiny_clip."""
    data = tmp_path_factory.mktemp("data")
    root = build("shapes", data_dir=data, small=True)
    meta = read_metadata("shapes", data)
    paths, _, _ = load_folder(root)
    rows = [meta[str(p.relative_to(root))] for p in paths]
    images, _, _ = load_images(paths, size=crossmodal.IMAGE_SIZE)
    X = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32).permute(0, 3, 1, 2) / 255
    torch.manual_seed(0)
    model = crossmodal.TinyCLIP(C.build_vocab(), "gru", 16)
    crossmodal.train_clip(model, X, lambda e: [C.caption(r, np.random.default_rng([0, e])) for r in rows], 2)
    save_model(model, crossmodal.MODEL_NAME, {"test": True}, data_dir=data)
    return data


def test_captions_use_the_recorded_factors_and_known_words():
    row = {"label": "star", "hue": 0.05, "texture": "stripes", "scale": 0.45, "background": "photo"}
    assert C.factors(row) == {"shape": "star", "colour": "red", "texture": "stripes", "size": "large",
                              "background": "photo"}
    assert C.caption(row, np.random.default_rng(0), template=0) in {
        f"a {s} {c} striped star on a photo background" for s in ("large", "big") for c in ("red", "scarlet")}
    vocab = C.build_vocab()
    ids, lengths = C.encode_texts(["a red zebra", "zebra"], vocab)
    assert lengths.tolist() == [2, 0] and ids[0, :2].tolist() == [vocab.index("a"), vocab.index("red")]
    assert [C.colour_name(h) for h in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)] == \
        ["red", "red", "yellow", "yellow", "green", "green", "blue", "blue", "purple", "purple"]


def test_split_keeps_unseen_combinations_out_of_training():
    from helpers import synth
    rows = [synth.sample_shape_params(i, 0) for i in range(1200)]     # what the generator records: no build needed
    s = C.split(rows)
    assert not {C.combo(rows[i]) for i in s["train"]} & set(C.UNSEEN)
    assert sum(len(v) for v in s.values()) == len(rows)
    with pytest.raises(KitError):
        C.split([])


def test_reference_loss_matches_an_explicit_loop_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    a, b = F.normalize(torch.randn(8, 5, generator=g), dim=1), F.normalize(torch.randn(8, 5, generator=g), dim=1)
    scale = torch.tensor(1.5)
    logits = scale.exp() * a @ b.T
    loop = sum(-(torch.log_softmax(logits[i], 0)[i] + torch.log_softmax(logits[:, i], 0)[i]) for i in range(8)) / 16
    assert torch.allclose(crossmodal.reference_clip_loss(a, b, scale), loop, atol=1e-5)
    assert torch.allclose(crossmodal.reference_clip_loss(a, b, scale), crossmodal.reference_clip_loss(b, a, scale))


def _class_ast(source, name):
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == name)
    if ast.get_docstring(node):
        node.body = node.body[1:]
    return ast.dump(node)


@pytest.mark.parametrize("name", ["ImageEncoder", "BagOfWords", "GRUText"])
def test_the_notebook_shows_the_helper_classes(name):
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    cell = next(c for c in cells if f"class {name}(" in c)
    assert _class_ast(cell, name) == _class_ast(inspect.getsource(getattr(crossmodal, name)), name)


def test_encoders_are_normalised_and_the_gru_sees_order():
    torch.manual_seed(0)
    vocab = C.build_vocab()
    for text in ("bow", "gru"):
        m = crossmodal.TinyCLIP(vocab, text, 8)
        z = crossmodal.embed_texts(m, ["a red star", "a star red"])
        assert np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
        assert np.allclose(z[0], z[1], atol=1e-6) == (text == "bow")
        assert np.allclose(np.linalg.norm(crossmodal.embed_images(m, torch.rand(3, 3, 32, 32)), axis=1), 1, atol=1e-5)


def test_search_text_returns_k_paths_best_first(tiny_data):
    found = crossmodal.search_text("a red star", k=5, data_dir=tiny_data)
    assert len(found) == 5 and all(Path(p).is_file() for p, _ in found)
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)


def test_search_text_explains_what_is_missing(tiny_data, tmp_path):
    with pytest.raises(KitError, match="run notebook 07_cross_modal"):
        crossmodal.search_text("a red star", data_dir=tmp_path)
    with pytest.raises(KitError, match="no word of 'a zebra' names"):
        crossmodal.search_text("a zebra", data_dir=tiny_data)
    with pytest.raises(KitError, match="k must be"):
        crossmodal.search_text("a red star", k=0, data_dir=tiny_data)


def test_search_text_command(tiny_data, tmp_path):
    def cli(*args, data_dir):
        return subprocess.run([sys.executable, "-m", "helpers", "search-text", *args, "--data-dir", str(data_dir)],
                              capture_output=True, text=True)
    result = cli("a red star", "-k", "3", "--json", data_dir=tiny_data)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [r["rank"] for r in out["results"]] == [1, 2, 3] and out["query"] == "a red star"
    for args, data in [(("a zebra",), tiny_data), (("a red star",), tmp_path)]:
        bad = cli(*args, data_dir=data)
        assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.strip().count("\n") == 0


# --- exercise checks ---------------------------------------------------------------------------
def stub(*args, **kwargs):
    raise NotImplementedError()


def multi_ok(zi, zt, scale, groups):
    zi, zt = F.normalize(zi, dim=1), F.normalize(zt, dim=1)
    logits = scale.exp() * zi @ zt.T
    same = (groups[:, None] == groups[None, :]).float()
    t = same / same.sum(1, keepdim=True)
    return (-(t * F.log_softmax(logits, 1)).sum(1).mean() - (t * F.log_softmax(logits.T, 1)).sum(1).mean()) / 2


def multi_one_way(zi, zt, scale, groups):
    zi, zt = F.normalize(zi, dim=1), F.normalize(zt, dim=1)
    same = (groups[:, None] == groups[None, :]).float()
    return -(same / same.sum(1, keepdim=True) * F.log_softmax(scale.exp() * zi @ zt.T, 1)).sum(1).mean()


def multi_no_temperature(zi, zt, scale, groups):
    return multi_ok(zi, zt, torch.tensor(0.0), groups)


def multi_unnormalised(zi, zt, scale, groups):
    same = (groups[:, None] == groups[None, :]).float()
    t = same / same.sum(1, keepdim=True)
    logits = scale.exp() * zi @ zt.T
    return (-(t * F.log_softmax(logits, 1)).sum(1).mean() - (t * F.log_softmax(logits.T, 1)).sum(1).mean()) / 2


def multi_diagonal_only(zi, zt, scale, groups):
    return crossmodal.reference_clip_loss(F.normalize(zi, dim=1), F.normalize(zt, dim=1), scale)


@pytest.mark.parametrize("func, message", [
    (stub, "not answered yet"), (multi_one_way, "one direction"), (multi_no_temperature, "temperature"),
    (multi_unnormalised, "not L2-normalised"), (multi_diagonal_only, "only the diagonal")])
def test_multi_positive_check_catches_mistakes(func, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_multi_positive_loss(func)


def test_multi_positive_check_passes_the_solution(capsys):
    ex.check_multi_positive_loss(multi_ok)
    assert capsys.readouterr().out.startswith("Correct")


def recall_ok(sims, yq, yg, ks):
    rel = yg[np.argsort(-sims, axis=1, kind="stable")] == yq[:, None]
    return np.cumsum(rel, axis=1)[:, np.asarray(ks) - 1] / rel.sum(1, keepdims=True)


def recall_off_by_one(sims, yq, yg, ks):
    rel = yg[np.argsort(-sims, axis=1, kind="stable")] == yq[:, None]
    return np.cumsum(rel, axis=1)[:, np.asarray(ks)] / rel.sum(1, keepdims=True)


def recall_precision(sims, yq, yg, ks):
    rel = yg[np.argsort(-sims, axis=1, kind="stable")] == yq[:, None]
    return np.cumsum(rel, axis=1)[:, np.asarray(ks) - 1] / np.asarray(ks)


def recall_reversed(sims, yq, yg, ks):
    rel = yg[np.argsort(sims, axis=1, kind="stable")] == yq[:, None]
    return np.cumsum(rel, axis=1)[:, np.asarray(ks) - 1] / rel.sum(1, keepdims=True)


def recall_loop(sims, yq, yg, ks):
    out = np.zeros((len(sims), len(ks)))
    for q in range(len(sims)):
        rel = yg[np.argsort(-sims[q], kind="stable")] == yq[q]
        for j, k in enumerate(ks):
            out[q, j] = rel[:k].sum() / rel.sum()
    return out


@pytest.mark.parametrize("func, message", [
    (stub, "not answered yet"), (recall_off_by_one, "off by one"), (recall_precision, "precision@k"),
    (recall_reversed, "reversed"), (recall_loop, "no Python loop")])
def test_recall_table_check_catches_mistakes(func, message):
    with pytest.raises(ExerciseError, match=message):
        ex.check_recall_table(func)


def test_recall_table_check_passes_the_solution(capsys):
    ex.check_recall_table(recall_ok)
    assert capsys.readouterr().out.startswith("Correct")


class Unnormalised(torch.nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.embed = torch.nn.EmbeddingBag(vocab_size, dim, padding_idx=0)

    def forward(self, ids, lengths):
        return self.embed(ids) * 3


def test_text_encoder_check_rejects_stub_and_unnormalised_output():
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_text_encoder(stub)
    with pytest.raises(ExerciseError, match="not L2-normalised"):
        ex.check_text_encoder(Unnormalised)
    with pytest.raises(ExerciseError, match="torch.nn.Module"):
        ex.check_text_encoder(lambda v, d: "an encoder")


def test_fresh_images_hold_the_unseen_combinations():
    X, rows = ex.fresh_images(per_combo=1)
    assert X.shape == (20, 3, 32, 32)
    assert {C.combo(r) for r in rows} >= set(C.UNSEEN)


def test_expected_scores_under_ties_average_every_order_of_the_ties():
    import itertools
    from helpers.metrics import average_precisions, recall_at_k
    rng = np.random.default_rng(0)
    sims = rng.integers(0, 3, (6, 7)).astype(float)                 # whole-number scores: many ties
    y_query, y_gallery = rng.integers(0, 2, 6), np.array([0, 1, 0, 1, 1, 0, 1])
    expected = crossmodal.expected_scores_under_ties(sims, y_query, y_gallery, ks=(1, 2, 5))
    aps, recalls = [], []
    for order in itertools.permutations(range(7)):                  # every order of the gallery, ties broken by it
        order = np.array(order)
        aps.append(average_precisions(sims[:, order], y_query, y_gallery[order]))
        relevance = y_gallery[order][np.argsort(-sims[:, order], axis=1, kind="stable")] == y_query[:, None]
        recalls.append([[recall_at_k(r, k) for k in (1, 2, 5)] for r in relevance])
    np.testing.assert_allclose(expected["AP"], np.mean(aps, 0), atol=1e-12)
    np.testing.assert_allclose(np.stack([expected[f"R@{k}"] for k in (1, 2, 5)], 1), np.mean(recalls, 0), atol=1e-12)


def test_expected_scores_without_ties_are_the_ordinary_ones_and_bad_input_raises():
    from helpers.metrics import average_precisions
    rng = np.random.default_rng(1)
    sims, y_query, y_gallery = rng.random((5, 9)), rng.integers(0, 3, 5), np.arange(9) % 3
    out = crossmodal.expected_scores_under_ties(sims, y_query, y_gallery)
    np.testing.assert_allclose(out["AP"], average_precisions(sims, y_query, y_gallery))
    ranking = np.argsort(-sims, axis=1)
    np.testing.assert_allclose(out["R@5"], (y_gallery[ranking][:, :5] == y_query[:, None]).sum(1) / 3)
    with pytest.raises(KitError, match="expected"):
        crossmodal.expected_scores_under_ties(sims[:, :4], y_query, y_gallery)
    with pytest.raises(KitError, match="no relevant"):
        crossmodal.expected_scores_under_ties(sims, np.full(5, 7), y_gallery)
