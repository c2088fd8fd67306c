"""Every exercise check works both ways: the solution passes; the stub and a typical mistake fail
with a message that names the problem, and no message gives the expected answer away."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers.exercises import (ExerciseError, nb00_start_here, nb01_colour_histograms, nb02_cnn_features,
                               nb03_autoencoders, nb04_cosine_retrieval, nb05_quantisation, nb06_metric_learning,
                               nb07_cross_modal,
                               nb08_explain_and_detect)

MODULES = [nb00_start_here, nb01_colour_histograms, nb02_cnn_features, nb03_autoencoders, nb04_cosine_retrieval,
           nb05_quantisation, nb06_metric_learning, nb07_cross_modal, nb08_explain_and_detect]  # 00-08: also tests/test_exercises_nbNN.py
ex = SimpleNamespace(**{name: getattr(m, name) for m in MODULES for name in dir(m) if name.startswith("check_")})


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- 00_start_here: tests/test_exercises_nb00.py ---------------------------------------------
# --- 01_colour_histograms: tests/test_exercises_nb01.py -------------------------------------


# --- 02_cnn_features -----------------------------------------------------------------------
def ce_ok(logits, targets):
    return -torch.log_softmax(logits, 1)[torch.arange(len(targets)), targets].mean()


# --- 03_autoencoders: tests/test_exercises_nb03.py ---------------------------------------


# --- 04_cosine_retrieval -------------------------------------------------------------------
def top_k_ok(sims, k):
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, part, 1)
    order = np.argsort(-s, axis=1)
    return np.take_along_axis(s, order, 1), np.take_along_axis(part, order, 1)


def alpha_qe_ok(Q, G, n, alpha):
    sims = Q @ G.T
    top = np.argsort(-sims, axis=1)[:, :n]
    w = np.maximum(np.take_along_axis(sims, top, 1), 0) ** alpha
    new = Q + (w[:, :, None] * G[top]).sum(1)
    return new / np.linalg.norm(new, axis=1, keepdims=True)


def plain_aqe(Q, G, n, alpha):
    top = np.argsort(-(Q @ G.T), axis=1)[:, :n]
    new = Q + G[top].sum(1)
    return new / np.linalg.norm(new, axis=1, keepdims=True)


# --- 05_quantisation -----------------------------------------------------------------------
def adc_ok(Q, codebooks):
    M, K, sub = codebooks.shape
    return ((Q.reshape(len(Q), M, 1, sub) - codebooks[None]) ** 2).sum(-1)


CASES = [  # check, solution, typical mistake, words the mistake's message must contain
    (ex.check_cross_entropy, ce_ok, lambda l, t: torch.nn.functional.nll_loss(l, t), "log_softmax"),
    (ex.check_top_k, top_k_ok, lambda s, k: (np.sort(s, 1)[:, :k], np.argsort(s, 1)[:, :k]), "not sorted"),
    (ex.check_alpha_qe, alpha_qe_ok, plain_aqe, "plain AQE"),
    (ex.check_adc_tables, adc_ok, lambda Q, C: np.sqrt(adc_ok(Q, C)), "squared"),
]


@pytest.mark.parametrize("check, solution, mistake, words", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_passes_the_solution_and_explains_the_stub_and_a_mistake(check, solution, mistake, words, capsys):
    check(solution)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        check(stub)
    with pytest.raises(ExerciseError, match=words):
        check(mistake)


def test_one_exercise_module_per_notebook_and_each_notebook_imports_its_own():
    import json
    from pathlib import Path
    for m in MODULES:
        stem = m.__name__.rsplit(".nb", 1)[1]
        nb = Path(__file__).resolve().parent.parent / "notebooks" / f"{stem}.ipynb"
        setup = "".join(next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")["source"])
        assert f"from helpers.exercises.nb{stem} import" in setup, stem
