#!/bin/sh
# cordon quickstart's sample agent: tries allowed and forbidden actions and says what happened.
# usage: sample-agent.sh WORK_DIR
work="$1"
try() {
    what="$1"
    shift
    if "$@" >/dev/null 2>&1; then
        echo "    allowed  $what"
    else
        echo "    DENIED   $what"
    fi
}
try "read $work/in/report.txt"              cat "$work/in/report.txt"
try "write $work/out/summary.txt"           sh -c "sort '$work/in/report.txt' > '$work/out/summary.txt'"
try "change $work/in/report.txt"            sh -c "echo tampered >> '$work/in/report.txt'"
try "read /etc/hostname (not granted)"      cat /etc/hostname
try "list $HOME (not granted)"              ls "$HOME"
try "run /usr/bin/id (not granted)"         /usr/bin/id
try "copy cat into out/ and run the copy"   sh -c "cat /bin/cat > '$work/out/mycat' && chmod +x '$work/out/mycat' && '$work/out/mycat' /dev/null"
exit 0
