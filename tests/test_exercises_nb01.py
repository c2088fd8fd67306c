"""The checks of 01_colour_histograms: the solution passes, the stub and each typical wrong answer fail with their own
message, and no message gives the answer away."""
import numpy as np
import pytest

from helpers.exercises import ExerciseError
from helpers.exercises.nb01_colour_histograms import (DESIGN_THRESHOLDS, _shapes_split_maps, check_best_n_bins,
                                                      check_brightness_robust_hist, check_histogram_intersection,
                                                      check_lighting_descriptor)
from helpers.features import colour_hist


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- Exercise 1: intersection ------------------------------------------------------------------------------------
def intersection_ok(H_query, H_gallery):
    return np.minimum(H_query[:, None, :], H_gallery[None, :, :]).sum(-1)


def intersection_pair_loop(H_query, H_gallery):
    return np.array([[np.minimum(q, g).sum() for g in H_gallery] for q in H_query])


def intersection_for_loop(H_query, H_gallery):
    sims = np.zeros((len(H_query), len(H_gallery)))
    for i in range(len(H_query)):
        sims[i] = np.minimum(H_gallery, H_query[i]).sum(1)
    return sims


def similarity_matrix(H_query, H_gallery, sim):   # the notebook's section 2 helper: a loop over queries
    return np.stack([sim(h, H_gallery) for h in H_query])


def intersection_via_notebook(H_query, H_gallery):
    return similarity_matrix(H_query, H_gallery, lambda h, G: np.minimum(G, h).sum(1))


def intersection_in_place(H_query, H_gallery):
    sims = np.minimum(H_query[:, None, :], H_gallery[None, :, :]).sum(-1)
    H_query[:] = 0                       # reuses the input as scratch space
    return sims


