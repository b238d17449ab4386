"""Which device a trial or GAN worker computes on, and the rule that a GPU request is never quietly
served by the CPU (a node whose NVIDIA driver does not match torch's CUDA build would otherwise train
on its CPU for hours while the study looks healthy)."""

from __future__ import annotations


def cuda_report() -> tuple[bool, str]:
    """(usable, what torch says) on the node this runs on; run as a Ray task on each GPU node."""
    import torch

    try:
        usable = torch.cuda.is_available() and torch.cuda.device_count() > 0
        if usable:
            torch.cuda.init()
    except Exception as err:   # a driver / runtime mismatch raises here
        return False, f"torch {torch.__version__}: {str(err).splitlines()[0][:200]}"
    cuda = torch.version.cuda or "none (a CPU-only build)"
    return usable, f"torch {torch.__version__}, CUDA build {cuda}, torch.cuda.is_available() = {usable}"


def cuda_or_fail(gpu_ids: list) -> str:
    """"cuda" for a worker Ray gave GPUs (`ray.get_gpu_ids()`) when torch can use them, "cpu" for one
    given none; GPUs without usable CUDA raise RuntimeError naming the node, so the trial is recorded
    as `error` instead of running on the CPU."""
    import torch

    if not gpu_ids:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    import ray

    raise RuntimeError(f"node {ray.util.get_node_ip_address()}: Ray gave this worker GPU(s) {list(gpu_ids)} but "
                       f"torch cannot use CUDA (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
                       "it is not run on the CPU")
