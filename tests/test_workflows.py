"""The library functions behind the CLI, and the leave-one-out protocol against query/gallery."""
import numpy as np
import pytest

from helpers import metrics
from helpers.datasets import split_query_gallery
from helpers.env import KitError
from helpers.workflows import evaluate_folder, index_folder, search_index


def test_leave_one_out_equals_each_image_as_a_one_query_split(folder, tmp_path):
    """Leave-one-out is the average of n query/gallery evaluations, each with one query and the rest as gallery."""
    result = evaluate_folder(folder, "colour_hist", k=3, data_dir=tmp_path)
    from helpers.pipeline import compute
    from helpers.retrieval import l2_normalise
    X, kept, _ = compute("colour_hist", sorted(folder.rglob("*.png")))
    X, labels = l2_normalise(X), np.repeat(np.arange(3), 4)
    aps = []
    for q in range(len(labels)):
        gallery = np.setdiff1d(np.arange(len(labels)), [q])
        aps.append(metrics.evaluate(X[[q]] @ X[gallery].T, labels[[q]], labels[gallery], k=3)["mAP"])
    assert result["mAP"] == pytest.approx(np.mean(aps), abs=1e-4)
    assert result["n_queries"] == 12 and result["n_gallery"] == 11
    split = evaluate_folder(folder, "colour_hist", k=3, queries_per_class=1, data_dir=tmp_path)
    query, gallery = split_query_gallery(labels, 1, seed=0)
    assert split["n_queries"] == len(query) == 3 and split["n_gallery"] == len(gallery)


def test_index_then_search_round_trip(folder, tmp_path):
    info = index_folder(folder, "colour_hist", tmp_path / "i.npz", data_dir=tmp_path)
    assert info["n_images"] == 12 and info["skipped"] == []
    found = search_index(tmp_path / "i.npz", folder / "c1" / "2.png", k=2, data_dir=tmp_path)
    assert found["results"][0]["path"].endswith("c1/2.png") and found["results"][0]["score"] == pytest.approx(1.0)
    with pytest.raises(KitError, match="no such file"):
        search_index(tmp_path / "i.npz", folder / "nope.png")
    with pytest.raises(KitError, match="single image"):
        metrics.evaluate_leave_one_out(np.eye(3, dtype=np.float32), np.arange(3))
