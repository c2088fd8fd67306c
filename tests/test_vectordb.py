"""Milvus collections behind index/search: Milvus Lite locally (no network) answers like the exact .npz index."""
import subprocess
import sys

import numpy as np
import pytest

from helpers.env import KitError
from helpers.retrieval import search
from helpers.vectordb import is_milvus, parse_uri
from helpers.workflows import index_folder, search_index


def test_uris_are_parsed_or_refused_in_one_sentence(tmp_path):
    assert is_milvus("milvus-lite:x.db") and is_milvus("milvus://h:1/c") and not is_milvus("x.npz")
    assert parse_uri(f"milvus-lite:{tmp_path}/a.db") == (str(tmp_path / "a.db"), "cbir")
    assert parse_uri("milvus://milvus.example.org:19530/shop") == ("http://milvus.example.org:19530", "shop")
    for bad in ("milvus-lite:a.sqlite", "milvus://host/shop", "milvus://host:19530/", "milvus://h:1/bad-name"):
        with pytest.raises(KitError, match="milvus"):
            parse_uri(bad)


def test_without_the_scale_extra_one_sentence_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['pymilvus'] = None\n"
            "from helpers.vectordb import load_milvus\n"
            f"load_milvus('milvus-lite:{tmp_path}/a.db')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert 'pip install -e ".[scale]"' in out.stderr.splitlines()[-1]


pymilvus = pytest.importorskip("pymilvus", reason='the scale extra is not installed: pip install -e ".[scale]"')


def test_milvus_lite_gives_the_same_top_10_as_exact_search(tmp_path):
    from helpers.vectordb import load_milvus, save_milvus, search_milvus
    rng = np.random.default_rng(0)
    X, Q = rng.normal(size=(1500, 16)).astype(np.float32), rng.normal(size=(8, 16)).astype(np.float32)
    paths = [f"img{i}.png" for i in range(len(X))]
    save_milvus(f"milvus-lite:{tmp_path}/v.db", X, paths, {"name": "toy"})     # 2 insert chunks
    client, name, meta = load_milvus(f"milvus-lite:{tmp_path}/v.db")
    assert meta["spec"] == {"name": "toy"} and client.get_collection_stats(name)["row_count"] == 1500
    scores, found = search_milvus(client, name, Q, 10)
    exact_scores, exact = search(Q, X, 10)
    assert found == [[paths[j] for j in row] for row in exact]
    assert np.allclose(scores, exact_scores, atol=1e-5)


def test_a_folder_indexed_into_milvus_lite_answers_like_the_exact_index(folder, tmp_path):
    index_folder(folder, "colour_hist", tmp_path / "i.npz", data_dir=tmp_path)
    uri = f"milvus-lite:{tmp_path}/shop.db"
    info = index_folder(folder, "colour_hist", uri, data_dir=tmp_path)
    assert info["n_images"] == 12 and "Milvus" in info["kind"]
    query = folder / "c2" / "1.png"
    exact = search_index(tmp_path / "i.npz", query, k=10, data_dir=tmp_path)["results"]
    found = search_index(uri, query, k=10, data_dir=tmp_path)["results"]
    assert [r["score"] for r in found] == pytest.approx([r["score"] for r in exact], abs=1e-4)
    ties = {r["score"] for r in exact if sum(abs(r["score"] - o["score"]) < 1e-4 for o in exact) > 1}
    assert all(a["path"] == b["path"] or b["score"] in ties for a, b in zip(found, exact)), "same ranking up to ties"
    assert found[0]["path"] == str(query)
    with pytest.raises(KitError, match="made with features 'colour_hist'"):
        search_index(uri, query, feature="colour_hist_hsv", data_dir=tmp_path)
    with pytest.raises(KitError, match="searched exactly"):
        search_index(uri, query, nprobe=2, data_dir=tmp_path)
    with pytest.raises(KitError, match="no Milvus Lite file"):
        search_index(f"milvus-lite:{tmp_path}/none.db", query, data_dir=tmp_path)


def test_an_unreachable_server_is_one_sentence():
    from helpers.vectordb import load_milvus
    with pytest.raises(KitError, match="cannot connect to Milvus|is the server running"):
        load_milvus("milvus://127.0.0.1:9/shop")        # port 9 (discard): nothing listens there


def test_the_command_line_indexes_into_and_searches_milvus_lite(folder, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "helpers", *args, "--data-dir", str(tmp_path)],
                              capture_output=True, text=True)
    uri = f"milvus-lite:{tmp_path}/cli.db"
    made = cli("index", str(folder), "--features", "colour_hist", "--out", uri)
    assert made.returncode == 0 and "indexed 12 images" in made.stdout, made.stderr
    found = cli("search", uri, str(folder / "c0" / "1.png"), "-k", "3")
    assert found.returncode == 0 and found.stdout.splitlines()[0].endswith("c0/1.png")
    bad = cli("index", str(folder), "--features", "colour_hist", "--out", "milvus://nohost/shop")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "milvus://HOST:PORT/NAME" in bad.stderr
