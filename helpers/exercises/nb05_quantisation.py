"""Exercise checks of 05_quantisation."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call


def check_adc_tables(func) -> None:
    """Exercise of 05_quantisation: tables[i, m, j] = ||q_i^(m) - codebooks[m, j]||^2."""
    rng = np.random.default_rng(21)
    Q, codebooks = rng.standard_normal((3, 8)), rng.standard_normal((4, 5, 2))
    out = np.asarray(_call(func, Q.copy(), codebooks.copy()), dtype=float)
    if out.shape != (3, 4, 5):
        raise ExerciseError(f"expected (n_query, M, n_codewords) = (3, 4, 5), got {out.shape}")
    ref = ((Q.reshape(3, 4, 1, 2) - codebooks[None]) ** 2).sum(-1)
    if np.allclose(out, np.sqrt(ref)):
        raise ExerciseError("ADC adds the tables' entries: store squared distances, not distances")
    if (out < -1e-9).any():
        raise ExerciseError("squared distances cannot be negative")
    if not np.allclose(out, ref, atol=1e-6):
        raise ExerciseError("wrong values: split each query into M sub-vectors of length d / M (reshape), then "
                            "compare sub-vector m with the codewords of codebook m only")
    print("Correct: ADC lookup tables.")


def check_choose_m(M: int, d: int, budget_bytes: int, n_vectors: int) -> None:
    """Exercise of 05_quantisation: the largest M (1 byte each) that fits the memory budget and divides d."""
    if not isinstance(M, (int, np.integer)) or M < 1:
        raise ExerciseError("M should be a positive whole number of sub-vectors")
    if d % M:
        raise ExerciseError(f"M = {M} does not divide the dimension {d}: sub-vectors must have equal length")
    if M * n_vectors > budget_bytes:
        raise ExerciseError(f"M = {M} needs {M * n_vectors:,} bytes of codes, over the budget of {budget_bytes:,}")
    better = [m for m in range(M + 1, d + 1) if d % m == 0 and m * n_vectors <= budget_bytes]
    if better:
        raise ExerciseError("a larger M still fits the budget and divides d: more sub-vectors, less error")
    print(f"Correct: M = {M}, {M * n_vectors / 1e6:.1f} MB of codes for {n_vectors:,} vectors.")


def check_hamming_ranking(func) -> None:
    """Exercise of 05_quantisation: Hamming distances between packed binary codes, nearest first."""
    rng = np.random.default_rng(4)
    bits_q, bits_g = rng.random((3, 64)) < 0.5, rng.random((40, 64)) < 0.5
    q, g = np.packbits(bits_q, axis=1), np.packbits(bits_g, axis=1)
    out = _call(func, q.copy(), g.copy())
    if not isinstance(out, tuple) or len(out) != 2:
        raise ExerciseError("return a pair (distances, ranking)")
    dist, ranking = (np.asarray(a) for a in out)
    ref = (bits_q[:, None, :] != bits_g[None]).sum(-1)
    if dist.shape != (3, 40):
        raise ExerciseError(f"distances should have shape (n_query, n_gallery) = (3, 40), got {dist.shape}")
    if np.array_equal(dist, (q[:, None, :] != g[None]).sum(-1)):
        raise ExerciseError("you compared bytes, not bits: XOR the bytes, then count the 1-bits (np.unpackbits)")
    if not np.array_equal(dist, ref):
        raise ExerciseError("wrong distances: the Hamming distance counts the bit positions that differ")
    if ranking.shape != (3, 40) or not np.array_equal(np.take_along_axis(ref, ranking, 1), np.sort(ref, axis=1)):
        raise ExerciseError("the ranking must list gallery indices by increasing Hamming distance")
    print("Correct: Hamming distances and ranking.")

