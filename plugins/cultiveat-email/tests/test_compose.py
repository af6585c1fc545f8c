"""The plain-address fast path agrees with the full check (email_validator after parseaddr)."""

from email.headerregistry import Address
from email.utils import parseaddr

import pytest
from cultiveat_email import compose

from cultiveat_core import ValidationError

ADDRESSES = [
    "ann@example.com",
    "Ann.Lee+news@Mail.Example.COM",
    "c99999@bench49.example.com",
    "a_b-c@x-y.example.org",
    "first.last@sub.domain.test",
    "-dash@example.com",
    "x@a.co",
    # not plain: the full check decides (some valid, some not)
    "ann@localhost",
    "ann@host.local",
    "ann@1.2.3.4.in-addr.arpa",
    "ann@bad.invalid",
    "ann@xn--bcher-kva.example",
    "ann@ab--cd.example.com",
    "ann..lee@example.com",
    ".ann@example.com",
    "ann.@example.com",
    "ann@-host.example.com",
    "ann@host-.example.com",
    "ann@example.c0m",
    "ann@example",
    "o'brien@example.com",
    '"quoted"@example.com',
    "Ann Lee <ann@example.com>",
    "ann@exämple.com",
    "änn@example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "ann@" + "l" * 63 + ".example.com",
    "ann@" + "l" * 64 + ".example.com",
    "ann@" + ".".join(["abcdefghi"] * 25) + ".com",
]


def full_check(value):
    """What check_address / address_only did before the fast path (and still do off it)."""
    problem = compose._address_problem(parseaddr(value)[1])
    if problem is not None:
        return None
    try:
        return Address(addr_spec=parseaddr(value)[1]).addr_spec.lower()
    except Exception as exc:  # e.g. a non-ASCII local part: valid, but Address refuses it
        return repr(exc)


@pytest.mark.parametrize("value", ADDRESSES)
def test_the_plain_fast_path_is_a_subset_of_the_full_check_and_answers_the_same(value):
    expected = full_check(value)
    if compose.plain_address(value):
        assert expected is not None, f"{value!r}: the fast path accepts what the full check refuses"
        assert compose.address_only(value) == expected
        assert compose.check_address("to", value) == value
        assert compose.domain_of(value) == expected.rpartition("@")[2]
    elif expected is None:
        with pytest.raises(ValidationError):
            compose.check_address("to", value)
    else:
        assert compose.check_address("to", value) == value


def test_the_fast_path_takes_the_common_case():
    assert compose.plain_address("c12345@bench3.example.com")
    assert compose.plain_address("Ann.Lee+news@Mail.Example.COM")
    assert not compose.plain_address("Ann Lee <ann@example.com>")
    assert not compose.plain_address("ann@host.local")
    assert not compose.plain_address("ann@example.com\r\nBcc: x@example.com")
