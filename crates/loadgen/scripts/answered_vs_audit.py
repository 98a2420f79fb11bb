#!/usr/bin/env python3
"""Answered signatures without an audit row, after a crash.

usage: answered_vs_audit.py ANSWERED_LOG DATABASE [KEY_ID]

ANSWERED_LOG is cryptobot-loadgen's --answered-log (request, sent and
answered unix ms). The `exchange_key_used` audit row does not name the
request (its details are version, method and path), so each answered
request is matched to a distinct audit row whose at_ms lies between its
send and its answer (the server takes at_ms while handling it). Matching
points to intervals greedily by earliest answer is optimal, so a request
left unmatched is an answered signature that has no audit row.
`unmatched` is the matching alone (tests/soak/soak.py uses it on
PostgreSQL's audit table).
"""
import heapq
import sqlite3
import sys


def unmatched(answered, rows):
    """Ids of answered requests with no audit row of their own.

    `answered` holds (sent_ms, answered_ms, id) triples, `rows` the at_ms
    of the audit rows. Each row serves at most one request; a request is
    served by a row whose at_ms lies between its send and its answer.
    """
    answered = sorted(answered)
    heap, missing, j = [], [], 0
    for at in sorted(rows):
        while j < len(answered) and answered[j][0] <= at:
            heapq.heappush(heap, (answered[j][1], answered[j][2]))
            j += 1
        while heap and heap[0][0] < at:
            missing.append(heapq.heappop(heap)[1])
        if heap:
            heapq.heappop(heap)
    missing.extend(i for _, i in heap)
    missing.extend(a[2] for a in answered[j:])
    return missing


def main() -> int:
    log, db = sys.argv[1], sys.argv[2]
    key = sys.argv[3] if len(sys.argv) > 3 else None
    answered = []
    with open(log) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            i, sent, got = (int(x) for x in line.split())
            answered.append((sent, got, i))
    sql = "SELECT at_ms FROM audit_log WHERE event = 'exchange_key_used'"
    args = ()
    if key:
        sql += " AND subject = ?"
        args = (key,)
    rows = [r[0] for r in sqlite3.connect(db).execute(sql, args)]
    missing = unmatched(answered, rows)
    print(f"answered={len(answered)} audit_rows={len(rows)} "
          f"answered_without_audit_row={len(missing)}")
    if missing:
        print("requests:", sorted(missing)[:20])
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
