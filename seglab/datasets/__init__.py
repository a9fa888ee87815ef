"""Datasets (MMSeg folder layouts) and their transforms."""
from . import transforms  # noqa: F401 - registers transforms
from .ade import ADE20KDataset
from .basesegdataset import BaseSegDataset
from .camvid import CamVidDataset
from .cityscapes import BDD100KDataset, CityscapesDataset, DarkZurichDataset, NightDrivingDataset
from .coco_stuff import COCOStuffDataset
from .collate import COLLATE_FUNCTIONS, default_collate, pseudo_collate
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .decathlon import DecathlonDataset
from .demo import DemoShapesDataset
from .folder import FolderSegDataset
from .levircd import BaseCDDataset, LEVIRCDDataset  # noqa: F401
from .lip import LIPDataset
from .mapillary import MapillaryDataset_v1, MapillaryDataset_v2
from .medical import ChaseDB1Dataset, DRIVEDataset, HRFDataset, REFUGEDataset, STAREDataset, SynapseDataset
from .multi_image_mix_dataset import MultiImageMixDataset  # noqa: F401
from .nyu import NYUDataset
from .remote_sensing import ISPRSDataset, LoveDADataset, PotsdamDataset, iSAIDDataset
from .voc import PascalContextDataset, PascalContextDataset59, PascalVOCDataset

__all__ = [
    "COLLATE_FUNCTIONS",
    "ADE20KDataset",
    "BDD100KDataset",
    "BaseSegDataset",
    "COCOStuffDataset",
    "CamVidDataset",
    "ChaseDB1Dataset",
    "CityscapesDataset",
    "ConcatDataset",
    "DRIVEDataset",
    "DecathlonDataset",
    "DarkZurichDataset",
    "DemoShapesDataset",
    "FolderSegDataset",
    "HRFDataset",
    "ISPRSDataset",
    "LIPDataset",
    "LoveDADataset",
    "MapillaryDataset_v1",
    "MapillaryDataset_v2",
    "NYUDataset",
    "NightDrivingDataset",
    "PascalContextDataset",
    "PascalContextDataset59",
    "PascalVOCDataset",
    "PotsdamDataset",
    "REFUGEDataset",
    "RepeatDataset",
    "STAREDataset",
    "SynapseDataset",
    "default_collate",
    "iSAIDDataset",
    "pseudo_collate",
]
