"""Services: the facade every surface calls (:class:`myonion.services.manager.Manager`) and one
module per job behind it (request, store, containers, hostdirs, readiness, clients, onion_keys,
expiry, views). See docs/ARCHITECTURE.md."""
