# FCN with a dilated ResNetV1c-18 (output stride 8) on CamVid (11 classes), 352x480 crops, 20k iterations.
# "4xb4": 4 GPUs x 4 images; on one GPU or CPU it trains with 4 images per iteration.
# Trained from scratch by default (no download); to start from ImageNet weights set
# model.pretrained='open-mmlab://resnet18_v1c' (downloaded on first use).
_base_ = [
    '../_base_/models/fcn_r50-d8.py', '../_base_/datasets/camvid.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_20k.py'
]
crop_size = (352, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18),
    decode_head=dict(in_channels=512, channels=128, num_classes=11),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=11))
train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000, save_best='mIoU'))
