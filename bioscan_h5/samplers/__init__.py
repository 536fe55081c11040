"""Samplers: class-balanced, K labels x M samples, positive pairs, and the elastic distributed order.

Each is deterministic for a seed and draws the same global epoch on every replica
(``set_epoch``), usable as ``sampler=`` / ``batch_sampler=`` of a ``DataLoader`` and by
``batch_loader``.
"""

from .balanced import BalancedSampler, DistributedBalancedSampler
from .elastic import ElasticDistributedSampler
from .kxm import DistributedKClassMSampler, KClassMSampler
from .positives import DistributedPositivePairSampler, PositivePairSampler, draw_positives

__all__ = [
    "BalancedSampler",
    "DistributedBalancedSampler",
    "DistributedKClassMSampler",
    "DistributedPositivePairSampler",
    "ElasticDistributedSampler",
    "KClassMSampler",
    "PositivePairSampler",
    "draw_positives",
]
