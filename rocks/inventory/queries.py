"""Every inventory query in one namespace: `from rocks.inventory import queries as q`.

Each function takes a Session from `Inventory.transaction()` and returns `rocks.model.inventory`
values, never ORM rows. The implementations live in one module per noun.
"""

from rocks.inventory.attrs import (
    list_attrs,
    remove_attr,
    resolve_appliance_attrs,
    resolve_attrs,
    resolve_attrs_many,
    set_attr,
)
from rocks.inventory.bulk import add_hosts_bulk
from rocks.inventory.catalog import (
    DEFAULT_BOOT_ACTIONS,
    add_appliance,
    add_bootaction,
    add_roll,
    get_appliance,
    get_bootaction,
    has_appliances,
    list_appliances,
    list_bootactions,
    list_rolls,
    remove_appliance,
    remove_bootaction,
    remove_roll,
    seed_defaults,
    update_rolls,
)
from rocks.inventory.events import add_event, get_profile, list_events, set_profile
from rocks.inventory.hosts import (
    add_host,
    add_interface,
    find_host,
    get_host,
    list_hosts,
    list_interfaces,
    next_rank,
    remove_host,
    remove_interface,
    update_host,
)
from rocks.inventory.networks import (
    add_network,
    get_network,
    list_networks,
    next_ip,
    remove_network,
    update_network,
)

__all__ = [
    "DEFAULT_BOOT_ACTIONS",
    "add_appliance",
    "add_bootaction",
    "add_event",
    "add_host",
    "add_hosts_bulk",
    "add_interface",
    "add_network",
    "add_roll",
    "find_host",
    "get_appliance",
    "get_bootaction",
    "get_host",
    "get_network",
    "get_profile",
    "has_appliances",
    "list_appliances",
    "list_attrs",
    "list_bootactions",
    "list_events",
    "list_hosts",
    "list_interfaces",
    "list_networks",
    "list_rolls",
    "next_ip",
    "next_rank",
    "remove_appliance",
    "remove_attr",
    "remove_bootaction",
    "remove_host",
    "remove_interface",
    "remove_network",
    "remove_roll",
    "resolve_appliance_attrs",
    "resolve_attrs",
    "resolve_attrs_many",
    "seed_defaults",
    "set_attr",
    "set_profile",
    "update_host",
    "update_network",
    "update_rolls",
]
