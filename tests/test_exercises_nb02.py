"""The checks of 02_cnn_features: each passes the solution and names what a stub or a typical mistake got wrong,
without giving the answer away."""
from functools import lru_cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.exercises import ExerciseError
from helpers.exercises.nb02_cnn_features import (DESCRIPTOR_THRESHOLDS, check_catalogue_descriptor, check_conv2d,
                                                 check_cross_entropy)


def stub(*args, **kwargs):
    raise NotImplementedError()


def assert_hides_answer(err):
    text = str(err.value)
    assert "unfold(" not in text and "@" not in text and "log_softmax(" not in text


# --- Exercise 1: conv2d by unfold ------------------------------------------------------------
def conv2d_ok(x, weight, padding=0):
    c_out, _, k, _ = weight.shape
    h_out, w_out = x.shape[2] + 2 * padding - k + 1, x.shape[3] + 2 * padding - k + 1
    out = weight.reshape(c_out, -1) @ F.unfold(x, k, padding=padding)
    return out.reshape(x.shape[0], c_out, h_out, w_out)


def conv2d_flipped(x, weight, padding=0):
    return conv2d_ok(x, weight.flip(2, 3), padding)


def conv2d_swapped(x, weight, padding=0):      # (B, C_out, W_out, H_out): the sizes in the wrong order
    c_out, _, k, _ = weight.shape
    h_out, w_out = x.shape[2] + 2 * padding - k + 1, x.shape[3] + 2 * padding - k + 1
    return (weight.reshape(c_out, -1) @ F.unfold(x, k, padding=padding)).reshape(x.shape[0], c_out, w_out, h_out)


def conv2d_three(x, weight, padding=0):        # assumes 3 x 3 filters and padding 1
    c_out = weight.shape[0]
    out = weight.reshape(c_out, -1) @ F.unfold(x, 3, padding=1)
    return out.reshape(x.shape[0], c_out, x.shape[2], x.shape[3])


def conv2d_library(x, weight, padding=0):
    return F.conv2d(x, weight, padding=padding)


def conv2d_loops(x, weight, padding=0):
    k = weight.shape[2]
    xp = F.pad(x, (padding,) * 4)
    h_out, w_out = xp.shape[2] - k + 1, xp.shape[3] - k + 1
    out = torch.zeros(x.shape[0], weight.shape[0], h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            out[:, :, i, j] = torch.einsum("bchw,ochw->bo", xp[:, :, i:i + k, j:j + k], weight)
    return out


def conv2d_in_place(x, weight, padding=0):
    out = conv2d_ok(x, weight, padding)
    x.zero_()
    return out


def test_conv2d_passes_the_solution(capsys):
    check_conv2d(conv2d_ok)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (stub, "not answered yet"),
    (conv2d_flipped, "flipped the filter"),
    (conv2d_swapped, "wrong order"),
    (conv2d_three, "5 x 5 filter"),
    (conv2d_library, "library convolution"),
    (conv2d_loops, "no Python loops"),
    (conv2d_in_place, "in place"),
])
def test_conv2d_names_each_mistake(answer, words):
    with pytest.raises(ExerciseError, match=words) as err:
        check_conv2d(answer)
    assert_hides_answer(err)


# --- Exercise 3: cross-entropy ---------------------------------------------------------------
def ce_ok(logits, targets):
    return -torch.log_softmax(logits, dim=1)[torch.arange(len(targets)), targets].mean()


@pytest.mark.parametrize("answer, words", [
    (stub, "not answered yet"),
    (lambda l, t: F.nll_loss(l, t), "log_softmax first"),
    (lambda l, t: -ce_ok(l, t), "sign"),
    (lambda l, t: ce_ok(l, t) * len(t), "average over the batch"),
    (lambda l, t: -torch.log(torch.softmax(l, 1))[torch.arange(len(t)), t].mean(), "large logits"),
])
def test_cross_entropy_names_each_mistake(answer, words):
    with pytest.raises(ExerciseError, match=words) as err:
        check_cross_entropy(answer)
    assert_hides_answer(err)


def test_cross_entropy_passes_the_solution(capsys):
    check_cross_entropy(ce_ok)
    assert "Correct" in capsys.readouterr().out


# --- Exercise 2 (open): the shop's descriptor, scored on held-back shopper photos ---------------
@lru_cache(maxsize=1)
def _network():
    from helpers.backbones import efficientnet_lite0, preprocess_for
    return efficientnet_lite0().eval(), preprocess_for("efficientnet_lite0")


def head_pooled(images, pool):
    from helpers.features import feature_maps, gem
    net, preprocess = _network()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 32):
            maps = feature_maps(net, torch.stack([preprocess(im) for im in images[start:start + 32]]))
            out.append((gem(maps) if pool == "GeM" else maps.mean(dim=(2, 3))).numpy())
    return np.concatenate(out)


def test_descriptor_levels_follow_the_thresholds(capsys):
    score = check_catalogue_descriptor(lambda ims: head_pooled(ims, "GeM"))
    out = capsys.readouterr().out
    assert out.startswith("Correct (good)") and DESCRIPTOR_THRESHOLDS["good"] <= score < DESCRIPTOR_THRESHOLDS["excellent"]
    score = check_catalogue_descriptor(lambda ims: head_pooled(ims, "GAP"))
    assert capsys.readouterr().out.startswith("Correct (pass)")


def test_descriptor_below_pass_says_what_to_try():
    from helpers.features import colour_hist
    with pytest.raises(ExerciseError, match="below the pass mark"):
        check_catalogue_descriptor(lambda ims: colour_hist(ims))


@pytest.mark.parametrize("answer, words", [
    (stub, "not answered yet"),
    (lambda ims: np.random.default_rng().normal(size=(len(ims), 8)), "different vectors"),
    (lambda ims: np.ones((len(ims), 8)), "same vector"),
    (lambda ims: np.ones((len(ims) + 1, 8)), "one vector per image"),
    (lambda ims: np.full((len(ims), 8), np.nan), "nan"),
    (lambda ims: np.zeros((len(ims), 8)), "same vector|all zeros"),
])
def test_descriptor_refuses_degenerate_answers(answer, words):
    with pytest.raises(ExerciseError, match=words):
        check_catalogue_descriptor(answer)
