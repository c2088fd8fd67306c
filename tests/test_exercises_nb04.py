"""The checks of 04_cosine_retrieval's exercises: the solution passes; the stub and each typical mistake fail with
their own message, which never gives the answer away."""
import numpy as np
import pytest

from helpers.exercises import ExerciseError
from helpers.exercises import nb04_cosine_retrieval as nb04


def stub(*args, **kwargs):
    raise NotImplementedError()


def l2n(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- Exercise 1: top-k with a partial sort ---------------------------------------------------
def top_k_ok(sims, k):
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, part, 1)
    order = np.argsort(-s, axis=1)
    return np.take_along_axis(s, order, 1), np.take_along_axis(part, order, 1)


def top_k_full_sort(sims, k):
    order = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, order, 1), order


def top_k_full_sort_method(sims, k):
    order = (-sims).argsort(axis=1)[:, :k]
    return np.take_along_axis(sims, order, 1), order


def top_k_hidden_full_sort(sims, k):         # np.asarray hides the array from the spy: the time ratio catches it
    a = np.asarray(sims)
    order = np.argsort(-a, axis=1)[:, :k]
    return np.take_along_axis(a, order, 1), order


def top_k_in_place(sims, k):
    sims.sort(axis=1)
    return sims[:, ::-1][:, :k], np.zeros((len(sims), k), int)


def top_k_loop(sims, k):
    part = np.array([np.argpartition(-row, k - 1)[:k] for row in sims])
    s = np.take_along_axis(sims, part, 1)
    order = np.argsort(-s, axis=1)
    return np.take_along_axis(s, order, 1), np.take_along_axis(part, order, 1)


def top_k_unsorted(sims, k):
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return np.take_along_axis(sims, part, 1), part


def top_k_off_by_one(sims, k):
    s, i = top_k_ok(sims, k + 1)
    return s[:, 1:], i[:, 1:]


@pytest.mark.parametrize("mistake, words", [
    (top_k_full_sort, "sorts whole rows"), (top_k_full_sort_method, "sorts whole rows"),
    (top_k_hidden_full_sort, "times as long as a partial sort"), (top_k_in_place, "changed the similarity matrix"),
    (top_k_loop, "loops in Python"), (top_k_unsorted, "not sorted"), (top_k_off_by_one, "not the k largest"),
])
def test_top_k_catches_each_mistake(mistake, words):
    with pytest.raises(ExerciseError, match=words):
        nb04.check_top_k(mistake)


