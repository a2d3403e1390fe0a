"""Spatial Transformer Networks (Jaderberg et al., 2015, arXiv 1506.02025).

A localisation net regresses the six numbers of an affine transform θ from the image; a grid
generator (``affine_grid``) and a bilinear sampler (``grid_sample``) warp the image with θ; a
small CNN classifies the warped image. The whole thing trains end to end on the class labels
alone: the transformer learns to undo geometric distortions because that helps the classifier.

The layer sizes are those of the PyTorch STN tutorial; the flattened sizes follow the image
size, so the same model takes 28×28 digits or 42×42 canvases.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from experiments.base import Batch, flat_size, image_grid
from experiments.checks import check_positive
from experiments.classifier import Classifier


class SpatialTransformer(nn.Module):
    """Localisation net → affine θ → sampled output of the same size as the input."""

    def __init__(self, in_channels: int, image_size: int) -> None:
        super().__init__()
        self.localisation = nn.Sequential(
            nn.Conv2d(in_channels, 8, kernel_size=7),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(),
            nn.Conv2d(8, 10, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        features = flat_size(self.localisation, (in_channels, image_size, image_size))
        self.regressor = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 6))
        # Start at the identity transform, as in the paper: the classifier first sees the
        # images as they are, and the transformer moves away from them only when that helps.
        last = self.regressor[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: Tensor) -> Tensor:
        """The affine transform for each image, shape [B, 2, 3]."""
        return self.regressor(self.localisation(x)).view(-1, 2, 3)

    def forward(self, x: Tensor) -> Tensor:
        grid = F.affine_grid(self.theta(x), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", align_corners=False)


class TutorialCNN(nn.Module):
    """Two conv layers and two linear layers, with dropout: the STN tutorial's classifier."""

    def __init__(self, in_channels: int, image_size: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 10, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, kernel_size=5),
            nn.Dropout2d(),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        features = flat_size(self.features, (in_channels, image_size, image_size))
        self.head = nn.Sequential(
            nn.Linear(features, 50), nn.ReLU(), nn.Dropout(), nn.Linear(50, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class FCN(nn.Module):
    """A fully connected classifier: the FCN baseline of the paper's Table 1.

    The paper's layer sizes are not in our notes: two hidden layers of 256 ReLU units with
    dropout (270k parameters for 28×28 inputs, 470k for the 42×42 canvas).
    """

    def __init__(
        self, in_channels: int, image_size: int, num_classes: int, hidden: int = 256
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


CLASSIFIERS = {"cnn": TutorialCNN, "fcn": FCN}


class STNClassifier(Classifier):
    """An image classifier (CNN or FCN) with an optional spatial transformer in front of it.

    ``use_stn=False`` gives the same classifier without the transformer: the baselines of the
    paper's comparison (``classifier=fcn``: FCN and ST-FCN; ``cnn``: CNN and ST-CNN). Both
    transformers use the same convolutional localisation net.
    """

    paper = "stn"

    def __init__(
        self,
        use_stn: bool = True,
        classifier: str = "cnn",
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, image_size=image_size)
        if num_classes < 2:
            raise ValueError(f"model.num_classes must be at least 2, got {num_classes}")
        if classifier not in CLASSIFIERS:
            raise ValueError(
                f"model.classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}"
            )
        self.transformer = SpatialTransformer(in_channels, image_size) if use_stn else None
        self.classifier = CLASSIFIERS[classifier](in_channels, image_size, num_classes)

    def transform(self, x: Tensor) -> Tensor:
        """The images as the classifier sees them (unchanged without a transformer)."""
        return x if self.transformer is None else self.transformer(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.transform(x))

    def figures(self, batch: Batch) -> dict[str, Tensor]:
        """Inputs (left) beside what the transformer made of them (right)."""

        if self.transformer is None:
            return {}
        images = batch[0][:32]
        with torch.no_grad():
            transformed = self.transform(images)
        before = image_grid(images, per_row=8, padding=2, pad_value=0.5)
        after = image_grid(transformed.clamp(0, 1), per_row=8, padding=2, pad_value=0.5)
        gap = torch.full((before.shape[0], before.shape[1], 8), 1.0)
        return {"stn": torch.cat([before.cpu(), gap, after.cpu()], dim=2)}
