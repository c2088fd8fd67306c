"""Answer-safe checks for the exercises: they say which property failed, never the answer.

Each ``check_...`` function takes the student's function (or result), runs it on cases the
student cannot see, and raises ``ExerciseError`` with a hint, or prints a short success line.
"""
from __future__ import annotations

import numpy as np


class ExerciseError(AssertionError):
    """Raised by a check: the message says what is wrong and hints how to fix it."""


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError("not answered yet: replace `raise NotImplementedError()` with your code") from None


def _number(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should return one number, got {type(value).__name__}") from None


def check_precision_at_k(func) -> None:
    """Exercise of 00_start_here: precision@k = (relevant items in the top k) / k."""
    rng = np.random.default_rng(12345)
    for _ in range(20):
        rel = rng.random(15) < 0.4
        k = int(rng.integers(1, 15))
        got = _number(_call(func, rel.copy(), k), "precision_at_k")
        if not 0.0 <= got <= 1.0:
            raise ExerciseError(f"precision must lie between 0 and 1, yours gave {got:.3f}")
        hits = rel[:k].sum()
        if np.isclose(got, hits / max(rel.sum(), 1)) and not np.isclose(got, hits / k):
            raise ExerciseError("you divided by the number of relevant items: that is recall, not precision")
        if np.isclose(got, rel[:k + 1].sum() / k) and not np.isclose(got, hits / k):
            raise ExerciseError("k is off by one: the top k are ranked_relevance[:k]")
        if not np.isclose(got, hits / k):
            raise ExerciseError("wrong value on a random ranking: count the relevant items among the first k, divide by k")
    got = _number(_call(func, np.array([True, False]), 5), "precision_at_k")
    if not np.isclose(got, 0.2):
        raise ExerciseError("when fewer than k items are ranked, the missing ones count as misses: still divide by k")
    print("Correct: precision@k passes every check.")


def check_ap_at_k(func) -> None:
    """Exercise of 00_start_here: AP@k = sum of precision@i at the relevant ranks i <= k, / min(k, n_relevant)."""
    rng = np.random.default_rng(54321)
    if not np.isclose(_number(_call(func, np.array([True, True, False, True]), 2, 3), "ap_at_k"), 1.0):
        raise ExerciseError("a ranking whose first k results are all relevant must score 1.0, even when more than "
                            "k items are relevant: divide by min(k, n_relevant)")
    for _ in range(30):
        rel = rng.random(15) < 0.4
        k = int(rng.integers(1, 15))
        n_relevant = int(rel.sum() + rng.integers(0, 4))
        if n_relevant == 0:
            continue
        got = _number(_call(func, rel.copy(), k, n_relevant), "ap_at_k")
        ranks = np.flatnonzero(rel[:k]) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        want = precisions.sum() / min(k, n_relevant)
        if not 0.0 <= got <= 1.0 + 1e-9:
            raise ExerciseError(f"AP@k must lie between 0 and 1, yours gave {got:.3f}")
        if np.isclose(got, precisions.sum() / n_relevant) and not np.isclose(got, want):
            raise ExerciseError("you divided by n_relevant: when more items are relevant than k, even a perfect "
                                "top k could not reach 1. Divide by min(k, n_relevant)")
        if len(ranks) and np.isclose(got, precisions.mean()) and not np.isclose(got, want):
            raise ExerciseError("you divided by the hits found: that inflates the score (section 5)")
        full = np.flatnonzero(rel) + 1
        if np.isclose(got, (np.arange(1, len(full) + 1) / full).sum() / min(k, n_relevant)) and not np.isclose(got, want):
            raise ExerciseError("only the first k results count: cut the ranking at k first")
        if not np.isclose(got, want):
            raise ExerciseError("wrong value: precision@i at each relevant rank i within the top k, summed, "
                                "divided by min(k, n_relevant)")
    print("Correct: AP@k passes every check.")


def _random_hists(rng, n, d):
    h = rng.random((n, d)) ** 3
    return (h / h.sum(1, keepdims=True)).astype(np.float32)


def check_histogram_intersection(func) -> None:
    """Exercise of 01_colour_histograms: sims[i, j] = sum_b min(H_query[i, b], H_gallery[j, b])."""
    rng = np.random.default_rng(7)
    Hq, Hg = _random_hists(rng, 4, 27), _random_hists(rng, 6, 27)
    sims = np.asarray(_call(func, Hq.copy(), Hg.copy()), dtype=np.float64)
    if sims.shape != (4, 6):
        raise ExerciseError(f"expected shape (n_query, n_gallery) = (4, 6), got {sims.shape}: one score per pair")
    if np.allclose(sims, Hq @ Hg.T, atol=1e-6):
        raise ExerciseError("that is the dot product: intersection takes the bin-wise minimum, then sums")
    if not np.allclose(np.asarray(_call(func, Hq[:1], Hq[:1])), 1.0, atol=1e-5):
        raise ExerciseError("a normalised histogram intersected with itself must give 1.0")
    if (sims < -1e-6).any() or (sims > 1 + 1e-6).any():
        raise ExerciseError("intersection of histograms that sum to 1 lies between 0 and 1")
    if not np.allclose(sims, np.minimum(Hq[:, None, :], Hg[None, :, :]).sum(-1), atol=1e-5):
        raise ExerciseError("wrong values: for each query-gallery pair take the minimum of each bin, then sum over bins")
    print("Correct: histogram intersection passes every check.")


def _check_best_choice(best, scores: dict, best_name: str, scores_name: str, what: str) -> None:
    """Shared by the 'pick the best by validation mAP' exercises."""
    if not isinstance(scores, dict) or len(scores) < 3:
        raise ExerciseError(f"{scores_name} should map at least 3 {what} you tried to their mAP")
    if any(not 0 <= v <= 1 for v in scores.values()):
        raise ExerciseError(f"the values of {scores_name} should be mAPs, between 0 and 1")
    if best not in scores:
        raise ExerciseError(f"{best_name} must be one of the {what} in {scores_name}")
    if scores[best] < max(scores.values()):
        raise ExerciseError(f"{best_name} does not have the highest mAP in {scores_name}")


def check_best_n_bins(best_n_bins, validation_map: dict) -> None:
    """Exercise of 01_colour_histograms: bins chosen by validation mAP, never by the test queries."""
    _check_best_choice(best_n_bins, validation_map, "best_n_bins", "validation_map", "bin counts")
    print(f"Correct: {best_n_bins} bins per channel, chosen on validation data only.")


def check_brightness_robust_hist(func) -> None:
    """Exercise of 01_colour_histograms: a histogram that ignores brightness (e.g. hue-saturation)."""
    from PIL import Image
    rng = np.random.default_rng(3)
    base = rng.integers(40, 256, (24, 24, 3)).astype(np.float64)
    images = [Image.fromarray(np.clip(base * f, 0, 255).astype(np.uint8)) for f in (1.0, 0.6)]
    other = Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)[..., ::-1].copy())
    H = np.asarray(_call(func, images + [other]), dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != 3:
        raise ExerciseError(f"expected one histogram per image, shape (3, n_bins_total); got {H.shape}")
    if not np.allclose(H.sum(1), 1.0, atol=1e-4):
        raise ExerciseError("each histogram should sum to 1 (divide by the number of pixels)")
    same = np.minimum(H[0], H[1]).sum()
    if same < 0.85:
        raise ExerciseError(f"a darker copy of an image shares only {same:.0%} of its histogram: value/brightness "
                            "is still in it. Keep hue and saturation, drop value")
    if np.allclose(H[0], H[2], atol=1e-3):
        raise ExerciseError("different images give the same histogram: it must still describe colour")
    print(f"Correct: a 40% darker copy keeps {same:.0%} of its histogram.")


def check_gem(func) -> None:
    """Exercise of 02_cnn_features: generalised-mean pooling (B, C, H, W) -> (B, C)."""
    import torch
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(2, 5, 4, 3, generator=g) + 0.01
    out = _call(func, maps.clone(), 3.0)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 5):
        raise ExerciseError(f"expected a tensor of shape (B, C) = (2, 5), got "
                            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}: "
                            "pool over the two spatial dimensions")
    if not torch.allclose(_call(func, maps, 1.0), maps.mean(dim=(2, 3)), atol=1e-5):
        raise ExerciseError("with p = 1, GeM must equal global average pooling")
    big = _call(func, maps, 60.0)
    if not torch.allclose(big, maps.amax(dim=(2, 3)), atol=0.05):
        raise ExerciseError("as p grows, GeM must approach global max pooling: raise to the power p, average, "
                            "then take the 1/p-th root")
    if (out < maps.mean(dim=(2, 3)) - 1e-5).any() or (out > maps.amax(dim=(2, 3)) + 1e-5).any():
        raise ExerciseError("GeM with p = 3 must lie between average and max pooling")
    if torch.allclose(out, (maps ** 3).mean(dim=(2, 3)), atol=1e-6):
        raise ExerciseError("you forgot the 1/p-th root after averaging")
    if not torch.allclose(_call(func, maps * 2, 3.0), 2 * out, atol=1e-4):
        raise ExerciseError("GeM must scale with its input: doubling the maps doubles the output")
    print("Correct: GeM pooling passes every check.")


