"""Out-of-band power and console through nodes' baseboard management controllers (BMCs).

IPMI goes through pyghmi, Redfish through sushy; this layer holds no protocol code of its own.
Library code only: it takes `Bmc` targets (address, protocol, credentials) and returns results;
`rocks.commands.power` reads them from the inventory and prints what came back. Credentials
never leave a `Bmc`: its repr hides them and every error text is scrubbed of them.
"""
