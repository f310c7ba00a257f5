"""Operating running nodes from the frontend: SSH fan-out with the cluster key, reachability
probes, node status, and who may log in (pam_access rules).

Library code only: no printing, no exit codes. `rocks.commands.run` is its command-line face.
"""
