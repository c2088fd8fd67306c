"""The checks of 05_quantisation's exercises: the solution passes; the stub and each typical mistake fail with
their own message, which never gives the answer away."""
import numpy as np
import pytest

from helpers.exercises import ExerciseError
from helpers.exercises import nb05_quantisation as nb05


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- Exercise 1: ADC tables ---------------------------------------------------------------------
def adc_ok(Q, codebooks):
    M, K, sub = codebooks.shape
    return ((Q.reshape(len(Q), M, 1, sub) - codebooks[None]) ** 2).sum(-1)


def adc_loop(Q, codebooks):
    M, K, sub = codebooks.shape
    return np.stack([((Q[:, None, m * sub:(m + 1) * sub] - codebooks[m][None]) ** 2).sum(-1) for m in range(M)], 1)


def adc_hard_coded(Q, codebooks):
    return ((Q.reshape(3, 4, 1, 2) - codebooks[None]) ** 2).sum(-1) if Q.shape == (3, 8) else np.zeros(1)


def adc_wrong_split(Q, codebooks):               # interleaved sub-vectors instead of consecutive ones
    M, K, sub = codebooks.shape
    return ((Q.reshape(len(Q), sub, M).transpose(0, 2, 1)[:, :, None, :] - codebooks[None]) ** 2).sum(-1)


@pytest.mark.parametrize("mistake, words", [
    (lambda Q, C: np.sqrt(adc_ok(Q, C)), "squared"), (adc_loop, "loops in Python"),
    (adc_hard_coded, "one shape, wrong for another"), (adc_wrong_split, "wrong values"),
])
def test_adc_tables_catches_each_mistake(mistake, words):
    with pytest.raises(ExerciseError, match=words):
        nb05.check_adc_tables(mistake)


def test_adc_tables_passes_the_solution_and_explains_the_stub(capsys):
    nb05.check_adc_tables(adc_ok)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb05.check_adc_tables(stub)


# --- Exercise 2: SDC ------------------------------------------------------------------------------
def sdc_ok(codes_q, codes_db, codebooks):
    M = codebooks.shape[0]
    t = ((codebooks[:, :, None, :] - codebooks[:, None, :, :]) ** 2).sum(-1)
    return t[np.arange(M), codes_q[:, None, :].astype(int), codes_db[None, :, :].astype(int)].sum(-1)


def sdc_decode(codes_q, codes_db, codebooks):        # decoding both sides first is the same computation: accepted
    M = codebooks.shape[0]
    dq = np.hstack([codebooks[m][codes_q[:, m]] for m in range(M)])
    dd = np.hstack([codebooks[m][codes_db[:, m]] for m in range(M)])
    return ((dq[:, None, :] - dd[None]) ** 2).sum(-1)


def sdc_code_numbers(codes_q, codes_db, codebooks):
    return ((codes_q[:, None, :].astype(float) - codes_db[None]) ** 2).sum(-1)


def sdc_not_squared(codes_q, codes_db, codebooks):
    return np.sqrt(sdc_ok(codes_q, codes_db, codebooks))


def sdc_first_codebook(codes_q, codes_db, codebooks):
    t = ((codebooks[0][:, None, :] - codebooks[0][None, :, :]) ** 2).sum(-1)
    return t[codes_q[:, None, :], codes_db[None, :, :]].sum(-1)


def sdc_uint8_overflow(codes_q, codes_db, codebooks):    # hard-codes K = 6 of the first case
    M = codebooks.shape[0]
    t = ((codebooks[:, :6, None, :] - codebooks[:, None, :6, :]) ** 2).sum(-1)
    return t[np.arange(M), np.minimum(codes_q, 5)[:, None, :], np.minimum(codes_db, 5)[None, :, :]].sum(-1)


@pytest.mark.parametrize("mistake, words", [
    (sdc_code_numbers, "code numbers"), (sdc_not_squared, "squared"), (sdc_first_codebook, "its own codebook"),
    (sdc_uint8_overflow, "one shape, wrong for another"),
])
def test_sdc_catches_each_mistake(mistake, words):
    with pytest.raises(ExerciseError, match=words):
        nb05.check_sdc_distances(mistake)


def test_sdc_passes_the_solution_and_a_decoding_answer_and_explains_the_stub(capsys):
    nb05.check_sdc_distances(sdc_ok)
    nb05.check_sdc_distances(sdc_decode)
    assert capsys.readouterr().out.count("Correct") == 2
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb05.check_sdc_distances(stub)


# --- Exercise 3 (open): an index under a memory budget, scored on held-back vectors ----------------------
def factory(spec, nprobe=None, opq_niter=None):
    import faiss

    def build(X_train, X_db):
        index = faiss.index_factory(X_db.shape[1], spec)
        if opq_niter:
            faiss.downcast_VectorTransform(index.chain.at(0)).niter = opq_niter
        index.train(X_train)
        index.add(X_db)
        if nprobe:
            faiss.extract_index_ivf(index).nprobe = nprobe
        return index
    return build


def test_index_refuses_bad_answers():
    import faiss
    with pytest.raises(ExerciseError, match="over the budget"):
        nb05.check_index(factory("Flat"))
    with pytest.raises(ExerciseError, match="FAISS index"):
        nb05.check_index(lambda X_train, X_db: X_db)

    def half(X_train, X_db):
        index = faiss.IndexFlatL2(X_db.shape[1])
        index.add(X_db[:100])
        return index
    with pytest.raises(ExerciseError, match="add every database vector"):
        nb05.check_index(half)
    with pytest.raises(ExerciseError, match="not answered yet"):
        nb05.check_index(stub)


def test_index_levels(capsys):
    assert nb05.check_index(factory("RR128,IVF256,PQ16np", nprobe=16)) >= nb05.THRESHOLDS["excellent"]
    assert "Correct (" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="below the pass mark"):
        nb05.check_index(factory("IVF256,PQ8np", nprobe=1))
