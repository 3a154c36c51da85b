"""A deployment written for somewhere else: a Compose file (:mod:`.compose`), a Swarm stack
(:mod:`.swarm`), a systemd unit (:mod:`.systemd`) and an offline bundle of its images and file
(:mod:`.bundle`, reading image archives with :mod:`.imagearchive`)."""
