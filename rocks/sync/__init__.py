"""`rocks sync`: generators turn the inventory into desired files (DHCP, DNS, hosts, the TFTP
boot tree); the applier writes only what changed, atomically, and names what must reload."""
