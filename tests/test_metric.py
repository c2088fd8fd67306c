"""helpers.metric (losses, mining, the class-disjoint split, the embedding network) and the checks of notebook 06."""
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers import metric
from helpers.env import KitError
from helpers.exercises import ExerciseError
from helpers.exercises import nb06_metric_learning as ex
from helpers.extractors import get
from helpers.store import save_model


def test_class_disjoint_split_holds_out_whole_classes():
    labels = np.repeat(np.arange(6), 10)
    s = metric.class_disjoint_split(labels, n_unseen=2, n_val_per_class=3, seed=1)
    assert len(s["unseen_classes"]) == 2 and set(labels[s["test_idx"]]) == set(s["unseen_classes"])
    assert not set(labels[s["train_idx"]]) & set(s["unseen_classes"])
    assert not set(s["train_idx"]) & set(s["val_idx"]) and len(s["val_idx"]) == 4 * 3 and len(s["train_idx"]) == 4 * 7
    again = metric.class_disjoint_split(labels, n_unseen=2, n_val_per_class=3, seed=1)
    assert all(np.array_equal(s[k], again[k]) for k in s)
    with pytest.raises(KitError, match="at least 2 training classes"):
        metric.class_disjoint_split(labels, n_unseen=5, n_val_per_class=3)
    with pytest.raises(KitError, match="too few"):
        metric.class_disjoint_split(labels, n_unseen=2, n_val_per_class=9)


def test_triplet_and_contrastive_losses_match_torch_and_the_formula():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(10, 4, generator=g) for _ in range(3))
    assert torch.isclose(metric.triplet_loss(a, p, n, 0.5), torch.nn.TripletMarginLoss(0.5, eps=0.0)(a, p, n), atol=1e-5)
    same = torch.arange(10) % 3 == 0
    d = (a - p).norm(dim=1)
    ref = torch.where(same, d ** 2, F.relu(0.7 - d) ** 2).mean()
    assert torch.isclose(metric.contrastive_loss(a, p, same, 0.7), ref, atol=1e-5)


def test_batch_hard_never_takes_the_anchor_as_its_positive():
    emb = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    labels = torch.tensor([0, 1, 0, 1])
    # anchor 0: farthest positive is 2 (d=1), nearest negative 1 (d=3): 1 - 3 + 4 = 2; every anchor alike
    assert torch.isclose(metric.batch_hard_triplet_loss(emb, labels, margin=4.0), torch.tensor(2.0))


def test_pk_batches_have_p_classes_of_k_images():
    labels = np.repeat(np.arange(5), [8, 8, 8, 8, 2])
    batches = metric.pk_batches(labels, P=3, K=4, n_batches=20, seed=0)
    for b in batches:
        counts = np.bincount(labels[b], minlength=5)
        assert len(b) == 12 and sorted(counts[counts > 0].tolist()) == [4, 4, 4]
    assert all(np.array_equal(x, y) for x, y in zip(batches, metric.pk_batches(labels, 3, 4, 20, seed=0)))
    with pytest.raises(KitError, match="K >= 2"):
        metric.pk_batches(labels, P=3, K=1, n_batches=1)


