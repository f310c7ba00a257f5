"""Host arguments (names, appliances, rackN, globs, IP/MAC/FQDN): the expansion lives in the
inventory (rocks.inventory.hostargs), shared with the frontend's write API."""

from rocks.inventory.hostargs import expand_hosts

__all__ = ["expand_hosts"]
