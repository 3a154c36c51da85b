"""Who a test is inside a service container: tor's files (the onion key, ``hostname``,
``ob_config``) are readable by tor's user only, so a test reads them as that user; the
service's secret files belong to the service's user."""

from myonion.build.render import SERVICE_UID, TOR_UID

#: "uid:gid" of tor inside every service container
TOR_USER = f"{TOR_UID}:{TOR_UID}"

__all__ = ["SERVICE_UID", "TOR_UID", "TOR_USER"]
