# Runtime settings shared by every config (MMSegmentation 1.x values).
default_scope = 'mmseg'  # kept so MMSeg configs read the same; seglab has a single scope
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None  # a checkpoint to initialise from
resume = False  # resume from the latest checkpoint in work_dir

tta_model = dict(type='SegTTAModel')