def check_best_layer(best_layer, layer_map: dict) -> None:
    """Exercise of 02_cnn_features: the feature layer with the highest retrieval mAP."""
    _check_best_choice(best_layer, layer_map, "best_layer", "layer_map", "layers")
    print(f"Correct: {best_layer} is the best of the {len(layer_map)} layers you tried.")


def check_cross_entropy(func) -> None:
    """Exercise of 02_cnn_features: Loss = -sum_i y_i log(p_i), averaged over the batch, from logits."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g) * 3
    targets = torch.tensor([0, 3, 1, 1, 2, 0])
    out = _call(func, logits.clone(), targets.clone())
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise ExerciseError("return one number: the loss averaged over the batch")
    ref = F.cross_entropy(logits, targets)
    if torch.isclose(out, F.nll_loss(logits, targets)):
        raise ExerciseError("you used the logits as log-probabilities: apply log_softmax first")
    if torch.isclose(out, -ref):
        raise ExerciseError("the sign is off: cross-entropy is minus the log-probability of the true class")
    if torch.isclose(out, ref * len(targets)):
        raise ExerciseError("average over the batch instead of summing")
    if not torch.isclose(out, ref, atol=1e-5):
        raise ExerciseError("wrong value: take the log-softmax of the logits, pick each row's true class, "
                            "negate and average")
    big = torch.tensor([[1000.0, 0.0]])
    if not torch.isfinite(_call(func, big, torch.tensor([1]))):
        raise ExerciseError("large logits give inf or nan: use log_softmax, not log(softmax(...))")
    print("Correct: your cross-entropy matches torch.nn.functional.cross_entropy.")


def check_decoder(make_decoder, code_dim: int = 16, size: int = 96) -> None:
    """Exercise of 03_autoencoders: a decoder from (B, code_dim) to images (B, 3, size, size) in [0, 1]."""
    import torch
    decoder = _call(make_decoder, code_dim)
    if not isinstance(decoder, torch.nn.Module):
        raise ExerciseError("make_decoder should return a torch.nn.Module (e.g. an nn.Sequential)")
    z = torch.randn(5, code_dim, generator=torch.Generator().manual_seed(0)) * 3
    try:
        with torch.no_grad():
            out = decoder(z)
    except RuntimeError as err:
        raise ExerciseError(f"the decoder fails on codes of shape (5, {code_dim}): {str(err).splitlines()[0]}. "
                            "Check the Linear layer's input size and the Unflatten shape") from None
    if tuple(out.shape) != (5, 3, size, size):
        raise ExerciseError(f"the decoder gives {tuple(out.shape)}, expected (5, 3, {size}, {size}): each transposed "
                            "convolution with kernel 4, stride 2, padding 1 doubles the size; count the doublings "
                            "from 6 x 6")
    if out.min() < 0 or out.max() > 1:
        raise ExerciseError("outputs must lie in [0, 1] like the images: end with a sigmoid")
    print(f"Correct: the decoder maps codes to {size} x {size} colour images.")


def check_cosine_top_k(func) -> None:
    """Exercise of 03_autoencoders: indices of the k gallery codes most cosine-similar to each query."""
    rng = np.random.default_rng(11)
    Q, G = rng.standard_normal((4, 8)), rng.standard_normal((30, 8)) * rng.uniform(0.1, 10, (30, 1))
    out = np.asarray(_call(func, Q.copy(), G.copy(), 5))
    if out.shape != (4, 5):
        raise ExerciseError(f"expected indices of shape (n_query, k) = (4, 5), got {out.shape}")
    Qn, Gn = Q / np.linalg.norm(Q, axis=1, keepdims=True), G / np.linalg.norm(G, axis=1, keepdims=True)
    sims = Qn @ Gn.T
    if np.array_equal(out, np.argsort(-(Q @ G.T), axis=1)[:, :5]):
        raise ExerciseError("you ranked by dot product: long vectors win. Normalise both sides to unit length first")
    if np.array_equal(out, np.argsort(sims, axis=1)[:, :5]):
        raise ExerciseError("these are the least similar items: sort by decreasing similarity")
    if not np.array_equal(out, np.argsort(-sims, axis=1)[:, :5]):
        raise ExerciseError("wrong indices: cosine similarity of each query with every gallery code, best k first")
    print("Correct: cosine top-k over codes.")


def check_add_noise(func) -> None:
    """Exercise of 03_autoencoders: Gaussian noise of standard deviation sigma, clipped to [0, 1]."""
    import torch
    x = torch.full((64, 3, 8, 8), 0.5)
    original = x.clone()
    a = _call(func, x, 0.1, torch.Generator().manual_seed(0))
    if not torch.equal(x, original):
        raise ExerciseError("the input was modified in place: return a new tensor, the clean images are the targets")
    if not isinstance(a, torch.Tensor) or a.shape != x.shape:
        raise ExerciseError("return a tensor of the same shape as the input")
    b = _call(func, x, 0.1, torch.Generator().manual_seed(0))
    if not torch.equal(a, b):
        raise ExerciseError("use the generator you are given (torch.randn(..., generator=g)) so runs repeat exactly")
    if not 0.08 < float((a - x).std()) < 0.12:
        raise ExerciseError(f"the noise has standard deviation {float((a - x).std()):.3f}, expected about sigma = 0.1")
    high = _call(func, torch.ones(2, 3, 8, 8), 0.5, torch.Generator().manual_seed(1))
    if high.max() > 1 or high.min() < 0:
        raise ExerciseError("clip the result to [0, 1]: images cannot be brighter than white")
    print("Correct: noise of the right strength, repeatable, clipped, input untouched.")


def check_top_k(func) -> None:
    """Exercise of 04_cosine_retrieval: vectorised top-k of a similarity matrix, best first."""
    rng = np.random.default_rng(5)
    sims = rng.random((6, 50))
    out = _call(func, sims.copy(), 7)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ExerciseError("return a pair (scores, indices)")
    scores, idx = (np.asarray(a) for a in out)
    if idx.shape != (6, 7) or scores.shape != (6, 7):
        raise ExerciseError(f"expected two arrays of shape (n_query, k) = (6, 7), got {scores.shape} and {idx.shape}")
    if not np.allclose(np.take_along_axis(sims, idx.astype(int), 1), scores):
        raise ExerciseError("scores[i, j] must be sims[i, indices[i, j]]")
    if (np.diff(scores, axis=1) > 0).any():
        raise ExerciseError("scores are not sorted: best (largest) first in every row")
    if not np.allclose(scores, -np.sort(-sims, axis=1)[:, :7]):
        raise ExerciseError("these are not the k largest similarities of each row (argpartition on -sims, then sort)")
    print("Correct: vectorised top-k.")


def check_alpha_qe(func) -> None:
    """Exercise of 04_cosine_retrieval: alpha-weighted query expansion (alpha-QE).

    q' = normalise(q + sum_j sim_j**alpha * g_j) over the top-n gallery neighbours g_j of q.
    """
    rng = np.random.default_rng(13)
    Q = rng.standard_normal((4, 6))
    G = rng.standard_normal((25, 6))
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    out = np.asarray(_call(func, Q.copy(), G.copy(), 3, 3.0), dtype=float)
    if out.shape != Q.shape:
        raise ExerciseError(f"expected one new query per query, shape {Q.shape}; got {out.shape}")
    if not np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5):
        raise ExerciseError("the new queries are not L2-normalised")
    sims = Q @ G.T
    top = np.argsort(-sims, axis=1)[:, :3]
    w = np.maximum(np.take_along_axis(sims, top, 1), 0) ** 3
    def norm(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    if np.allclose(out, norm(Q + G[top].sum(1)), atol=1e-5):
        raise ExerciseError("that is plain AQE: weight each neighbour by its similarity to the power alpha")
    if np.allclose(out, norm((w[:, :, None] * G[top]).sum(1)), atol=1e-5):
        raise ExerciseError("the query itself must stay in the sum (with weight 1)")
    if not np.allclose(out, norm(Q + (w[:, :, None] * G[top]).sum(1)), atol=1e-5):
        raise ExerciseError("wrong result: take each query's top-n neighbours by cosine, weight each by its "
                            "similarity (negatives count as 0) to the power alpha, add to the query, normalise")
    print("Correct: alpha-weighted query expansion.")


def check_recall_at_k(func) -> None:
    """Exercise of 04_cosine_retrieval: recall@k from a ranking and labels."""
    ranking = np.array([[3, 0, 4, 1, 2], [2, 1, 0, 4, 3]])
    y_gallery = np.array([0, 1, 0, 1, 0])
    y_query = np.array([0, 1])
    got = np.asarray(_call(func, ranking, y_query, y_gallery, 2), dtype=float)
    if got.shape != (2,):
        raise ExerciseError(f"return one recall per query, shape (n_query,) = (2,); got {got.shape}")
    if np.allclose(got, [0.5, 0.5]):
        raise ExerciseError("that looks like precision@k: divide by the number of relevant items, not by k")
    if np.allclose(got, [2 / 3, 1 / 2]):
        raise ExerciseError("k is off by one: the top k are ranking[:, :k]")
    if not np.allclose(got, [1 / 3, 1 / 2]):
        raise ExerciseError("wrong values: count relevant items in the first k columns of each row, divide by "
                            "the number of relevant items in the whole gallery")
    print("Correct: recall@k.")


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
