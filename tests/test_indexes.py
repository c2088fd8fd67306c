"""FAISS index files: same neighbours as exact search, trained on a sample, clear errors, safe files."""
import numpy as np
import pytest

from helpers.env import KitError
from helpers import indexes
from helpers.retrieval import search
from helpers.workflows import index_folder, search_index

SPEC = {"name": "toy", "kind": "test"}


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(600, 16)).astype(np.float32), rng.normal(size=(20, 16)).astype(np.float32)


def test_flat_and_ivf_with_every_cell_equal_exact_search(vectors, tmp_path):
    X, Q = vectors
    _, exact = search(Q, X, 10)
    for factory, nprobe in (("Flat", None), ("IVF8,Flat", 8)):
        path = indexes.save_faiss_index(tmp_path / f"{factory.replace(',', '_')}.faiss", X,
                                        [f"img{i}.png" for i in range(len(X))], SPEC, factory)
        index, meta = indexes.load_faiss_index(path)
        assert meta["factory"] == factory and meta["paths"][5] == "img5.png" and meta["spec"] == SPEC
        scores, found = indexes.search_faiss(index, Q, 10, nprobe)
        assert np.array_equal(found, exact), factory
        assert np.all(np.diff(scores, axis=1) <= 1e-6)          # best first
    one_cell = indexes.search_faiss(index, Q, 10, nprobe=1)[1]
    assert (one_cell == exact).mean() < 1                          # visiting 1 of 8 cells misses some


def test_pq_codes_find_most_true_neighbours_in_less_memory(vectors, tmp_path):
    X, Q = vectors
    index = indexes.build_faiss_index(X, "PQ4")
    assert index.sa_code_size() == 4 and index.ntotal == len(X)     # 4 bytes per vector instead of 64
    found = indexes.search_faiss(index, Q, 10)[1]
    exact = search(Q, X, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert 0.2 < recall < 1


def test_bad_factory_too_few_vectors_and_bad_nprobe_are_one_sentence(vectors, tmp_path):
    X, Q = vectors
    with pytest.raises(KitError, match="does not understand the index 'IVF8,Nonsense'"):
        indexes.build_faiss_index(X, "IVF8,Nonsense")
    with pytest.raises(KitError, match="cannot train 'IVF1024,Flat' on 600 vectors.*IVF15,Flat"):
        indexes.build_faiss_index(X, "IVF1024,Flat")
    flat = indexes.build_faiss_index(X, "Flat")
    with pytest.raises(KitError, match="IVF indexes only"):
        indexes.search_faiss(flat, Q, 10, nprobe=2)
    with pytest.raises(KitError, match="between 1 and the number of cells"):
        indexes.search_faiss(indexes.build_faiss_index(X, "IVF8,Flat"), Q, 10, nprobe=9)
    assert indexes.search_faiss(flat, Q, 10_000)[1].shape == (20, 600)   # k larger than the index: all of it
    with pytest.raises(KitError, match="zero"):
        indexes.search_faiss(flat, np.zeros((1, 16)), 5)


def test_missing_corrupt_or_mismatched_files(vectors, tmp_path):
    X, _ = vectors
    paths = [f"{i}.png" for i in range(len(X))]
    with pytest.raises(KitError, match="end in .faiss"):
        indexes.save_faiss_index(tmp_path / "a.npz", X, paths, SPEC)
    with pytest.raises(KitError, match="index file not found"):
        indexes.load_faiss_index(tmp_path / "none.faiss")
    path = indexes.save_faiss_index(tmp_path / "a.faiss", X, paths, SPEC)
    assert not list(tmp_path.glob(".*tmp*"))
    good = indexes.sidecar(path).read_text()
    indexes.sidecar(path).unlink()
    with pytest.raises(KitError, match="a.faiss.json is missing"):
        indexes.load_faiss_index(path)
    indexes.sidecar(path).write_text(good.replace('"0.png", ', ""))
    with pytest.raises(KitError, match="different builds"):
        indexes.load_faiss_index(path)
    indexes.sidecar(path).write_text("not json")
    with pytest.raises(KitError, match="not the JSON file"):
        indexes.load_faiss_index(path)
    indexes.sidecar(path).write_text(good)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(KitError, match="not a FAISS index file"):
        indexes.load_faiss_index(path)


def test_a_folder_indexed_with_faiss_answers_like_the_exact_index(folder, tmp_path):
    index_folder(folder, "colour_hist", tmp_path / "i.npz", data_dir=tmp_path)
    info = index_folder(folder, "colour_hist", tmp_path / "i.faiss", data_dir=tmp_path, index="IVF2,Flat")
    assert info["kind"] == "IVF2,Flat" and info["n_images"] == 12
    query = folder / "c1" / "2.png"
    exact = search_index(tmp_path / "i.npz", query, k=5, data_dir=tmp_path)["results"]
    approx = search_index(tmp_path / "i.faiss", query, k=5, data_dir=tmp_path, nprobe=2)["results"]
    assert [r["path"] for r in approx] == [r["path"] for r in exact]
    assert [r["score"] for r in approx] == pytest.approx([r["score"] for r in exact], abs=1e-4)
    with pytest.raises(KitError, match="name the output FILE.faiss"):
        index_folder(folder, "colour_hist", tmp_path / "j.npz", data_dir=tmp_path, index="Flat")
    with pytest.raises(KitError, match="searched exactly"):
        search_index(tmp_path / "i.npz", query, nprobe=2, data_dir=tmp_path)
    with pytest.raises(KitError, match="made with features 'colour_hist'"):
        search_index(tmp_path / "i.faiss", query, feature="colour_hist_hsv", data_dir=tmp_path)


def test_a_stream_of_chunks_trains_on_the_first_rows_then_adds_the_rest(vectors, monkeypatch):
    X, Q = vectors
    monkeypatch.setattr(indexes, "TRAIN_SAMPLE", 100)         # train after 100 rows, add the other 500 as they come
    seen = []

    def chunks():
        for start in range(0, len(X), 40):
            seen.append(start)
            yield X[start:start + 40]
    index = indexes.build_faiss_index(chunks(), "IVF4,Flat")
    assert index.ntotal == len(X) and len(seen) == 15
    assert np.array_equal(indexes.search_faiss(index, Q, 10, nprobe=4)[1], search(Q, X, 10)[1])
    with pytest.raises(KitError, match="no vectors"):
        indexes.build_faiss_index(iter([]), "Flat")


def test_a_folder_streamed_into_faiss_keeps_each_path_with_its_vector(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(indexes, "TRAIN_SAMPLE", 4)
    index_folder(folder, "colour_hist", tmp_path / "s.faiss", data_dir=tmp_path, index="IVF2,Flat")
    index, meta = indexes.load_faiss_index(tmp_path / "s.faiss")
    assert sorted(meta["paths"]) == sorted(str(p) for p in folder.rglob("*.png"))
    for query in (folder / "c0" / "3.png", folder / "c2" / "0.png"):     # each image finds itself first
        assert search_index(tmp_path / "s.faiss", query, k=1, data_dir=tmp_path, nprobe=2)["results"][0]["path"] == str(query)
