"""The command table: every `rocks` command, the module that declares it, and its summary.

Adding a command is one line here. Nothing is imported from this table until a command runs, so
`rocks` starts fast and a broken command module fails loudly only when used (never guessed at).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    attr: str
    summary: str


CommandTable = dict[tuple[str, ...], Entry]

# (verb, noun, ...) -> where its `Command` is declared.  Keep sorted by name.
_APP = "rocks.commands.appliance"
_ATTR = "rocks.commands.attr"
_BOOT = "rocks.commands.bootaction"
_GRAPH = "rocks.commands.graph"
_HOST = "rocks.commands.host"
_LOAD = "rocks.commands.load"
_NET = "rocks.commands.network"
_PROF = "rocks.commands.profile"
_ROLL = "rocks.commands.roll"
_RUN = "rocks.commands.run"

COMMANDS: CommandTable = {
    ("add", "appliance"): Entry(
        _APP, "add_appliance", "Add an appliance: a name and its root node"
    ),
    ("add", "appliance", "attr"): Entry(
        _ATTR, "add_appliance_attr", "Add an appliance attribute"
    ),
    ("add", "attr"): Entry(
        _ATTR, "add_attr", "Add a global attribute"
    ),
    ("add", "bootaction"): Entry(
        _BOOT, "add_bootaction", "Add a boot action (kernel, initrd, args)"
    ),
    ("add", "host"): Entry(
        _HOST, "add_host", "Add a host"
    ),
    ("add", "host", "attr"): Entry(
        _ATTR, "add_host_attr", "Add a host attribute"
    ),
    ("add", "host", "interface"): Entry(
        _HOST, "add_host_interface", "Add a network interface to a host"
    ),
    ("add", "network"): Entry(
        _NET, "add_network", "Add a network"
    ),
    ("add", "os", "attr"): Entry(
        _ATTR, "add_os_attr", "Add an os attribute"
    ),
    ("add", "rack", "attr"): Entry(
        _ATTR, "add_rack_attr", "Add a rack attribute (the hosts of a rack number)"
    ),
    ("add", "roll"): Entry(
        _ROLL, "add_roll", "Add rolls (ISO, tarball, directory, OS DVD) to the store"
    ),
    ("check", "appliance"): Entry(
        _ROLL, "check_appliance", "Depsolve an appliance's packages against the distribution"
    ),
    ("check", "graph"): Entry(
        _GRAPH, "check_graph", "Check the merged graph: every problem, located"
    ),
    ("check", "host", "packages"): Entry(
        _ROLL, "check_host_packages", "Depsolve hosts' packages against the distribution"
    ),
    ("create", "distro"): Entry(
        _ROLL, "create_distro", "Build the package repository from enabled rolls"
    ),
    ("create", "frontend", "token"): Entry(
        "rocks.commands.frontend", "create_frontend_token",
        "Make a new admin or read-only token for the frontend's pages and API"
    ),
    ("create", "profiles"): Entry(
        _GRAPH, "create_profiles", "Compile every appliance into dir="
    ),
    ("create", "roll"): Entry(
        _ROLL, "create_roll", "Build a roll artifact (ISO or tarball)"
    ),
    ("disable", "roll"): Entry(
        _ROLL, "disable_roll", "Disable rolls"
    ),
    ("discover",): Entry(
        "rocks.commands.sync", "discover", "Turn DHCP requests from unknown MACs into new hosts"
    ),
    ("dump",): Entry(
        _LOAD, "dump", "Print the inventory as hostfile, attrfile and commands"
    ),
    ("enable", "roll"): Entry(
        _ROLL, "enable_roll", "Enable rolls"
    ),
    ("list", "appliance"): Entry(
        _APP, "list_appliance", "List appliances and their root nodes"
    ),
    ("list", "appliance", "attr"): Entry(
        _ATTR, "list_appliance_attr", "List appliance attributes"
    ),
    ("list", "appliance", "profile"): Entry(
        _GRAPH, "list_appliance_profile", "Print an appliance's kickstart"
    ),
    ("list", "attr"): Entry(
        _ATTR, "list_attr", "List global attributes"
    ),
    ("list", "bootaction"): Entry(
        _BOOT, "list_bootaction", "List boot actions"
    ),
    ("list", "host"): Entry(
        _HOST, "list_host", "List hosts"
    ),
    ("list", "host", "access"): Entry(
        _RUN, "list_host_access", "List who may log in to which nodes"
    ),
    ("list", "host", "attr"): Entry(
        _ATTR, "list_host_attr", "List a host's resolved attributes and their scope"
    ),
    ("list", "host", "boot"): Entry(
        _HOST, "list_host_boot", "List hosts' boot actions"
    ),
    ("list", "frontend"): Entry(
        "rocks.commands.frontend", "list_frontend", "List the frontends sharing the inventory"
    ),
    ("list", "host", "install"): Entry(
        "rocks.commands.frontend", "list_host_install", "List hosts' install stage and last message"
    ),
    ("list", "host", "interface"): Entry(
        _HOST, "list_host_interface", "List hosts' interfaces"
    ),
    ("list", "host", "power"): Entry(
        "rocks.commands.power", "list_host_power", "Ask hosts' BMCs for their power state"
    ),
    ("list", "host", "profile"): Entry(
        _PROF, "list_host_profile", "Print a host's kickstart"
    ),
    ("list", "host", "status"): Entry(
        _RUN, "list_host_status", "Show each node's state: up, down, installing, stalled"
    ),
    ("list", "host", "xml"): Entry(
        _PROF, "list_host_xml", "Print a host's traversal as node XML"
    ),
    ("list", "network"): Entry(
        _NET, "list_network", "List networks"
    ),
    ("list", "node", "profile"): Entry(
        _GRAPH, "list_node_profile", "Print the kickstart rooted at any graph node"
    ),
    ("list", "node", "xml"): Entry(
        _GRAPH, "list_node_xml", "Print the traversal as node XML"
    ),
    ("list", "os", "attr"): Entry(
        _ATTR, "list_os_attr", "List os attributes"
    ),
    ("list", "rack", "attr"): Entry(
        _ATTR, "list_rack_attr", "List rack attributes"
    ),
    ("list", "roll"): Entry(
        _ROLL, "list_roll", "List rolls"
    ),
    ("load", "attrfile"): Entry(
        _LOAD, "load_attrfile", "Load attributes from a CSV file"
    ),
    ("load", "hostfile"): Entry(
        _LOAD, "load_hostfile", "Load hosts and interfaces from a CSV file"
    ),
    ("open", "host", "console"): Entry(
        "rocks.commands.power", "open_host_console", "Open a host's serial console (SOL)"
    ),
    ("remove", "appliance"): Entry(
        _APP, "remove_appliance", "Remove an appliance"
    ),
    ("remove", "appliance", "attr"): Entry(
        _ATTR, "remove_appliance_attr", "Remove an appliance attribute"
    ),
    ("remove", "attr"): Entry(
        _ATTR, "remove_attr", "Remove a global attribute"
    ),
    ("remove", "bootaction"): Entry(
        _BOOT, "remove_bootaction", "Remove a boot action"
    ),
    ("remove", "host"): Entry(
        _HOST, "remove_host", "Remove hosts"
    ),
    ("remove", "host", "attr"): Entry(
        _ATTR, "remove_host_attr", "Remove a host attribute"
    ),
    ("remove", "host", "interface"): Entry(
        _HOST, "remove_host_interface", "Remove an interface from a host"
    ),
    ("remove", "network"): Entry(
        _NET, "remove_network", "Remove a network"
    ),
    ("remove", "os", "attr"): Entry(
        _ATTR, "remove_os_attr", "Remove an os attribute"
    ),
    ("remove", "rack", "attr"): Entry(
        _ATTR, "remove_rack_attr", "Remove a rack attribute"
    ),
    ("remove", "roll"): Entry(
        _ROLL, "remove_roll", "Remove rolls from the store"
    ),
    ("report", "completion"): Entry(
        "rocks.cli.completion", "report_completion", "Print a bash completion script for rocks"
    ),
    ("report", "manpage"): Entry(
        "rocks.cli.manpage", "report_manpage", "Print the rocks(8) manual page (troff)"
    ),
    ("report", "graph"): Entry(
        _GRAPH, "report_graph", "Print the graph in Graphviz DOT"
    ),
    ("report", "host", "dhcpd"): Entry(
        "rocks.commands.sync", "report_host_dhcpd", "Print the DHCP configuration sync would write"
    ),
    ("report", "host", "dns"): Entry(
        "rocks.commands.sync", "report_host_dns", "Print the DNS zones sync would write"
    ),
    ("report", "host", "hosts"): Entry(
        "rocks.commands.sync", "report_host_hosts", "Print the /etc/hosts sync would write"
    ),
    ("report", "host", "pxe"): Entry(
        "rocks.commands.sync", "report_host_pxe", "Print hosts' network-boot files"
    ),
    ("report", "nextip"): Entry(
        _NET, "report_nextip", "Print the next free address of a network"
    ),
    ("run", "host"): Entry(
        _RUN, "run_host", "Run a command on many nodes over SSH"
    ),
    ("set", "appliance", "access"): Entry(
        _RUN, "set_appliance_access", "Record who may log in to an appliance"
    ),
    ("set", "appliance", "attr"): Entry(
        _ATTR, "set_appliance_attr", "Set an appliance attribute"
    ),
    ("set", "attr"): Entry(
        _ATTR, "set_attr", "Set a global attribute"
    ),
    ("set", "host", "access"): Entry(
        _RUN, "set_host_access", "Record who may log in to which nodes"
    ),
    ("set", "host", "appliance"): Entry(
        _HOST, "set_host_appliance", "Set hosts' appliance"
    ),
    ("set", "host", "attr"): Entry(
        _ATTR, "set_host_attr", "Set a host attribute"
    ),
    ("set", "host", "boot"): Entry(
        _HOST, "set_host_boot", "Set hosts' boot action: install or os"
    ),
    ("set", "host", "comment"): Entry(
        _HOST, "set_host_comment", "Set hosts' comment"
    ),
    ("set", "host", "installaction"): Entry(
        _HOST, "set_host_installaction", "Set hosts' install boot action"
    ),
    ("set", "host", "interface", "iface"): Entry(
        _HOST, "set_host_interface_iface", "Rename an interface's device"
    ),
    ("set", "host", "interface", "ip"): Entry(
        _HOST, "set_host_interface_ip", "Set an interface's IP address"
    ),
    ("set", "host", "interface", "mac"): Entry(
        _HOST, "set_host_interface_mac", "Set an interface's MAC address"
    ),
    ("set", "host", "interface", "module"): Entry(
        _HOST, "set_host_interface_module", "Set an interface's driver module"
    ),
    ("set", "host", "interface", "network"): Entry(
        _HOST, "set_host_interface_network", "Set an interface's network"
    ),
    ("set", "host", "interface", "options"): Entry(
        _HOST, "set_host_interface_options", "Set an interface's options"
    ),
    ("set", "host", "interface", "vlan"): Entry(
        _HOST, "set_host_interface_vlan", "Set an interface's VLAN"
    ),
    ("set", "host", "name"): Entry(
        _HOST, "set_host_name", "Rename a host"
    ),
    ("set", "host", "power"): Entry(
        "rocks.commands.power", "set_host_power", "Power hosts on, off, cycle, reset; status"
    ),
    ("set", "host", "rack"): Entry(
        _HOST, "set_host_rack", "Set hosts' rack"
    ),
    ("set", "host", "rank"): Entry(
        _HOST, "set_host_rank", "Set a host's rank"
    ),
    ("set", "host", "runaction"): Entry(
        _HOST, "set_host_runaction", "Set hosts' run (os) boot action"
    ),
    ("set", "network"): Entry(
        _NET, "set_network", "Change a network (subnet, netmask, zone, mtu, gateway, …)"
    ),
    ("set", "os", "attr"): Entry(
        _ATTR, "set_os_attr", "Set an os attribute"
    ),
    ("set", "rack", "attr"): Entry(
        _ATTR, "set_rack_attr", "Set a rack attribute"
    ),
    ("set", "roll"): Entry(
        _ROLL, "set_roll", "Trust or distrust a roll (trusted=yes|no)"
    ),
    ("start", "console-logger"): Entry(
        "rocks.commands.power", "start_console_logger", "Log installing nodes' consoles"
    ),
    ("start", "frontend"): Entry(
        "rocks.commands.frontend", "start_frontend", "Serve kickstarts, events and the dashboard"
    ),
    ("sync", "config"): Entry(
        "rocks.commands.sync", "sync_config", "Make DHCP, DNS, hosts, boot files match"
    ),
    ("sync", "distro"): Entry(
        _ROLL, "sync_distro", "Mirror the head node's distribution by content"
    ),
    ("sync", "host", "access"): Entry(
        _RUN, "sync_host_access", "Apply access rules to running nodes"
    ),
    ("try", "appliance"): Entry(
        "rocks.commands.try_", "try_appliance", "Try an appliance: install into root=, run %post"
    ),
    ("try", "host"): Entry(
        "rocks.commands.try_", "try_host", "Try a host: install into root=, run %post"
    ),
}


class Service(NamedTuple):
    module: str
    factory: str


# Lazily opened services commands reach through `Context.service(name)`; the factory is called
# with the Context on first use (e.g. "inventory": Service("rocks.inventory.session", "open")).
SERVICES: dict[str, Service] = {
    "inventory": Service("rocks.commands._inventory", "open_session"),
    "inventory-core": Service("rocks.commands._inventory", "open_core"),
}
