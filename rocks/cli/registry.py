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
_GRAPH = "rocks.commands.graph"

COMMANDS: CommandTable = {
    ("check", "graph"): Entry(_GRAPH, "check_graph", "Check the merged graph: every problem, located"),
    ("create", "profiles"): Entry(_GRAPH, "create_profiles", "Compile every appliance into dir="),
    ("list", "appliance"): Entry(_GRAPH, "list_appliance", "List appliances and their root nodes"),
    ("list", "appliance", "profile"): Entry(
        _GRAPH, "list_appliance_profile", "Print an appliance's kickstart"
    ),
    ("list", "node", "profile"): Entry(
        _GRAPH, "list_node_profile", "Print the kickstart rooted at any graph node"
    ),
    ("list", "node", "xml"): Entry(_GRAPH, "list_node_xml", "Print the traversal as node XML"),
    ("report", "completion"): Entry(
        "rocks.cli.completion", "report_completion", "Print a bash completion script for rocks"
    ),
    ("report", "graph"): Entry(_GRAPH, "report_graph", "Print the graph in Graphviz DOT"),
}


class Service(NamedTuple):
    module: str
    factory: str


# Lazily opened services commands reach through `Context.service(name)`; the factory is called
# with the Context on first use (e.g. "inventory": Service("rocks.inventory.session", "open")).
SERVICES: dict[str, Service] = {}
