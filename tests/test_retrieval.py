import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from helpers.env import KitError
from helpers.retrieval import CosineIndex, l2_normalise, load_index, save_index, search


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((7, 16)).astype(np.float32), rng.standard_normal((500, 16)).astype(np.float32)


def test_search_matches_sklearn_cosine_neighbours(data):
    queries, gallery = data
    scores, idx = search(queries, gallery, k=5)
    nn = NearestNeighbors(n_neighbors=5, metric="cosine").fit(gallery)
    dist, ref = nn.kneighbors(queries)
    assert np.array_equal(idx, ref) and np.allclose(scores, 1 - dist, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_cosine_index_equals_search_and_faiss(data):
    import faiss
    queries, gallery = data
    index = CosineIndex(block=64, query_block=3).fit(gallery)  # many blocks: the merge must be exact
    s1, i1 = index.search(queries, 10)
    s2, i2 = search(queries, gallery, 10)
    flat = faiss.IndexFlatIP(16)
    flat.add(l2_normalise(gallery))
    s3, i3 = flat.search(l2_normalise(queries), 10)
    assert np.array_equal(i1, i2) and np.array_equal(i1, i3) and np.allclose(s1, s3, atol=1e-5)


def test_self_query_ranks_first_with_cosine_one(data):
    _, gallery = data
    scores, idx = CosineIndex().fit(gallery).search(gallery[:4], 1)
    assert idx[:, 0].tolist() == [0, 1, 2, 3] and np.allclose(scores, 1.0, atol=1e-5)


def test_k_larger_than_gallery_returns_whole_gallery(data):
    queries, gallery = data
    scores, idx = search(queries, gallery[:3], k=10)
    assert idx.shape == (7, 3) and sorted(idx[0]) == [0, 1, 2]
    assert CosineIndex().fit(gallery[:3]).search(queries, 10)[1].shape == (7, 3)


def test_bad_input_is_explained(data):
    queries, gallery = data
    with pytest.raises(ValueError, match="zero"):
        search(np.zeros((1, 16)), gallery)
    with pytest.raises(ValueError, match="same feature extractor"):
        search(queries[:, :8], gallery)
    with pytest.raises(ValueError, match="k must be"):
        CosineIndex().fit(gallery).search(queries, 0)
    assert np.allclose(np.linalg.norm(l2_normalise(gallery), axis=1), 1.0)


def test_index_file_round_trip_and_wrong_extractor(tmp_path, data):
    _, gallery = data
    from helpers.extractors import get
    spec = get("colour_hist").spec()
    path = save_index(tmp_path / "i.npz", gallery, [f"img{i}.png" for i in range(500)], spec)
    index = load_index(path, spec)
    assert np.array_equal(index["features"], gallery) and index["paths"][3] == "img3.png"
    assert index["feature_name"] == "colour_hist" and index["kit_version"] and index["spec"] == spec
    with pytest.raises(KitError, match="made with features 'colour_hist'"):
        load_index(path, get("efficientnet_lite0").spec())
    with pytest.raises(KitError, match=r"another version of 'colour_hist' \(changed: normalisation\)"):
        load_index(path, {**spec, "normalisation": "16 bins per channel"})
    old = dict(np.load(path))
    del old["spec"]
    np.savez(tmp_path / "old.npz", **old)          # an index of the kit before specs: rebuild, not misuse
    with pytest.raises(KitError, match="older version of the kit"):
        load_index(tmp_path / "old.npz")
    with pytest.raises(KitError, match="index file not found"):
        load_index(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a valid index"):
        load_index(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an index made by this kit"):
        load_index(tmp_path / "other.npz")


def test_cosine_index_follows_scikit_learn_conventions(data):
    _, gallery = data
    index = CosineIndex(block=128)
    assert repr(index) == "CosineIndex(block=128, query_block=1024)" and not hasattr(index, "gallery_t_")
    with pytest.raises(KitError, match="call fit"):
        index.search(gallery[:2])
    assert index.fit(gallery) is index and len(index) == len(gallery)
