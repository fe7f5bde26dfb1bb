from .rc_step_sampler import RCStepSamplerHook

__all__ = ['RCStepSamplerHook']
