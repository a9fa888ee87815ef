"""DecathlonDataset (dataset.json layout) and a NIfTI pipeline: load -> pad -> crop -> flip -> noise/blur/gamma -> pack."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _optional import require

from seglab.datasets import DecathlonDataset
from seglab.datasets.transforms.biomedical3d import gaussian_filter
from seglab.registry import DATASETS, TRANSFORMS

LABELS = {"0": "background", "1": "edema", "2": "tumour"}


def write_task(root, nib, n_train: int = 2):  # noqa: ANN001, ANN201
    """A tiny Decathlon task: (X, Y, Z) = (8, 7, 5) volumes whose voxel value encodes (x, y, z)."""
    x, y, z = np.meshgrid(np.arange(8), np.arange(7), np.arange(5), indexing="ij")
    training = []
    for i in range(n_train):
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(parents=True, exist_ok=True)
        image = (100 * x + 10 * y + z + 1000 * i).astype(np.float32)
        label = np.zeros((8, 7, 5), np.uint8)
        label[2:5, 1:4, 1:3] = 1
        label[6, 5, 4] = 2
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "imagesTr" / f"case_{i}.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / "labelsTr" / f"case_{i}.nii"))
        training.append({"image": f"./imagesTr/case_{i}.nii.gz", "label": f"./labelsTr/case_{i}.nii"})
    (root / "dataset.json").write_text(json.dumps({
        "name": "Tiny", "modality": {"0": "T1"}, "labels": LABELS, "numTraining": n_train, "numTest": 1,
        "training": training, "test": ["./imagesTs/case_9.nii.gz"]}))


def test_dataset_json_layout_and_metainfo(tmp_path):
    write_task(tmp_path, require("nibabel"))
    ds = DATASETS.build(dict(type="DecathlonDataset", data_root=str(tmp_path), ann_file="dataset.json"))
    assert len(ds) == 2 and ds.metainfo["classes"] == ["background", "edema", "tumour"]
    assert ds.metainfo["name"] == "Tiny" and ds.metainfo["modality"] == {"0": "T1"}
    info = ds.get_data_info(1)
    assert info["img_path"] == str(tmp_path / "imagesTr/case_1.nii.gz")
    assert info["seg_map_path"] == str(tmp_path / "labelsTr/case_1.nii")
    test = DecathlonDataset(data_root=str(tmp_path), ann_file="dataset.json", test_mode=True)
    assert [test.get_data_info(0)["img_path"]] == [str(tmp_path / "imagesTs/case_9.nii.gz")]
    assert "seg_map_path" not in test.get_data_info(0)


def test_bad_dataset_json_names_the_key(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": LABELS, "test": []}))
    with pytest.raises(KeyError, match="training"):
        DecathlonDataset(data_root=str(tmp_path), ann_file="dataset.json")


def test_loaders_transpose_nifti_xyz_to_zyx(tmp_path):
    write_task(tmp_path, require("nibabel"))
    r = dict(img_path=str(tmp_path / "imagesTr/case_0.nii.gz"), seg_map_path=str(tmp_path / "labelsTr/case_0.nii"))
    r = TRANSFORMS.build(dict(type="LoadBiomedicalImageFromFile"))(r)
    r = TRANSFORMS.build(dict(type="LoadBiomedicalAnnotation"))(r)
    img, seg = r["img"], r["gt_seg_map"]
    assert img.shape == (1, 5, 7, 8) and img.dtype == np.float32 and r["img_shape"] == r["ori_shape"] == (5, 7, 8)
    assert img[0, 3, 2, 6] == 100 * 6 + 10 * 2 + 3  # [z, y, x] holds the voxel (x=6, y=2, z=3)
    assert seg.shape == (5, 7, 8) and seg.dtype == np.float32 and seg[4, 5, 6] == 2 and seg[1, 1, 2] == 1
    xyz = TRANSFORMS.build(dict(type="LoadBiomedicalImageFromFile", to_xyz=True, to_float32=False))(dict(r))
    assert xyz["img"].shape == (1, 8, 7, 5) and xyz["img"].dtype == np.float64


def test_load_biomedical_data_splits_channels_and_labels(tmp_path):
    data = np.stack([np.full((2, 3, 4), 5.0), np.full((2, 3, 4), 6.0), np.arange(24.0).reshape(2, 3, 4)])
    np.save(tmp_path / "case.npy", data)
    r = TRANSFORMS.build(dict(type="LoadBiomedicalData", with_seg=True))(dict(img_path=str(tmp_path / "case.npy")))
    assert r["img"].shape == (2, 2, 3, 4) and r["img"][1].max() == 6 and r["gt_seg_map"].tolist() == data[2].tolist()
    with pytest.raises(ValueError, match="LoadBiomedicalData"):
        np.save(tmp_path / "flat.npy", data[0])
        TRANSFORMS.build(dict(type="LoadBiomedicalData"))(dict(img_path=str(tmp_path / "flat.npy")))


def test_nifti_pipeline_load_pad_crop_flip_intensity_pack(tmp_path):
    write_task(tmp_path, require("nibabel"))
    pipeline = [
        dict(type="LoadBiomedicalImageFromFile"),
        dict(type="LoadBiomedicalAnnotation"),
        dict(type="BioMedical3DPad", pad_shape=(6, 8, 8), pad_val=-1.0, seg_pad_val=0),
        dict(type="BioMedical3DRandomCrop", crop_shape=(4, 4, 4), keep_foreground=True),
        dict(type="BioMedical3DRandomFlip", prob=1.0, axes=(0, 1, 2)),
        dict(type="BioMedicalGaussianNoise", prob=1.0, std=0.0),  # std 0: draws, adds exact zeros
        dict(type="BioMedicalGaussianBlur", prob=1.0, prob_per_channel=1.0, sigma_range=(0.8, 0.8)),
        dict(type="BioMedicalRandomGamma", prob=1.0, gamma_range=(1.0, 1.0)),  # gamma 1: identity up to 1e-7
        dict(type="PackSegInputs", meta_keys=("img_path", "img_shape", "pad_shape")),
    ]
    ds = DecathlonDataset(data_root=str(tmp_path), ann_file="dataset.json", pipeline=pipeline)
    np.random.seed(0)
    item = ds[0]
    inputs, sample = item["inputs"], item["data_samples"]
    assert inputs.shape == (1, 4, 4, 4) and inputs.dtype == torch.float32
    assert sample.gt_sem_seg.data.shape == (4, 4, 4) and sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.pad_shape == (6, 8, 8) and sample.img_shape == (4, 4, 4)

    # The same steps by hand with the same seed: (5, 7, 8) pads to (6, 8, 8) with the extra Z and Y row after.
    np.random.seed(0)
    x, y, z = np.meshgrid(np.arange(8), np.arange(7), np.arange(5), indexing="ij")
    vol = (100 * x + 10 * y + z).astype(np.float32).transpose(2, 1, 0)[None]  # (1, Z, Y, X)
    seg = np.zeros((8, 7, 5), np.float32)
    seg[2:5, 1:4, 1:3] = 1
    seg[6, 5, 4] = 2
    seg = seg.transpose(2, 1, 0)
    vol = np.pad(vol, [(0, 0), (0, 1), (0, 1), (0, 0)], constant_values=-1.0)
    seg = np.pad(seg, [(0, 1), (0, 1), (0, 0)])
    crop = TRANSFORMS.build(dict(type="BioMedical3DRandomCrop", crop_shape=(4, 4, 4)))
    z1, z2, y1, y2, x1, x2 = crop.random_generate_crop_bbox(*crop.generate_margin(dict(img=vol, gt_seg_map=seg)))
    vol, seg = vol[:, z1:z2, y1:y2, x1:x2][:, ::-1, ::-1, ::-1], seg[z1:z2, y1:y2, x1:x2][::-1, ::-1, ::-1]
    np.random.rand(3)  # the flip's three draws
    vol = gaussian_filter(vol[0], 0.8)[None]
    torch.testing.assert_close(inputs, torch.from_numpy(vol.copy()), rtol=1e-5, atol=1e-3)
    assert sample.gt_sem_seg.data.tolist() == seg.astype(np.int64).tolist()
