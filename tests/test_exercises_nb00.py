"""The checks of 00_start_here: the solution passes, the stub and each typical wrong answer fail with their own message,
and no message gives the answer away."""
import numpy as np
import pytest
from PIL import Image

from helpers.exercises import ExerciseError
from helpers.exercises.nb00_start_here import (DESCRIPTOR_THRESHOLDS, check_ap_at_k, check_pixel_descriptor,
                                               check_r_precision)


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- Exercise 1: R-precision -------------------------------------------------------------------------------------
def r_precision_ok(relevance):
    R = relevance.sum(1)
    in_top_R = np.arange(relevance.shape[1]) < R[:, None]
    return (relevance & in_top_R).sum(1) / R


def r_precision_loop(relevance):
    return np.array([row[:row.sum()].sum() / row.sum() for row in relevance])


def r_precision_off_by_one(relevance):
    R = relevance.sum(1)
    return (relevance & (np.arange(relevance.shape[1]) <= R[:, None])).sum(1) / R


def r_precision_one_cutoff(relevance):
    R = int(relevance.sum(1).max())
    return relevance[:, :R].sum(1) / R


def r_precision_by_length(relevance):
    R = relevance.sum(1)
    return (relevance & (np.arange(relevance.shape[1]) < R[:, None])).sum(1) / relevance.shape[1]


def r_precision_in_place(relevance):
    R = relevance.sum(1)
    relevance &= np.arange(relevance.shape[1]) < R[:, None]
    return relevance.sum(1) / R


def r_precision_wrong_shape(relevance):
    return r_precision_ok(relevance).mean()


# --- Exercise 2: AP@k --------------------------------------------------------------------------------------------
def ap_at_k_ok(relevance, k, n_relevant):
    top = relevance[:, :k]
    precision = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    return (precision * top).sum(1) / np.minimum(k, n_relevant)


def ap_at_k_loop(relevance, k, n_relevant):
    out = []
    for row, n in zip(relevance, n_relevant):
        ranks = np.flatnonzero(row[:k]) + 1
        out.append(np.sum(np.arange(1, len(ranks) + 1) / ranks) / min(k, n))
    return np.array(out)


def ap_at_k_by_n_relevant(relevance, k, n_relevant):
    top = relevance[:, :k]
    return (np.cumsum(top, 1) / np.arange(1, k + 1) * top).sum(1) / n_relevant


def ap_at_k_by_hits(relevance, k, n_relevant):
    top = relevance[:, :k]
    return (np.cumsum(top, 1) / np.arange(1, k + 1) * top).sum(1) / np.maximum(top.sum(1), 1)


def ap_at_k_off_by_one(relevance, k, n_relevant):
    top = relevance[:, :k + 1]
    return (np.cumsum(top, 1) / np.arange(1, k + 2) * top).sum(1) / np.minimum(k, n_relevant)


def ap_at_k_uncut(relevance, k, n_relevant):
    precision = np.cumsum(relevance, 1) / np.arange(1, relevance.shape[1] + 1)
    return (precision * relevance).sum(1) / np.minimum(k, n_relevant)


def ap_at_k_by_k(relevance, k, n_relevant):
    top = relevance[:, :k]
    return (np.cumsum(top, 1) / np.arange(1, k + 1) * top).sum(1) / k


def ap_at_k_from_zero(relevance, k, n_relevant):
    top = relevance[:, :k]
    with np.errstate(divide="ignore", invalid="ignore"):    # rank 0: a division by zero
        return (np.cumsum(top, 1) / np.arange(k) * top).sum(1) / np.minimum(k, n_relevant)


def ap_at_k_helper(relevance, k, n_relevant):
    from helpers import metrics
    return np.full(len(relevance), metrics.map_at_k(relevance, k, n_relevant))


# --- Exercise 3 (open): a pixel descriptor --------------------------------------------------------------------------
def describe_ok(images):   # the notebook's solution: centre crop, coarse grid, chromaticity
    out = []
    for im in images:
        centre = np.asarray(im.crop((12, 12, 36, 36)).resize((8, 8), Image.BOX), dtype=np.float32).reshape(-1, 3)
        out.append((centre / (centre.sum(1, keepdims=True) + 1)).ravel())
    return np.stack(out)


