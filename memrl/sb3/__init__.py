"""Stable-Baselines3 integration: memory policies, MemoryPPO, the window extractor."""

from memrl.sb3.buffer import SequenceBatch, SequenceRolloutBuffer
from memrl.sb3.callbacks import GumbelTemperatureCallback
from memrl.sb3.encoders import DictEncoder, SmallImageCNN, default_encoder_class
from memrl.sb3.policy import (
    ActorCriticState,
    CnnMemoryPolicy,
    MemoryActorCriticPolicy,
    MemoryExtractor,
    MlpMemoryPolicy,
    MultiInputMemoryPolicy,
)
from memrl.sb3.ppo import MemoryPPO
from memrl.sb3.rollout import RolloutStep
from memrl.sb3.window import WindowMemoryExtractor

__all__ = [
    "ActorCriticState",
    "CnnMemoryPolicy",
    "DictEncoder",
    "GumbelTemperatureCallback",
    "MemoryActorCriticPolicy",
    "MemoryExtractor",
    "MemoryPPO",
    "MlpMemoryPolicy",
    "MultiInputMemoryPolicy",
    "RolloutStep",
    "SequenceBatch",
    "SequenceRolloutBuffer",
    "SmallImageCNN",
    "WindowMemoryExtractor",
    "default_encoder_class",
]
