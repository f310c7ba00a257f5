"""Upgrading an inventory keeps its data: a 0001 database with hosts, interfaces and attributes
comes out of `open_inventory` at head with every row intact (a table rebuild under SQLite's
foreign keys once cascaded them away)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from rocks.inventory import db as dbmod
from rocks.inventory import open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host, Interface, Network


def test_upgrade_from_0001_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "rocks.db"
    engine = create_engine(f"sqlite:///{path}")
    dbmod._sqlite_setup(engine)
    dbmod.migrate(engine, "0001")
    engine.dispose()
    old = open_inventory.__globals__["HEAD_REVISION"]
    try:
        open_inventory.__globals__["HEAD_REVISION"] = "0001"
        inv = open_inventory(str(path))
        with inv.transaction() as s:
            s.execute(text("select 1"))
        # write through raw SQL so the rows match the 0001 schema exactly
        with inv.engine.begin() as conn:
            conn.exec_driver_sql("insert into appliances (id, name, node, kickstartable, public,"
                                 " graph) values (1, 'compute', 'compute', 1, 1, 'default')")
            conn.exec_driver_sql("insert into networks (id, name, subnet, netmask, mtu, zone, "
                                 "servedns, pxe, gateway) values (1, 'private', '10.1.0.0', "
                                 "'255.255.0.0', 1500, 'local', 0, 1, '')")
            conn.exec_driver_sql("insert into hosts (id, name, appliance_id, rack, rank, os, "
                                 "install_action, run_action, boot, comment) values (1, 'c-0-0', 1,"
                                 " 0, 0, 'linux', 'install', 'os', 'os', '')")
            conn.exec_driver_sql("insert into interfaces (id, host_id, device, mac, ip, network_id,"
                                 " name, module, options, default_gateway) values (1, 1, 'eth0', "
                                 "'52:54:00:00:00:01', '10.1.255.254', 1, '', '', '', 0)")
            conn.exec_driver_sql("insert into attributes (name, value, scope, os, host_id, secret)"
                                 " values ('x11', 'yes', 'host', NULL, 1, 0)")
        inv.close()
    finally:
        open_inventory.__globals__["HEAD_REVISION"] = old
    inv = open_inventory(str(path))
    with inv.transaction() as s:
        host = q.get_host(s, "c-0-0")
        assert [i.mac for i in host.interfaces] == ["52:54:00:00:00:01"]
        assert [(a.name, a.value) for a in q.list_attrs(s, "host", "c-0-0")] == [("x11", "yes")]
        assert dbmod.schema_revision(inv.engine) == dbmod.HEAD_REVISION
    inv.close()
    _ = (Appliance, Host, Interface, Network)
