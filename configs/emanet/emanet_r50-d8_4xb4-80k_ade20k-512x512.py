# MMSeg ships EMANet for Cityscapes only; this ADE20K variant uses the same head with 150 classes
# and the usual ADE20K 80k recipe (no reported number to compare against yet).
_base_ = [
    '../_base_/models/emanet_r50-d8.py', '../_base_/datasets/ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))