def test_embedding_net_is_unit_length_and_collapse_is_measured():
    torch.manual_seed(0)
    net = metric.EmbeddingNet(embedding_dim=8, n_classes=3, width=4)
    E = metric.embed_all(net, torch.randn(5, 3, 32, 32))
    assert E.shape == (5, 8) and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    assert net.logits(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(KitError, match="no classifier"):
        metric.EmbeddingNet(width=4).logits(torch.zeros(1, 3, 32, 32))
    assert metric.mean_pairwise_cosine(np.ones((4, 3))) == pytest.approx(1.0)
    assert metric.mean_pairwise_cosine(np.eye(3)) == pytest.approx(0.0)


def test_metric_cnn_is_a_command_line_feature_once_notebook_06_saved_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CBIR_DATA", str(tmp_path))
    with pytest.raises(KitError, match="needs the model notebook 06_metric_learning trains"):
        get("metric_cnn").spec()
    for c, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 40), tuple(v + 15 * i for v in colour)).save(tmp_path / "imgs" / c / f"{i}.png")
    env = {**__import__("os").environ, "CBIR_DATA": str(tmp_path)}
    missing = subprocess.run([sys.executable, "-m", "helpers", "evaluate", str(tmp_path / "imgs"), "--features",
                              "metric_cnn"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "06_metric_learning" in missing.stderr
    torch.manual_seed(0)
    save_model(metric.EmbeddingNet(embedding_dim=8, width=4).eval(), "metric_cnn", {"seed": 0},
               notebook="06_metric_learning", extra={"size": 32, "mean": [0.5] * 3, "std": [0.25] * 3})
    result = subprocess.run([sys.executable, "-m", "helpers", "evaluate", str(tmp_path / "imgs"), "--features",
                             "metric_cnn", "--json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert '"mAP"' in result.stdout


# ---- the exercise checks: solution passes, stub says "not answered yet", each typical mistake its message ----

def batch_all(emb, labels, margin=0.2, self_pos=False, squared=False, hinge=True):
    D = torch.cdist(emb, emb)
    D = D ** 2 if squared else D
    same = labels[:, None] == labels[None, :]
    pos = same if self_pos else same & ~torch.eye(len(labels), dtype=torch.bool)
    valid = pos[:, :, None] & ~same[:, None, :]
    raw = D[:, :, None] - D[:, None, :] + margin
    return (F.relu(raw) if hinge else raw)[valid].mean()


def stub(*args, **kwargs):
    raise NotImplementedError()


def test_check_batch_all(capsys):
    ex.check_batch_all(batch_all)
    assert capsys.readouterr().out.startswith("Correct")
    for wrong, words in ((stub, "not answered yet"),
                         (lambda e, l, m: batch_all(e, l, m, self_pos=True), "anchor itself"),
                         (lambda e, l, m: batch_all(e, l, m, squared=True), "squared distances"),
                         (lambda e, l, m: batch_all(e, l, m, hinge=False), "clamp each term at 0"),
                         (lambda e, l, m: metric.batch_hard_triplet_loss(e, l, m), "wrong value")):
        with pytest.raises(ExerciseError, match=words):
            ex.check_batch_all(wrong)


def fit_whitening(X_train, n, refit=False, centre=True, normalise=True):
    def apply(X_new):
        base = X_new if refit else X_train
        mu = base.mean(0) if centre else 0
        _, s, Vt = np.linalg.svd(base - mu, full_matrices=False)
        Z = (X_new - mu) @ Vt[:n].T / (s[:n] / np.sqrt(len(base) - 1))
        return Z / np.linalg.norm(Z, axis=1, keepdims=True) if normalise else Z
    return apply


def test_check_whitening(capsys):
    ex.check_whitening(fit_whitening)
    assert capsys.readouterr().out.startswith("Correct")
    for wrong, words in ((stub, "not answered yet"),
                         (lambda X, n: fit_whitening(X, n, refit=True), "fitted on the vectors it transforms"),
                         (lambda X, n: fit_whitening(X, n, centre=False), "subtract the training mean"),
                         (lambda X, n: fit_whitening(X, n, normalise=False), "not L2-normalised"),
                         (lambda X, n: (lambda Z: Z[:, :n] / np.linalg.norm(Z[:, :n], axis=1, keepdims=True)),
                          "wrong values")):
        with pytest.raises(ExerciseError, match=words):
            ex.check_whitening(wrong)


def test_check_design_scores_against_thresholds(capsys):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 20)
    X = torch.tensor(rng.normal(size=(80, 3, 2, 2)), dtype=torch.float32)
    centres = rng.normal(size=(4, 16)) * 3

    def oracle(Xs):   # the labels leak in through a lookup: an excellent "embedding" for the test of the check
        return centres[y[:len(Xs)]] + 0.1 * np.arange(len(Xs))[:, None] / len(Xs)
    assert ex.check_design(oracle, data=(X, y)) > ex.THRESHOLDS["excellent"]
    assert capsys.readouterr().out.startswith("Correct (excellent)")
    with pytest.raises(ExerciseError, match="below the pass mark"):
        ex.check_design(lambda Xs: np.random.default_rng(1).normal(size=(len(Xs), 8)), data=(X, y))
    with pytest.raises(ExerciseError, match="different vectors"):
        ex.check_design(lambda Xs: np.random.default_rng().normal(size=(len(Xs), 4)), data=(X, y))
    with pytest.raises(ExerciseError, match="collapsed"):
        ex.check_design(lambda Xs: np.ones((len(Xs), 4)) + 1e-3 * Xs.reshape(len(Xs), -1)[:, :4].numpy(), data=(X, y))
    with pytest.raises(ExerciseError, match="not answered yet"):
        ex.check_design(stub, data=(X, y))


def test_group_disjoint_split_keeps_groups_whole():
    from helpers.metric import group_disjoint_split
    groups = np.repeat(list("abcdefghij"), 7)
    s = group_disjoint_split(groups, n_val=2, n_test=3, seed=0)
    assert len(s["test_groups"]) == 3 and len(s["val_groups"]) == 2 and len(s["train_groups"]) == 5
    parts = [set(groups[s[f"{p}_idx"]]) for p in ("train", "val", "test")]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert sum(len(s[f"{p}_idx"]) for p in ("train", "val", "test")) == len(groups)
    assert np.array_equal(s["test_idx"], group_disjoint_split(groups, 2, 3, seed=0)["test_idx"])
    with pytest.raises(KitError, match="training group"):
        group_disjoint_split(groups, n_val=5, n_test=5)


def test_gem_head_matches_gem_and_learns_p():
    from helpers.features import gem
    from helpers.metric import GeMHead
    torch.manual_seed(0)
    maps = torch.rand(4, 6, 3, 3)
    head = GeMHead(in_channels=6, dim=3, p_init=3.0)
    assert torch.allclose(head.pool(maps), gem(maps, 3.0), atol=1e-5)
    out = head(maps)
    assert out.shape == (4, 3) and torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    out.sum().backward()
    assert head.p.grad is not None and head.p.grad.abs() > 0
    assert "GeM p=3.00 (learnable) -> linear 6 -> 3 -> L2" in repr(head)


def test_gem_head_round_trips_through_the_store(tmp_path):
    from helpers.metric import GeMHead
    from helpers.store import load_model
    torch.manual_seed(0)
    head = GeMHead(in_channels=6, dim=3)
    with torch.no_grad():
        head.p.fill_(4.5)
    save_model(head, "nb06_head", {"seed": 0}, data_dir=tmp_path)
    loaded, record = load_model("nb06_head", {"seed": 0}, data_dir=tmp_path)
    maps = torch.rand(2, 6, 2, 2)
    assert record["class"] == "GeMHead" and torch.allclose(loaded(maps), head(maps))
