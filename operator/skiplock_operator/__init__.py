"""The skiplock Kubernetes operator: scales a TaskQueue's workers from queue depth and
applies its tenants' settings through the engine's admin API.

The package is deliberately not named ``operator``, which would shadow the standard
library module of that name.
"""

__version__ = "0.1.0"
