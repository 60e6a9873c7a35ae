#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The TAP helper the shell tests share; source it, do not run it.
#
#   ok STATUS NAME   print "ok N NAME" when STATUS is 0, else "not ok N NAME"
#                    and count a failure in $fails
#
# $n numbers the tests printed so far and $fails counts the failures, so a
# test can print a SKIP line itself (n=$((n + 1))) and end with
# [ "$fails" -eq 0 ].

n=0
fails=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		fails=$((fails + 1))
	fi
}
