"""Exercise checks of 03_autoencoders."""
from __future__ import annotations

import numpy as np

from helpers.exercises import ExerciseError, _call


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

