"""Tests of the synthetic handwritten-digits generator."""

import pytest
import torch

from runner.data.digits import IMAGE_SIZE, NUM_CLASSES, generate_digits


@pytest.fixture(scope="module")
def train() -> tuple[torch.Tensor, torch.Tensor]:
    return generate_digits(3000, seed=0)


@pytest.fixture(scope="module")
def test() -> tuple[torch.Tensor, torch.Tensor]:
    return generate_digits(1000, seed=1)


def test_shapes_and_dtypes(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = train
    assert images.shape == (3000, IMAGE_SIZE, IMAGE_SIZE)
    assert images.dtype == torch.uint8
    assert labels.shape == (3000,)
    assert labels.dtype == torch.int64
    assert labels.min() >= 0 and labels.max() < NUM_CLASSES


def test_empty_request_gives_empty_tensors() -> None:
    images, labels = generate_digits(0, seed=0)
    assert images.shape == (0, IMAGE_SIZE, IMAGE_SIZE)
    assert labels.shape == (0,)


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        generate_digits(-1, seed=0)


def test_same_seed_gives_identical_data() -> None:
    first_images, first_labels = generate_digits(600, seed=7)
    second_images, second_labels = generate_digits(600, seed=7)
    assert torch.equal(first_images, second_images)
    assert torch.equal(first_labels, second_labels)


def test_different_seeds_give_different_data() -> None:
    images_a, labels_a = generate_digits(600, seed=7)
    images_b, labels_b = generate_digits(600, seed=8)
    assert not torch.equal(labels_a, labels_b)
    assert not torch.equal(images_a, images_b)
    # Not just a reshuffle: the drawings of the same class differ too.
    assert not torch.equal(images_a[labels_a == 3][0], images_b[labels_b == 3][0])


def test_global_random_state_is_left_alone() -> None:
    state = torch.random.get_rng_state()
    generate_digits(50, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())


def test_labels_are_balanced(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, labels = train
    assert torch.bincount(labels, minlength=NUM_CLASSES).tolist() == [300] * NUM_CLASSES
    _, uneven = generate_digits(1005, seed=3)
    counts = torch.bincount(uneven, minlength=NUM_CLASSES)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == 1005


def test_labels_are_shuffled(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, labels = train
    assert not torch.equal(labels, torch.arange(len(labels)) % NUM_CLASSES)


def test_images_are_strokes_on_black_not_noise(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = train
    blank_fraction = (images == 0).float().mean(dim=(1, 2))
    assert blank_fraction.min() > 0.6  # MNIST: about 80% of the pixels are exactly 0
    assert images.amax(dim=(1, 2)).min() == 255  # every digit has full-strength ink
    ink = images.float().sum(dim=(1, 2)) / 255  # in fully inked pixels
    assert ink.min() > 15 and ink.max() < 250 and 60 < ink.mean() < 140
    # Anti-aliased edges: a good share of the inked pixels is grey.
    inked = images > 0
    grey = inked & (images < 255)
    assert 0.3 < grey.sum() / inked.sum() < 0.9


def test_digits_fit_in_the_image_and_are_centred(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = train
    assert images[:, 0].sum() == images[:, -1].sum() == 0
    assert images[:, :, 0].sum() == images[:, :, -1].sum() == 0
    ink = images.float()
    centres = torch.arange(IMAGE_SIZE) + 0.5
    mass = ink.sum(dim=(1, 2))
    row_centre = (ink.sum(dim=2) * centres).sum(dim=1) / mass
    column_centre = (ink.sum(dim=1) * centres).sum(dim=1) / mass
    for centre in (row_centre, column_centre):
        assert (centre - IMAGE_SIZE / 2).abs().max() < 6
        assert (centre.mean() - IMAGE_SIZE / 2).abs() < 1


def test_every_class_looks_different_on_average(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = train
    pixels = images.float().div(255).flatten(1)
    class_means = torch.stack([pixels[labels == digit].mean(0) for digit in range(NUM_CLASSES)])
    distances = torch.cdist(class_means, class_means)
    off_diagonal = distances[~torch.eye(NUM_CLASSES, dtype=torch.bool)]
    # Mean images have a norm of about 5 to 7; the closest two classes are about 2.3 apart.
    assert off_diagonal.min() > 1.2


def test_same_class_drawings_vary(train: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = train
    for digit in range(NUM_CLASSES):
        drawings = images[labels == digit].float().div(255).flatten(1)
        spread = (drawings - drawings.mean(0)).norm(dim=1).mean()
        assert spread > 3, f"all the {digit}s look alike"
        distances = torch.cdist(drawings, drawings) + torch.eye(len(drawings))
        assert distances.min() > 0, f"two {digit}s are pixel-for-pixel the same"


def test_digits_are_learnable(
    train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """A nearest-neighbour classifier on raw pixels, trained on other seeds, beats chance by far."""
    train_images, train_labels = train
    test_images, test_labels = test
    distances = torch.cdist(
        test_images.float().div(255).flatten(1), train_images.float().div(255).flatten(1)
    )
    predictions = train_labels[distances.argmin(dim=1)]
    accuracy = (predictions == test_labels).float().mean().item()
    assert accuracy > 0.8  # about 0.9 measured; chance is 0.1
