"""Helpers shared by the multi-process (gloo) tests."""

import gc

import torch.distributed as dist


def quiesce() -> None:
    """Drop DDP wrappers and wait for every rank before the process group is destroyed.

    A DistributedDataParallel reducer freed after ``destroy_process_group`` (at interpreter exit)
    can abort the process; collecting garbage and a barrier make the teardown orderly.
    """
    gc.collect()
    dist.barrier()
