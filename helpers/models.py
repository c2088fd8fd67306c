"""The networks the course trains: the small CNN of 02 and the convolutional autoencoder of 03.

Each stores ``hparams`` (the keyword arguments that rebuild it), so ``helpers.store`` can save a trained one by
name and load it back. Pretrained backbones are in ``helpers.backbones``.
"""
from __future__ import annotations

import torch.nn as nn


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
