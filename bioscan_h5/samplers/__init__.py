"""Samplers: the order of the samples, dealt out to the ranks of a distributed job."""

from .elastic import ElasticDistributedSampler

__all__ = ["ElasticDistributedSampler"]
