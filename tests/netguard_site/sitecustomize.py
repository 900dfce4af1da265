"""Installs tests.netguard in a subprocess when SLMDECK_NETGUARD_LOG is set (air-gap tests)."""

import os
import sys

_log = os.environ.get("SLMDECK_NETGUARD_LOG")
if _log:
    sys.path.insert(0, os.environ["SLMDECK_NETGUARD_REPO"])
    from tests import netguard

    netguard.install(_log)