# --- Exercise 2: hue-saturation histogram -------------------------------------------------------------------------
def hs_hist_ok(images, n_bins=8):
    out = []
    for im in images:
        hsv = np.asarray(im.convert("HSV"), dtype=int).reshape(-1, 3)
        cell = (hsv[:, 0] * n_bins // 256) * n_bins + hsv[:, 1] * n_bins // 256
        out.append(np.bincount(cell, minlength=n_bins ** 2) / len(cell))
    return np.array(out)


def rgb_hist_wrong(images, n_bins=4):  # keeps brightness in: the typical first attempt
    return colour_hist(images, n_bins)


# --- Exercise 4 (open): a descriptor under new lighting -----------------------------------------------------------
def describe_ok(images):   # the notebook's solution: hue histogram of the centre, weighted by saturation
    out = []
    for im in images:
        hsv = np.asarray(im.crop((12, 12, 36, 36)).convert("HSV"), dtype=np.float64).reshape(-1, 3)
        hist, _ = np.histogram(hsv[:, 0], bins=16, range=(0, 256), weights=hsv[:, 1] / 255)
        out.append(np.sqrt(hist / (hist.sum() + 1e-9)))
    return np.stack(out)


def describe_lbp(images):   # texture alone: drawn shapes have little of it
    from skimage.feature import local_binary_pattern
    out = []
    for im in images:
        codes = local_binary_pattern(np.asarray(im.convert("L")), P=8, R=1, method="uniform")
        out.append(np.bincount(codes.astype(int).ravel(), minlength=10) / codes.size)
    return np.array(out)


@pytest.mark.parametrize("check, solution", [(check_histogram_intersection, intersection_ok),
                                             (check_brightness_robust_hist, hs_hist_ok)])
def test_solution_passes_and_stub_is_not_answered(check, solution, capsys):
    check(solution)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        check(stub)


@pytest.mark.parametrize("wrong, message", [
    (lambda a, b: a @ b.T, "dot product"),
    (intersection_pair_loop, "Python loop"),
    (intersection_for_loop, "Python loop"),
    (intersection_via_notebook, "Python loop"),
    (intersection_in_place, "changed its input"),
    (lambda a, b: intersection_ok(a, b).T, "shape"),
])
def test_intersection_wrong_answers(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        check_histogram_intersection(wrong)


def test_brightness_robust_hist_wrong_answer():
    with pytest.raises(ExerciseError, match="value/brightness"):
        check_brightness_robust_hist(rgb_hist_wrong)


@pytest.fixture(scope="module")
def split_maps():
    return {bins: _shapes_split_maps(hs_hist_ok, bins) for bins in (2, 4, 8, 16)}   # (validation, test) mAPs


def test_best_n_bins_recomputes_validation(split_maps, capsys):
    validation_map = {bins: val for bins, (val, test) in split_maps.items()}
    best = max(validation_map, key=validation_map.get)
    check_best_n_bins(best, validation_map, hs_hist_ok)
    assert "Correct" in capsys.readouterr().out
    check_best_n_bins(best, {b: round(v, 3) for b, v in validation_map.items()}, hs_hist_ok)   # printed values pass
    with pytest.raises(ExerciseError, match="not answered yet"):
        check_best_n_bins(best, validation_map, stub)


def test_best_n_bins_wrong_answers(split_maps):
    validation_map = {bins: val for bins, (val, test) in split_maps.items()}
    best = max(validation_map, key=validation_map.get)
    worst = min(validation_map, key=validation_map.get)
    test_map = {bins: test for bins, (val, test) in split_maps.items()}
    with pytest.raises(ExerciseError, match="test queries"):              # tuned on the test queries
        check_best_n_bins(max(test_map, key=test_map.get), test_map, hs_hist_ok)
    made_up = {2: 0.3, 4: 0.25, 8: 0.2}
    with pytest.raises(ExerciseError, match="do not type it"):            # made-up numbers
        check_best_n_bins(2, made_up, hs_hist_ok)
    with pytest.raises(ExerciseError, match="highest validation mAP"):    # right numbers, wrong pick
        check_best_n_bins(worst, validation_map, hs_hist_ok)
    with pytest.raises(ExerciseError, match="at least 3"):
        check_best_n_bins(2, {}, hs_hist_ok)
    with pytest.raises(ExerciseError, match="must be one of"):
        check_best_n_bins(32, validation_map, hs_hist_ok)
    with pytest.raises(ExerciseError, match="not the validation mAP"):   # scored with another histogram
        check_best_n_bins(best, validation_map, rgb_hist_wrong)


def test_open_descriptor_levels(capsys):
    assert check_lighting_descriptor(describe_ok) >= DESIGN_THRESHOLDS["excellent"]
    assert "Correct (excellent)" in capsys.readouterr().out
    plain = check_lighting_descriptor(lambda ims: colour_hist(ims, 8))        # the plain histogram just passes
    assert DESIGN_THRESHOLDS["pass"] <= plain < DESIGN_THRESHOLDS["good"]
    for best in (lambda ims: colour_hist(ims, 2), lambda ims: hs_hist_ok(ims, 4)):   # the notebook's best: good
        assert DESIGN_THRESHOLDS["good"] <= check_lighting_descriptor(best) < DESIGN_THRESHOLDS["excellent"]
    with pytest.raises(ExerciseError, match="below the pass mark"):
        check_lighting_descriptor(describe_lbp)
    with pytest.raises(ExerciseError, match="same vector"):
        check_lighting_descriptor(lambda ims: np.ones((len(ims), 3)))
    with pytest.raises(ExerciseError, match="different vectors"):
        check_lighting_descriptor(lambda ims: np.random.default_rng().random((len(ims), 3)))


def test_messages_never_hold_the_answer(split_maps):
    validation_map = {bins: val for bins, (val, test) in split_maps.items()}
    messages = []
    for call in (lambda: check_best_n_bins(16, validation_map, hs_hist_ok),
                 lambda: check_best_n_bins(2, {2: 0.3, 4: 0.25, 8: 0.2}, hs_hist_ok),
                 lambda: check_histogram_intersection(intersection_pair_loop)):
        with pytest.raises(ExerciseError) as info:
            call()
        messages.append(str(info.value))
    best = max(validation_map, key=validation_map.get)
    for message in messages:
        assert f"{validation_map[best]:.3f}" not in message and f"{best} bins" not in message
        assert "[:, None" not in message and "None, :" not in message
