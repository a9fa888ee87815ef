_base_ = './beit-large_upernet_8xb1-amp-160k_ade20k-640x640.py'
# single-scale test at the dataset's resize (MMSegmentation's '_ms' configs keep one scale here too)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
