"""One training recipe per Custom Vision domain.

A recipe picks the backbone (torchvision's when its weights are cached, else the bundled
EfficientNet-Lite), the views used for quick training, augmentation and hyper-parameters.
What the domains need: Landmarks keep their orientation (text, asymmetry), so no flips; Retail
keeps its colours (colour is the product), so no colour jitter; compact domains use small,
exportable mobile backbones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    domain: str
    torchvision: tuple[str, ...]
    bundled: str
    flips: bool = True
    color_jitter: float = 0.3
    rotation: float = 10.0
    # Frozen-feature views per image for quick training; prediction averages the test views.
    train_views: tuple[str, ...] = ("center", "flip")
    test_views: tuple[str, ...] = ("center", "flip")
    head_weight_decay: float = 1e-3
    head_steps: int = 150
    # Advanced training. On a GPU every stage trains (0 = all); on a CPU only the top ones:
    # a full fine-tune of Lite0 runs ~10 images/s on two cores against ~30 for the top four
    # stages, too slow to reach a useful number of epochs in an ordinary budget.
    unfreeze_stages: int = 0
    cpu_unfreeze_stages: int = 4
    lr_head: float = 2e-3
    lr_body: float = 2e-4
    weight_decay: float = 1e-4
    batch_size: int = 32  # on a CPU; learning rates are set for this size
    gpu_batch_size: int = 128
    # Epochs per fine-tune: fewer folds are estimated rather than fewer than `good_epochs`
    # (on an H100, grocery-store fine-tunes reached 0.79 top-1 after ~40 epochs and 0.82
    # after ~80); under `min_epochs` fine-tuning can't beat the frozen features, so Quick's
    # model is kept.
    min_epochs: int = 5
    good_epochs: int = 60
    max_epochs: int = 80


NO_FLIP_TRAIN = ("center", "zoom")


def _landmarks(domain: str, torchvision: tuple[str, ...]) -> Recipe:
    """Landmarks keep their orientation: never mirrored, in training or in prediction."""
    return Recipe(
        domain,
        torchvision,
        "efficientnet_lite0",
        rotation=5.0,
        flips=False,
        train_views=NO_FLIP_TRAIN,
        test_views=("center",),
    )


RECIPES: dict[str, Recipe] = {
    r.domain: r
    for r in (
        Recipe("General", ("efficientnet_b0",), "efficientnet_lite0"),
        Recipe(
            "General [A1]",
            ("efficientnet_v2_s", "efficientnet_b2"),
            "efficientnet_lite2",
        ),
        Recipe("General [A2]", ("efficientnet_b2", "efficientnet_b0"), "efficientnet_lite0"),
        Recipe("Food", ("efficientnet_b0",), "efficientnet_lite0", rotation=20.0),
        _landmarks("Landmarks", ("efficientnet_b0",)),
        Recipe("Retail", ("efficientnet_b0",), "efficientnet_lite0", color_jitter=0.0),
        Recipe("General (compact)", ("mobilenet_v3_large",), "efficientnet_lite0"),
        Recipe("General (compact) [S1]", ("mobilenet_v3_large",), "efficientnet_lite0"),
        Recipe("Food (compact)", ("mobilenet_v3_large",), "efficientnet_lite0", rotation=20.0),
        _landmarks("Landmarks (compact)", ("mobilenet_v3_large",)),
        Recipe("Retail (compact)", ("mobilenet_v3_large",), "efficientnet_lite0", color_jitter=0.0),
    )
}


def recipe_for(domain_name: str) -> Recipe:
    return RECIPES[domain_name]


# --- Object detection -------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionRecipe:
    """How a detection domain trains: the trunk, the square it sees, and its grid head.

    The photo is stretched to `image_size` square (as Microsoft's export samples feed an
    exported detector: no aspect kept), the trunk's stride-32 map is the grid (416 → 13 × 13)
    and the head predicts Azure's five anchors per cell.
    """

    domain: str
    torchvision: tuple[str, ...]
    bundled: str
    image_size: int = 416
    export_form: str = "grid"  # "grid": the raw grid out; "s1": boxes, classes, scores out
    flips: bool = True
    color_jitter: float = 0.3
    # The head's width and schedule. Measured on bench/detect.py's 120 photos: width 64 and 40
    # epochs score as width 96 and 60 (held-out mAP@0.5 0.90 both) for less than half the work.
    hidden: int = 64
    epochs: int = 40  # over the cached maps of the photos and their mirrors
    max_steps: int = 400  # at most, per head (a 1,000-photo set trains ~6 epochs)
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4
    # Advanced: fine-tuning the trunk's top stages with the head, on augmented photos.
    unfreeze_stages: int = 0  # on a GPU; 0 = every stage
    cpu_unfreeze_stages: int = 4
    lr_body: float = 2e-4
    max_epochs: int = 60
    min_epochs: int = 5


# torchvision's COCO detectors lend their trunks when their weights are in the hub cache
# (`fetchweights`): trunks trained to locate objects. Else the domain's ImageNet trunk.
COCO_MOBILE = "fasterrcnn_mobilenet_v3_large_fpn"
COCO_RESNET = "fasterrcnn_resnet50_fpn_v2"

DETECTION_RECIPES: dict[str, DetectionRecipe] = {
    r.domain: r
    for r in (
        DetectionRecipe("General", (COCO_MOBILE, "efficientnet_b0"), "efficientnet_lite0"),
        DetectionRecipe(
            "General [A1]",
            (COCO_RESNET, "efficientnet_b2"),
            "efficientnet_lite2",
            image_size=512,
            hidden=96,
        ),
        # Logos carry text: a mirrored logo is another logo.
        DetectionRecipe(
            "Logo", (COCO_MOBILE, "efficientnet_b0"), "efficientnet_lite0", flips=False
        ),
        # Small objects packed together: a finer grid (16 × 16); colour tells products apart.
        DetectionRecipe(
            "Products on Shelves",
            (COCO_MOBILE, "efficientnet_b0"),
            "efficientnet_lite0",
            image_size=512,
            color_jitter=0.0,
        ),
        DetectionRecipe(
            "General (compact)", (COCO_MOBILE, "mobilenet_v3_large"), "efficientnet_lite0"
        ),
        DetectionRecipe(
            "General (compact) [S1]",
            (COCO_MOBILE, "mobilenet_v3_large"),
            "efficientnet_lite0",
            export_form="s1",
        ),
    )
}


def detection_recipe_for(domain_name: str) -> DetectionRecipe:
    return DETECTION_RECIPES[domain_name]
