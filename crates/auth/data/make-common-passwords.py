#!/usr/bin/env python3
"""Regenerates common-passwords.txt.deflate, the list the password policy refuses.

    python3 make-common-passwords.py PATH/TO/10-million-password-list-top-1000000.txt

The input is SecLists' `Passwords/Common-Credentials/10-million-password-list-top-1000000.txt`
(MIT; see README.md beside this script). Its first 100,000 lines are checked against the
SHA-256 of SecLists' `10-million-password-list-top-100000.txt`, so a wrong or altered input
is refused rather than shipped.

What it writes: the first RANKS entries of that list plus the hand-made entries of
common-passwords.txt, each NFKC-normalised, stripped and lower-cased (the form the policy
compares against), deduplicated, sorted, joined by "\\n" and compressed with zlib at level 9.
The Rust side (src/policy.rs) inflates it once with miniz_oxide.

Standard library only; the output is byte-for-byte reproducible with the same zlib.
"""

import hashlib
import pathlib
import sys
import unicodedata
import zlib

# Ranks taken from the 1,000,000 list. After lower-casing, the top 100,000 hold only
# 96,518 distinct entries; the top 105,000 hold 101,193, which keeps the set above
# 100,000 entries.
RANKS = 105_000
# SHA-256 of SecLists' 10-million-password-list-top-100000.txt: the first 100,000 lines
# of the input must be exactly that file.
TOP_100000_SHA256 = "84f9f01da3323b41cdc030f89f7fab65bf76a7e0d5265acabb715c2b3795f148"
MIN_ENTRIES = 100_000

HERE = pathlib.Path(__file__).resolve().parent
HAND_MADE = HERE / "common-passwords.txt"
OUTPUT = HERE / "common-passwords.txt.deflate"


def normalise(entry: str) -> str:
    """The policy's form of a password: NFKC, then lower case."""
    return unicodedata.normalize("NFKC", entry.strip()).lower()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    raw = pathlib.Path(sys.argv[1]).read_bytes()
    lines = raw.split(b"\n")
    if len(lines) < RANKS:
        print(f"input has {len(lines)} lines, need at least {RANKS}", file=sys.stderr)
        return 1
    top_100000 = b"".join(line + b"\n" for line in lines[:100_000])
    if hashlib.sha256(top_100000).hexdigest() != TOP_100000_SHA256:
        print(
            "the first 100,000 lines are not SecLists' top-100000 list; refusing",
            file=sys.stderr,
        )
        return 1

    entries = set()
    for line in lines[:RANKS]:
        entry = normalise(line.decode("utf-8"))
        if entry:
            entries.add(entry)
    from_list = len(entries)
    for line in HAND_MADE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            entries.add(normalise(line))
    if len(entries) < MIN_ENTRIES:
        print(f"only {len(entries)} entries, need {MIN_ENTRIES}", file=sys.stderr)
        return 1

    text = "\n".join(sorted(entries)).encode("utf-8")
    packed = zlib.compress(text, 9)
    OUTPUT.write_bytes(packed)
    print(
        f"{len(entries)} entries ({from_list} from the list, "
        f"{len(entries) - from_list} hand-made only); "
        f"{len(text)} bytes, {len(packed)} compressed; "
        f"sha256 {hashlib.sha256(packed).hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
