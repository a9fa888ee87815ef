_base_ = [
    '../_base_/models/segmenter_vit-b16_mask.py',
    '../_base_/datasets/ade20k_640x640.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_160k.py'
]
crop_size = (640, 640)
data_preprocessor = dict(size=crop_size)
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segmenter/vit_large_p16_384_20220308-d4efb41d.pth'  # noqa
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=checkpoint,
    backbone=dict(type='VisionTransformer', img_size=(640, 640), embed_dims=1024, num_layers=24, num_heads=16),
    decode_head=dict(
        type='SegmenterMaskTransformerHead', in_channels=1024, channels=1024, num_heads=16, embed_dims=1024),
    test_cfg=dict(mode='slide', crop_size=(640, 640), stride=(608, 608)))

# SGD (from the 160k schedule) with lr 0.001 and no weight decay; poly decay
optimizer = dict(lr=0.001, weight_decay=0.0)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
# 8 GPUs x 1 image per GPU
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
