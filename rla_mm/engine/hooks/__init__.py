from .checkpoint_hook import AtomicCheckpointHook
from .rc_step_sampler import RCStepSamplerHook
from .train_data_check import TrainDataCheckHook

__all__ = ['AtomicCheckpointHook', 'RCStepSamplerHook', 'TrainDataCheckHook']
