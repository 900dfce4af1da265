"""The fleet: every host's backends, loaded models and load, read from what the hosts already run
(their servers' APIs and ``/metrics``, node_exporter, GPU exporters, or an existing Prometheus).

No agent of ours runs anywhere, and nothing here imports Textual.
"""

from __future__ import annotations

from tui.fleet.hosts import (
    LOCAL,
    FleetSettings,
    Host,
    OpenAIServer,
    ReadOnlyError,
    ReadOnlyPolicy,
    check_mutation,
    hosts_from_toml,
    local_host,
)
from tui.fleet.model import BackendView, Figure, HostView, LoadedModel

__all__ = [
    "LOCAL",
    "BackendView",
    "Figure",
    "FleetSettings",
    "Host",
    "HostView",
    "LoadedModel",
    "OpenAIServer",
    "ReadOnlyError",
    "ReadOnlyPolicy",
    "check_mutation",
    "hosts_from_toml",
    "local_host",
]
