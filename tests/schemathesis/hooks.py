"""Schemathesis hooks for tests/schemathesis/fuzz.py (loaded through
SCHEMATHESIS_HOOKS=hooks).

Schemathesis 3.x sends a query parameter's generated value through
`requests`, which writes a one-element list as the bare value and drops
`None`, an empty list and an empty object: a negative `[false]` for a
boolean goes out as `?include_revoked=false`, a valid request the server
rightly accepts, which the negative-data check then reports as "accepted
negative data". Such cases test the serializer, not the server, so they are
not generated. Lists of two or more become repeated parameters and are kept
(the server refuses them).
"""

import schemathesis


def _same_bytes_as_valid(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict)):
        return len(value) <= 1
    return False


@schemathesis.hook
def filter_query(context, query):
    if not query:
        return True
    return not any(_same_bytes_as_valid(v) for v in query.values())
