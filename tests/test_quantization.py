import numpy as np
import pytest

from helpers.env import KitError
from helpers.quantization import (ProductQuantizer, dequantize_int8, kmeans, nearest, quantize_int8,
                                  squared_distances)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 32)) * 3
    X = centres[rng.integers(20, size=3000)] + rng.standard_normal((3000, 32))
    return X.astype(np.float32)


def test_int8_round_trip_error_is_at_most_half_a_step(data):
    codes, low, step = quantize_int8(data)
    assert codes.dtype == np.uint8 and codes.shape == data.shape
    assert (np.abs(dequantize_int8(codes, low, step) - data) <= step / 2 + 1e-5).all()


def test_squared_distances_and_nearest_match_brute_force(data):
    C = data[:7]
    ref = ((data[:50, None, :] - C[None]) ** 2).sum(-1)
    assert np.allclose(squared_distances(data[:50], C), ref, rtol=1e-4, atol=1e-3)
    assert (nearest(data[:50], C) == ref.argmin(1)).all()


def test_kmeans_is_as_good_as_sklearn_with_the_same_random_init(data):
    from sklearn.cluster import KMeans
    ours = np.mean([squared_distances(data, kmeans(data, 20, n_iter=25, seed=s)).min(1).sum() for s in range(4)])
    ref = np.mean([KMeans(20, init="random", n_init=1, random_state=s).fit(data).inertia_ for s in range(4)])
    assert ours <= 1.1 * ref


def test_more_kmeans_iterations_never_increase_the_error(data):
    errors = [squared_distances(data, kmeans(data, 20, n_iter=n, seed=0)).min(1).sum() for n in (1, 3, 10, 25)]
    assert all(a >= b - 1e-3 * a for a, b in zip(errors, errors[1:]))
    with pytest.raises(ValueError, match="at least"):
        kmeans(data[:5], 10)


def test_pq_shapes_codes_and_exact_round_trip_on_few_points():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((200, 16)).astype(np.float32)  # fewer points than codewords: exact
    pq = ProductQuantizer(4, seed=0).fit(np.repeat(points, 2, axis=0))
    codes = pq.encode(points)
    assert codes.shape == (200, 4) and codes.dtype == np.uint8 and pq.bytes_per_vector == 4
    assert np.allclose(pq.decode(codes), points, atol=1e-5)


def test_more_subvectors_means_less_error(data):
    errors = []
    for M in (2, 4, 8):
        pq = ProductQuantizer(M, seed=0, n_iter=10).fit(data)
        errors.append(((pq.decode(pq.encode(data)) - data) ** 2).sum(1).mean())
    assert errors[0] > errors[1] > errors[2]


def test_adc_search_equals_distances_to_decoded_vectors(data):
    pq = ProductQuantizer(8, seed=0, n_iter=10).fit(data).add(data)
    queries = data[:5] + 0.1
    dist, idx = pq.search(queries, 10)
    ref = squared_distances(queries, pq.decode(pq.codes_))
    assert np.allclose(dist, np.sort(ref, axis=1)[:, :10], rtol=1e-4, atol=1e-3)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_pq_recall_is_close_to_faiss(data):
    import faiss
    database, queries = data[:2500], data[2500:2700]
    exact = faiss.IndexFlatL2(32)
    exact.add(database)
    _, truth = exact.search(queries, 10)
    theirs = faiss.IndexPQ(32, 8, 8)
    theirs.train(database)
    theirs.add(database)
    _, found_faiss = theirs.search(queries, 10)
    _, found_ours = ProductQuantizer(8, seed=0).fit(database).add(database).search(queries, 10)
    recall = lambda found: np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert abs(recall(found_ours) - recall(found_faiss)) < 0.05


def test_pq_bad_input_is_explained(data):
    with pytest.raises(ValueError, match="equal sub-vectors"):
        ProductQuantizer(5).fit(data)
    with pytest.raises(KitError, match="n_bits must be a whole number from 1 to 8"):
        ProductQuantizer(4, n_bits=9)
    with pytest.raises(KitError, match="fit"):
        ProductQuantizer(4).encode(data)
    with pytest.raises(KitError, match="add"):
        ProductQuantizer(4, n_iter=2).fit(data).search(data[:2])


def test_pq_n_bits_below_8_works_and_more_bits_reconstruct_better(data):
    """Every n_bits it accepts works: fewer codewords, more error; search agrees with decoded distances."""
    database, queries = data[:1500], data[1500:1510]
    errors = {}
    for n_bits in (4, 6, 8):
        pq = ProductQuantizer(4, n_bits=n_bits, n_iter=8, seed=0).fit(database).add(database)
        assert pq.codebooks_.shape[1] == 2 ** n_bits and pq.codes_.max() < 2 ** n_bits
        errors[n_bits] = ((pq.decode(pq.codes_) - database) ** 2).sum(1).mean()
        dists, idx = pq.search(queries, 5)
        ref = squared_distances(queries, pq.decode(pq.codes_))
        assert np.allclose(dists, np.take_along_axis(ref, idx, 1), rtol=1e-3, atol=1e-3)
        assert pq.bytes_per_vector == -(-4 * n_bits // 8)
    assert errors[4] > errors[6] > errors[8]
    assert repr(ProductQuantizer(4, n_bits=6)).startswith("ProductQuantizer(n_subvectors=4, n_bits=6")
