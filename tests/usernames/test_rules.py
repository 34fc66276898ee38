"""The `base` plugin's documented rules, and the core's uniqueness rule (docs/usernames.md)."""

import pytest

from waldur_site_agent_actors.actors.usernames import unique
from waldur_site_agent_actors.backends.exceptions import OfferingUserAccountLinkingRequiredError
from waldur_site_agent_actors.backends.usernames import (
    RESERVED,
    BaseUsernameBackend,
    OfferingUserInfo,
    normalise,
)


def info(full_name="", username="", email=""):
    return OfferingUserInfo(
        uuid="u" * 32, user_full_name=full_name, user_username=username, user_email=email
    )


def name(full_name="", username="", email=""):
    return BaseUsernameBackend().get_or_create_username(info(full_name, username, email))


def test_rule_1_first_initial_and_last_word_of_the_full_name():
    assert name("Alice Andersen", "alice@uni") == "aandersen"
    assert name("Åsa Maria Øberg") == "aoberg"
    assert name("Jean-Luc O'Neill") == "joneill"


def test_rule_2_the_waldur_username_before_any_at():
    assert name("", "Bob.Berg@example.org") == "bobberg"
    assert name("李雷", "lei.li") == "leili"


def test_rule_3_a_one_word_full_name():
    assert name("Cher", "") == "cher"
    assert name("Cher", "42") == "cher", "a username with no letters is not usable"


def test_rule_4_the_email_address_before_the_at():
    assert name("李雷", "8172634", "lei.li@uni.example") == "leili"


def test_no_usable_name_asks_for_account_linking():
    with pytest.raises(OfferingUserAccountLinkingRequiredError, match="link an existing account"):
        name("李雷", "8172634")
    with pytest.raises(OfferingUserAccountLinkingRequiredError):
        name("X", "7")


def test_names_are_safe_for_a_command_line():
    assert normalise("$(id); rm -rf /") == "idrm-rf"
    assert normalise("123abc") == "abc"
    assert len(normalise("x" * 100)) == 32
    assert normalise("李雷") == ""


def test_collisions_get_a_number_within_32_characters():
    taken = {"aandersen", "aandersen2"}
    assert unique("aandersen", taken) == "aandersen3"
    assert unique("bob", taken) == "bob"
    long = "a" * 32
    assert unique(long, {long}) == "a" * 31 + "2"
    assert unique("root", RESERVED) == "root2"
