"""Path generators behind one interface, ``generate_paths(requests, k)``."""
from recbole_prorl.baselines.base import PathGenerator, PolicyPaths, RandomPaths
from recbole_prorl.baselines.sequential import IPGPaths, SeqRecPaths

__all__ = ["PathGenerator", "PolicyPaths", "RandomPaths", "SeqRecPaths", "IPGPaths"]
