"""Entry module for ``kopf run -m skiplock_operator.main``: registers the handlers into
kopf's default registry. The ``skiplock-operator`` command (``cli.py``) is the usual way in."""

import kopf

from skiplock_operator.handlers import register

register(kopf.get_default_registry())
