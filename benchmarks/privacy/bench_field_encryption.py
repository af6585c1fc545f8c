"""Per-row cost of encrypting contact rows for storage (``encrypt_contact_rows``).

Times ``encrypt_contact_rows`` on N import-shaped rows (phone on every row, notes on one in
four) with field-encryption keys set, against the same call without keys (blind index only)
and a bare ``dict(row)`` copy loop (the floor every row-building path pays anyway). Prints
microseconds per row and the ratios, with the load average.

    .venv/bin/python benchmarks/privacy/bench_field_encryption.py --rows 20000
"""

from __future__ import annotations

import argparse
import os
import time

from cultiveat_core.crm import create_crm
from cultiveat_core.crypto import generate_key
from cultiveat_core.privacy.encryption import encrypt_contact_rows
from cultiveat_core.settings import Settings


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "email": f"c{i}@example.com",
            "first_name": "Ann",
            "last_name": f"Lee{i}",
            "phone": f"+1202555{i % 10000:04d}",
            "notes": "met at the fair, prefers mornings" if i % 4 == 0 else None,
            "company": "Acme",
        }
        for i in range(n)
    ]


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = rows(args.rows)
    common = {"database_url": "sqlite://", "secret_key": "bench-secret-" + "x" * 32}
    with_keys = create_crm(Settings(field_encryption_keys=generate_key(), **common))
    without = create_crm(Settings(**common))
    floor = best(lambda: [dict(r) for r in data], args.repeat)
    plain = best(lambda: encrypt_contact_rows(without, data), args.repeat)
    encrypted = best(lambda: encrypt_contact_rows(with_keys, data), args.repeat)
    tuples_cols = ("email", "phone", "phone_key", "notes")
    tuple_rows = [(r["email"], r["phone"], None, r["notes"]) for r in data]
    encrypted_tuples = best(
        lambda: encrypt_contact_rows(with_keys, tuple_rows, columns=tuples_cols), args.repeat
    )
    per = 1e6 / args.rows
    load = os.getloadavg()
    print(f"rows: {args.rows}, best of {args.repeat}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"dict copy (floor):                 {floor * per:7.2f} us/row")
    print(f"no keys (blind index only):        {plain * per:7.2f} us/row  ({plain / floor:.1f}x floor)")
    print(f"keys set, dict rows:               {encrypted * per:7.2f} us/row  ({encrypted / floor:.1f}x floor)")
    print(f"keys set, tuple rows:              {encrypted_tuples * per:7.2f} us/row")
    print(f"encryption adds {(encrypted - plain) * per:.2f} us/row over the blind index alone")


if __name__ == "__main__":
    main()
