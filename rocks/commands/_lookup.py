"""Name checks shared by the command modules: an unknown appliance, network or boot action is an
error naming the closest known one. They live in rocks.inventory.core (plain SQL, shared with
the frontend's write API through rocks.inventory.lookup), so a hot command never imports the ORM
for them."""

from rocks.inventory.core import need_appliance, need_bootaction, need_network, not_found

__all__ = ["need_appliance", "need_bootaction", "need_network", "not_found"]
