#!/bin/sh
# A command of the rocks test OS that stands in for a package the test OS does not really carry.
# It records how it was called and succeeds, so kickstart %post scripts that call it run on.
echo "$(date '+%F %T') $(basename "$0") $*" >> /var/log/rocks-test-os-placeholders.log
exit 0
