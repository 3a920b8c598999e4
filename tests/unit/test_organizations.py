"""Account lists and role ARNs for the cross-account scan (pure, no server)."""

from __future__ import annotations

import pytest
from frontguard.adapters.organizations import Account, parse_accounts, role_arn
from frontguard.errors import ConfigurationError


def test_account_list_accepts_commas_and_repeats_and_keeps_order_once():
    assert parse_accounts(["222222222222,111111111111", "222222222222", " 333333333333 "]) == [
        Account("222222222222"),
        Account("111111111111"),
        Account("333333333333"),
    ]


@pytest.mark.parametrize("value", ["12345", "1234567890123", "arn:aws:iam::123456789012:root"])
def test_account_list_rejects_what_is_not_an_account_id(value):
    with pytest.raises(ConfigurationError, match="not an AWS account ID"):
        parse_accounts([value])


def test_role_is_a_name_the_same_in_every_account():
    assert role_arn("123456789012", "frontguard-scan") == (
        "arn:aws:iam::123456789012:role/frontguard-scan"
    )
    assert role_arn("123456789012", "/ops/frontguard-scan", "aws-us-gov") == (
        "arn:aws-us-gov:iam::123456789012:role/ops/frontguard-scan"
    )
    with pytest.raises(ConfigurationError, match="role name"):
        role_arn("123456789012", "arn:aws:iam::123456789012:role/x")