def test_top_k_passes_the_solution_and_explains_the_stub(capsys):
    nb04.check_top_k(top_k_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb04.check_top_k(stub)


# --- Exercise 2: alpha-QE (unchanged check) ---------------------------------------------------
def alpha_qe_ok(Q, G, n, alpha):
    sims = Q @ G.T
    top = np.argsort(-sims, axis=1)[:, :n]
    w = np.maximum(np.take_along_axis(sims, top, 1), 0) ** alpha
    return l2n(Q + (w[:, :, None] * G[top]).sum(1))


def test_alpha_qe(capsys):
    nb04.check_alpha_qe(alpha_qe_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb04.check_alpha_qe(stub)
    with pytest.raises(ExerciseError, match="plain AQE"):
        nb04.check_alpha_qe(lambda Q, G, n, a: l2n(Q + G[np.argsort(-(Q @ G.T), axis=1)[:, :n]].sum(1)))
    with pytest.raises(ExerciseError, match="not L2-normalised"):
        nb04.check_alpha_qe(lambda Q, G, n, a: alpha_qe_ok(Q, G, n, a) * 2)


# --- Exercise 3: reciprocal rank -----------------------------------------------------------------
def rr_ok(sims, y_query, y_gallery):
    order = np.argsort(-sims, axis=1, kind="stable")
    hit = y_gallery[order] == y_query[:, None]
    return np.where(hit.any(1), 1.0 / (hit.argmax(1) + 1), 0.0)


def rr_ascending(sims, y_query, y_gallery):
    return rr_ok(-sims, y_query, y_gallery)


def rr_zero_based(sims, y_query, y_gallery):
    hit = y_gallery[np.argsort(-sims, axis=1)] == y_query[:, None]
    return 1.0 / hit.argmax(1)


def rr_plus_two(sims, y_query, y_gallery):
    hit = y_gallery[np.argsort(-sims, axis=1)] == y_query[:, None]
    return np.where(hit.any(1), 1.0 / (hit.argmax(1) + 2), 0.0)


def rr_no_hit_is_one(sims, y_query, y_gallery):
    hit = y_gallery[np.argsort(-sims, axis=1)] == y_query[:, None]
    return 1.0 / (hit.argmax(1) + 1)


def rr_last_hit(sims, y_query, y_gallery):
    hit = y_gallery[np.argsort(-sims, axis=1)] == y_query[:, None]
    return np.where(hit.any(1), 1.0 / (hit.shape[1] - hit[:, ::-1].argmax(1)), 0.0)


@pytest.mark.parametrize("mistake, words", [
    (rr_ascending, "increasing similarity"), (rr_zero_based, "never divide by 0|must score 0"),
    (rr_plus_two, "off by one"), (rr_no_hit_is_one, "no relevant item"), (rr_last_hit, "FIRST relevant"),
])
def test_reciprocal_rank_catches_each_mistake(mistake, words):
    with pytest.raises(ExerciseError, match=words):
        nb04.check_reciprocal_rank(mistake)


def test_reciprocal_rank_passes_the_solution_and_explains_the_stub(capsys):
    nb04.check_reciprocal_rank(rr_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb04.check_reciprocal_rank(stub)


# --- Exercise 4 (open): a re-ranking scored on held-back shopper photos --------------------------------
def rerank_ok(Q, G, n_db=2, n_q=1, alpha=3.0):
    S = G @ G.T
    near = np.argsort(-S, axis=1)[:, :n_db + 1]
    w = np.maximum(np.take_along_axis(S, near, 1), 0) ** alpha
    G = l2n((w[:, :, None] * G[near]).sum(1))
    sims = Q @ G.T
    near = np.argsort(-sims, axis=1)[:, :n_q]
    w = np.maximum(np.take_along_axis(sims, near, 1), 0) ** alpha
    return l2n(Q + (w[:, :, None] * G[near]).sum(1)) @ G.T


def aqe_big_n(Q, G):                 # too many neighbours: drifts away from the product
    top = np.argsort(-(Q @ G.T), axis=1)[:, :8]
    return l2n(Q + G[top].sum(1)) @ G.T


def aqe_in_place(Q, G):
    top = np.argsort(-(Q @ G.T), axis=1)[:, :1]
    Q += G[top].sum(1)
    return l2n(Q) @ G.T


_rng = np.random.default_rng(0)


@pytest.mark.parametrize("mistake, words", [
    (aqe_big_n, "below the pass mark"), (aqe_in_place, "in place"),
    (lambda Q, G: (Q @ G.T)[:, :10], "similarity matrix"), (lambda Q, G: np.zeros((len(Q), len(G))), "constant"),
    (lambda Q, G: Q @ G.T + _rng.random((len(Q), len(G))), "different similarities"),
    (lambda Q, G: np.full((len(Q), len(G)), np.nan), "nan"),
])
def test_rerank_refuses_bad_answers(mistake, words):
    with pytest.raises(ExerciseError, match=words):
        nb04.check_rerank(mistake)


def test_rerank_levels(capsys):
    assert nb04.check_rerank(lambda Q, G: Q @ G.T) >= nb04.THRESHOLDS["pass"]
    assert "Correct (pass)" in capsys.readouterr().out
    assert nb04.check_rerank(rerank_ok) >= nb04.THRESHOLDS["excellent"]
    assert "Correct (excellent)" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb04.check_rerank(stub)


def test_held_back_photos_are_not_the_notebook_s():
    from helpers.datasets import protocol
    from helpers.pipeline import compute_cached
    X, labels = nb04.held_back_queries()
    cat = protocol("catalogue", seed=0)
    X_cat, _, _ = compute_cached("efficientnet_lite0", cat["paths"])
    assert X.shape == (207, X_cat.shape[1]) and len(set(labels)) == 69
    assert np.abs(X[:, None, :] - X_cat[None]).max(-1).min() > 1e-3      # no held-back photo is a catalogue photo
