"""Benchmarks of nvflare-fdd against plain NVFlare and this machine's limits (``python -m benchmarks``)."""
