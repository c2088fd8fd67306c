import pytest

from helpers import results


def test_record_replaces_the_same_method_and_keeps_others(tmp_path):
    path = tmp_path / "results.json"
    results.record("colour_hist", "shapes", {"mAP": 0.2, "precision@10": 0.3}, "01", path)
    results.record("cnn", "shapes", {"mAP": 0.5}, "02", path)
    results.record("colour_hist", "shapes", {"mAP": 0.25}, "01", path)
    rows = results.load(path)
    assert [(r["method"], r["mAP"]) for r in rows] == [("colour_hist", 0.25), ("cnn", 0.5)]


def test_missing_and_corrupt_files(tmp_path):
    assert results.load(tmp_path / "none.json") == []
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load(bad)


def test_forget_removes_one_notebooks_rows_only(tmp_path):
    path = tmp_path / "results.json"
    results.record("a", "shapes", {"mAP": 0.5}, "01_x", path)
    results.record("b", "shapes", {"mAP": 0.6}, "04_y", path)
    results.record("c", "catalogue", {"mAP": 0.7}, "04_y", path)
    assert results.forget("04_y", path) == 2 and [r["method"] for r in results.load(path)] == ["a"]
    assert results.forget("04_y", path) == 0 and not list(tmp_path.glob(".*.tmp"))
