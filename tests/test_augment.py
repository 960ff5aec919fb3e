"""The documents' augmentation policies and document 000's fixed oversampling variants."""
import pytest
import torch
from torchvision.transforms import v2

from cxrlib.images.augment import (
    POLICIES,
    STEP_BUILDERS,
    IMAGE_VARIANTS,
    apply_variant,
    build_augmentation,
    get_policy,
)
from cxrlib.images.sampling import D000_OVERSAMPLE_VARIANTS


def _image(size=32):
    torch.manual_seed(0)
    return torch.randint(0, 256, (1, size, size), dtype=torch.uint8)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policies_keep_shape_and_dtype(name):
    transform = build_augmentation(name)
    if name == "none":
        assert transform is None
        return
    out = transform(_image())
    assert out.shape == (1, 32, 32) and out.dtype == torch.uint8


def test_policies_are_the_documents_lists():
    d000 = build_augmentation("d000").transforms
    assert isinstance(d000[0], v2.RandomHorizontalFlip) and d000[0].p == 0.5
    assert isinstance(d000[1], v2.RandomRotation) and list(d000[1].degrees) == [-60.0, 60.0]
    d001 = build_augmentation("d001").transforms
    assert isinstance(d001[0], v2.RandomRotation) and list(d001[0].degrees) == [0.0, 8.0]
    assert isinstance(d001[1], v2.RandomHorizontalFlip)
    d004 = build_augmentation("d004").transforms
    assert isinstance(d004[0], v2.RandomAffine)
    assert list(d004[0].degrees) == [-15.0, 15.0]
    assert tuple(d004[0].translate) == (0.05, 0.05) and tuple(d004[0].scale) == (0.95, 1.05)
    assert isinstance(d004[1], v2.RandomHorizontalFlip)
    assert get_policy("d004").preprocess == "d004"  # padding and resize are the cached pipeline's job
    for policy in POLICIES.values():
        assert policy.reference and all(step.name in STEP_BUILDERS for step in policy.steps)


def test_augmentation_follows_the_seed():
    transform = build_augmentation("d004")
    torch.manual_seed(3)
    a = transform(_image())
    torch.manual_seed(3)
    b = transform(_image())
    assert torch.equal(a, b)


def test_rotation_fills_black_and_stays_within_range():
    white = torch.full((1, 33, 33), 255, dtype=torch.uint8)
    torch.manual_seed(0)
    out = build_augmentation("d000")(white)
    assert out[0, 16, 16] == 255  # the centre stays
    # d001 rotates by at most 8 degrees: corners of a 33 px square move by < 3 px, so the
    # centre 25x25 stays white whatever the angle
    torch.manual_seed(1)
    small = build_augmentation("d001")(white)
    assert (small[0, 4:29, 4:29] == 255).all()


def test_fixed_variants():
    image = _image()
    assert set(D000_OVERSAMPLE_VARIANTS) <= set(IMAGE_VARIANTS) and len(D000_OVERSAMPLE_VARIANTS) == 6
    assert apply_variant(image, "original") is image and apply_variant(image, None) is image
    assert torch.equal(apply_variant(image, "hflip"), torch.flip(image, dims=[-1]))
    white = torch.full((1, 32, 32), 255, dtype=torch.uint8)
    for name in ("rotate_-40", "rotate_-20", "rotate_20", "rotate_40"):
        rotated = apply_variant(white, name)
        assert rotated[0, 0, 0] == 0 and rotated[0, 16, 16] == 255  # corner uncovered, centre kept
    # opposite angles mirror each other
    left, right = apply_variant(image, "rotate_-20"), apply_variant(image, "rotate_20")
    assert not torch.equal(left, right)
    with pytest.raises(KeyError):
        apply_variant(image, "rotate_90")


def test_unknown_policy():
    with pytest.raises(KeyError, match="known"):
        build_augmentation("simclr")
