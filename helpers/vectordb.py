"""A vector database behind the same ``index`` and ``search`` commands: Milvus, embedded or as a service.

``milvus-lite:PATH.db`` is Milvus Lite, a local file and no server (``pip install -e ".[scale]"``);
``milvus://HOST:PORT/NAME`` is collection NAME on a Milvus server or cluster. Both speak the same
``MilvusClient`` API, so a notebook's code moves to a service by changing one string. Vectors are stored
L2-normalised in an exact (FLAT) cosine collection, with each image's path; the extractor's spec is kept in the
companion collection ``<NAME>_meta`` (one row), so a search with other features is refused as for ``.npz`` files.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from helpers import __version__
from helpers.env import KitError

LITE, SERVER = "milvus-lite:", "milvus://"
DEFAULT_COLLECTION = "cbir"
CHUNK = 1000                       # rows per insert call


def is_milvus(target) -> bool:
    """Whether ``target`` (an --out or index argument) names a Milvus collection rather than a file.

    Plumbing: not taught in a notebook.
    """
    return str(target).startswith((LITE, SERVER))


def parse_uri(uri: str) -> tuple[str, str]:
    """(what ``MilvusClient`` connects to, collection name) for ``milvus-lite:PATH.db`` or ``milvus://HOST:PORT/NAME``.

    Plumbing: not taught in a notebook.
    """
    if uri.startswith(LITE):
        path = uri[len(LITE):]
        if not path.endswith(".db") or Path(path).name == ".db":
            raise KitError(f"a Milvus Lite index is a file ending in .db: milvus-lite:PATH.db, got {uri!r}")
        return str(Path(path).resolve()), DEFAULT_COLLECTION
    m = re.fullmatch(r"milvus://([A-Za-z0-9.\-]+):(\d{1,5})/([A-Za-z_][A-Za-z0-9_]*)", uri)
    if not m:
        raise KitError(f"a Milvus server index is milvus://HOST:PORT/NAME (NAME: letters, digits, _), got {uri!r}")
    return f"http://{m[1]}:{m[2]}", m[3]


def _client(uri: str, create: bool = False):
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise KitError('Milvus indexes need the scale extra: pip install -e ".[scale]" (pymilvus, milvus-lite)') from None
    target, name = parse_uri(uri)
    if uri.startswith(LITE) and not create and not Path(target).exists():
        raise KitError(f"no Milvus Lite file {target} (make one with: python -m helpers index FOLDER "
                       f"--features NAME --out {uri})")
    if uri.startswith(LITE):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(uri=target, timeout=10), name
    except Exception as err:          # pymilvus raises its own types, or OSError/grpc errors for a missing server
        raise KitError(f"cannot connect to Milvus at {target} ({str(err).splitlines()[0][:120]}): "
                       "is the server running and the address right?") from None


def save_milvus(uri: str, X, paths, spec: dict) -> str:
    """Write vectors (n, d), their image paths and the extractor's spec into the collection ``uri`` (replaced).

    ``X`` may also be an iterable of (vectors (n_i, d), their paths) chunks, with ``paths=None``: each chunk is
    inserted as it comes, so memory does not grow with the folder.
    Plumbing: not taught in a notebook.
    """
    from pymilvus import DataType
    from helpers.retrieval import l2_normalise
    if isinstance(X, np.ndarray):
        if len(paths) != len(X):
            raise KitError(f"{len(X)} vectors but {len(paths)} paths")
        vectors, where = X, paths
        X = [(vectors[i:i + CHUNK], where[i:i + CHUNK]) for i in range(0, len(vectors), CHUNK)]
    chunks = iter(X)
    first = next(chunks, None)
    if first is None:
        raise KitError("no vectors to store")
    client, name = _client(uri, create=True)
    for old in (name, f"{name}_meta"):
        if client.has_collection(old):
            client.drop_collection(old)
    meta = client.create_schema(auto_id=False)                 # one row: what made the vectors
    meta.add_field("id", DataType.INT64, is_primary=True)
    meta.add_field("vector", DataType.FLOAT_VECTOR, dim=2)     # Milvus needs a vector field in every collection
    meta.add_field("meta", DataType.VARCHAR, max_length=65535)
    meta_index = client.prepare_index_params()
    meta_index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(f"{name}_meta", schema=meta, index_params=meta_index)
    client.insert(f"{name}_meta", [{"id": 0, "vector": [0.0, 0.0], "meta": json.dumps(
        {"kit_version": __version__, "feature_name": spec["name"], "spec": spec}, sort_keys=True)}])
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(first[0].shape[1]))
    schema.add_field("path", DataType.VARCHAR, max_length=4096)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE")   # exact, like the .npz
    client.create_collection(name, schema=schema, index_params=index)
    rows, n_rows = [], 0
    for vectors, where in _chain(first, chunks):              # rows buffered up to CHUNK per insert call
        Xn = l2_normalise(np.asarray(vectors, np.float32))
        rows += [{"id": n_rows + len(rows) + i, "vector": v.tolist(), "path": str(p)}
                 for i, (v, p) in enumerate(zip(Xn, where))]
        if len(rows) >= CHUNK:
            client.insert(name, rows)
            n_rows, rows = n_rows + len(rows), []
    if rows:
        client.insert(name, rows)
    for done in (name, f"{name}_meta"):
        client.flush(done)
    client.close()
    return uri


def _chain(first, rest):
    yield first
    yield from rest


def load_milvus(uri: str) -> tuple:
    """(client, collection name, meta) where meta has feature_name and spec, as an .npz index has.

    Plumbing: not taught in a notebook.
    """
    client, name = _client(uri)
    try:
        if not client.has_collection(name):
            raise KitError(f"{uri} has no collection {name!r}: make it with python -m helpers index FOLDER "
                           f"--features NAME --out {uri}")
        client.load_collection(f"{name}_meta")
        meta = json.loads(client.query(f"{name}_meta", filter="id == 0", output_fields=["meta"])[0]["meta"])
        meta["spec"], meta["feature_name"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise KitError(f"collection {name!r} at {uri} was not made by this kit (no extractor spec): rebuild it") from None
    except Exception as err:          # pymilvus's own errors: a missing meta collection, a server gone away
        raise KitError(f"cannot read collection {name!r} at {uri} ({str(err).splitlines()[0][:120]}): "
                       "rebuild it with python -m helpers index") from None
    client.load_collection(name)
    return client, name, meta


def search_milvus(client, name: str, queries: np.ndarray, k: int = 10):
    """Cosine top-k in a collection: (scores (n_query, k'), paths: one list per query), best first.

    Plumbing: not taught in a notebook.
    """
    from helpers.retrieval import l2_normalise
    Q = l2_normalise(np.asarray(queries, np.float32))
    hits = client.search(name, data=Q.tolist(), limit=int(k), output_fields=["path"],
                         search_params={"metric_type": "COSINE"})
    scores = np.array([[h["distance"] for h in row] for row in hits], dtype=np.float32)
    return scores, [[h["entity"]["path"] for h in row] for row in hits]
