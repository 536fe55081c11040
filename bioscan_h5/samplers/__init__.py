"""Samplers: class-balanced, K labels x M samples, positive pairs, and the elastic distributed order.

Each draws, for a seed and epoch (``set_epoch``), the same global epoch on every replica; use
them with a ``DataLoader`` or ``batch_loader``.
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