def describe_raw(images):
    return np.stack([np.asarray(im, dtype=np.float32).ravel() / 255 for im in images])


def describe_gray(images):
    return np.stack([np.asarray(im.convert("L").resize((16, 16), Image.BOX), dtype=np.float32).ravel()
                     for im in images])


@pytest.mark.parametrize("check, solution", [(check_r_precision, r_precision_ok), (check_ap_at_k, ap_at_k_ok)])
def test_solution_passes_and_stub_is_not_answered(check, solution, capsys):
    check(solution)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        check(stub)


@pytest.mark.parametrize("wrong, message", [
    (r_precision_loop, "Python loop"),
    (r_precision_off_by_one, "off by one"),
    (r_precision_one_cutoff, "its own R"),
    (r_precision_by_length, "not by the length"),
    (r_precision_in_place, "changed its input"),
    (r_precision_wrong_shape, "one value per query"),
])
def test_r_precision_wrong_answers(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_r_precision(wrong)


@pytest.mark.parametrize("wrong, message", [
    (ap_at_k_loop, "Python loop"),
    (ap_at_k_by_n_relevant, "divided by n_relevant"),
    (ap_at_k_by_hits, "hits found"),
    (ap_at_k_off_by_one, "off by one"),
    (ap_at_k_uncut, "cut the ranking at k"),
    (ap_at_k_by_k, "divided by k"),
    (ap_at_k_from_zero, "nan or inf"),
    (ap_at_k_helper, "helpers.metrics"),
])
def test_ap_at_k_wrong_answers(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_ap_at_k(wrong)


WRONG = [(check_r_precision, w) for w in (r_precision_loop, r_precision_off_by_one, r_precision_one_cutoff,
                                           r_precision_by_length, r_precision_in_place, r_precision_wrong_shape)] + \
        [(check_ap_at_k, w) for w in (ap_at_k_loop, ap_at_k_by_n_relevant, ap_at_k_by_hits, ap_at_k_off_by_one,
                                      ap_at_k_uncut, ap_at_k_by_k, ap_at_k_from_zero, ap_at_k_helper)]


@pytest.mark.parametrize("check, wrong", WRONG, ids=lambda x: getattr(x, "__name__", ""))
def test_messages_never_hold_the_answer(check, wrong):
    with pytest.raises(ExerciseError) as info:
        check(wrong)
    message = str(info.value)
    assert not any(code in message for code in ("np.", "cumsum", "arange", "minimum(", "[:, :", "< R", "<= R"))


def test_open_descriptor_levels(capsys):
    assert check_pixel_descriptor(describe_ok) >= DESCRIPTOR_THRESHOLDS["excellent"]
    assert "Correct (excellent)" in capsys.readouterr().out
    raw = check_pixel_descriptor(describe_raw)       # the notebook's own raw pixels just pass
    assert DESCRIPTOR_THRESHOLDS["pass"] <= raw < DESCRIPTOR_THRESHOLDS["good"]
    with pytest.raises(ExerciseError, match="below the pass mark"):
        check_pixel_descriptor(describe_gray)
    with pytest.raises(ExerciseError, match="not answered yet"):
        check_pixel_descriptor(stub)


@pytest.mark.parametrize("degenerate, message", [
    (lambda ims: np.ones((len(ims), 4)), "same vector"),
    (lambda ims: np.zeros((len(ims), 4)), "all-zero"),
    (lambda ims: np.full((len(ims), 4), np.nan), "nan or inf"),
    (lambda ims: np.ones((len(ims) + 1, 4)), "one vector per image"),
    (lambda ims: np.random.default_rng().random((len(ims), 4)), "different vectors"),
    (lambda ims: (lambda X: X - X.mean(0))(describe_raw(ims)), "different vectors"),
])
def test_open_descriptor_refuses_degenerate_answers(degenerate, message):
    with pytest.raises(ExerciseError, match=message):
        check_pixel_descriptor(degenerate)
