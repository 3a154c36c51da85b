"""The facade every surface calls, where it always was: see :mod:`myonion.services.manager`
and the modules it delegates to (docs/ARCHITECTURE.md)."""

from myonion.services.containers import ENTRY_CAPS
from myonion.services.context import container_name, home_label
from myonion.services.manager import Manager
from myonion.services.readiness import DEFAULT_TIMEOUT, CheckResult
from myonion.services.request import check_host_ports, check_limits
from myonion.services.views import Kept, ServiceView

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENTRY_CAPS",
    "CheckResult",
    "Kept",
    "Manager",
    "ServiceView",
    "check_host_ports",
    "check_limits",
    "container_name",
    "home_label",
]
