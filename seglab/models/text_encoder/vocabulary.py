"""Class names -> prompts: the prompt template sets MMSeg's CLIP text encoder knows, and the class names of
a dataset by the aliases MMSeg's ``get_classes`` accepts (``'coco-stuff164k'``, ``'voc'``, ...).

The class lists are the datasets' own ``METAINFO['classes']``, looked up through the ``DATASETS``
registry (models do not import dataset modules).
"""
from __future__ import annotations

from ...registry import DATASETS, ConfigError

__all__ = ["DATASET_ALIASES", "PROMPT_TEMPLATES", "dataset_class_names", "prompt_templates"]

# 'vild': the 14 prompts of ViLD (Gu et al. 2022); 'imagenet': CLIP's 80 ImageNet prompts.
PROMPT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "vild": (
        "a photo of a {}.", "This is a photo of a {}", "There is a {} in the scene", "There is the {} in the scene",
        "a photo of a {} in the scene", "a photo of a small {}.", "a photo of a medium {}.",
        "a photo of a large {}.", "This is a photo of a small {}.", "This is a photo of a medium {}.",
        "This is a photo of a large {}.", "There is a small {} in the scene.", "There is a medium {} in the scene.",
        "There is a large {} in the scene.",
    ),
    "imagenet": (
        "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
        "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
        "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
        "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
        "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
        "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
        "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
        "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
        "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
        "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
        "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
        "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
        "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
        "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
        "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
        "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
        "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
        "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
        "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
        "a photo of a small {}.", "a tattoo of the {}.",
    ),
}

# Alias (as MMSeg's get_classes accepts it) -> the seglab dataset whose classes it names. LIP is left out:
# MMSeg's get_classes spells its classes differently from its LIPDataset (e.g. leftArm vs Left-arm).
_DATASETS_BY_ALIAS = {
    "CityscapesDataset": ("cityscapes",),
    "ADE20KDataset": ("ade", "ade20k"),
    "PascalVOCDataset": ("voc", "pascal_voc", "voc12", "voc12aug"),
    "PascalContextDataset59": ("pcontext", "pascal_context", "voc2010"),
    "LoveDADataset": ("loveda",),
    "PotsdamDataset": ("potsdam",),
    "ISPRSDataset": ("vaihingen",),
    "COCOStuffDataset": ("cocostuff", "cocostuff10k", "cocostuff164k", "coco-stuff", "coco-stuff10k",
                         "coco-stuff164k", "coco_stuff", "coco_stuff10k", "coco_stuff164k"),
    "iSAIDDataset": ("isaid", "iSAID"),
    "STAREDataset": ("stare", "STARE"),
    "MapillaryDataset_v1": ("mapillary_v1",),
    "MapillaryDataset_v2": ("mapillary_v2",),
    "BDD100KDataset": ("bdd100k",),
}
DATASET_ALIASES: dict[str, str] = {a: ds for ds, aliases in _DATASETS_BY_ALIAS.items() for a in aliases}


def prompt_templates(templates: str | list[str] | tuple[str, ...]) -> list[str]:
    """A template set by name ('vild', 'imagenet') or the given list; every template has one '{}'."""
    if isinstance(templates, str):
        if templates not in PROMPT_TEMPLATES:
            raise ConfigError(f"text_encoder.templates: unknown template set {templates!r}; known: "
                              f"{', '.join(PROMPT_TEMPLATES)}, or give a list of strings with '{{}}'")
        return list(PROMPT_TEMPLATES[templates])
    out = list(templates)
    bad = [t for t in out if not isinstance(t, str) or t.count("{}") != 1]
    if not out or bad:
        raise ConfigError(f"text_encoder.templates: each template needs exactly one '{{}}' for the class name; "
                          f"got {bad or out}")
    return out


def dataset_class_names(dataset_name: str) -> list[str]:
    """The class names of the dataset that ``dataset_name`` (an MMSeg alias) names, in label order."""
    if dataset_name not in DATASET_ALIASES:
        raise ConfigError(f"text_encoder.dataset_name: unknown dataset {dataset_name!r}; known aliases: "
                          f"{', '.join(DATASET_ALIASES)} (or give the class names as vocabulary=[...])")
    return list(DATASETS.get(DATASET_ALIASES[dataset_name]).METAINFO["classes"])
