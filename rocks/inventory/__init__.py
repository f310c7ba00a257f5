"""The inventory database: tables, migrations, sessions, and queries returning model values.

`open_inventory()` is cheap to import (SQLAlchemy loads when a database is opened); the query
functions are in `rocks.inventory.queries`.
"""

from rocks.inventory.db import Inventory, database_url, open_inventory, state_dir

__all__ = ["Inventory", "database_url", "open_inventory", "state_dir"]
