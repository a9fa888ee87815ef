_base_ = [
    '../_base_/models/segmenter_vit-b16_mask.py',
    '../_base_/datasets/ade20k.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)

# SGD (from the 160k schedule) with lr 0.001 and no weight decay; poly decay
optimizer = dict(lr=0.001, weight_decay=0.0)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
# 8 GPUs x 1 image per GPU
train_dataloader = dict(batch_size=1)
val_dataloader = dict(batch_size=1)
