from actors.usernames import unique
from backends.usernames import BaseUsernameBackend, OfferingUserInfo, normalise


def info(full_name="", username=""):
    return OfferingUserInfo(uuid="u" * 32, user_full_name=full_name, user_username=username)


def test_first_initial_and_last_name():
    backend = BaseUsernameBackend()
    assert backend.get_or_create_username(info("Alice Andersen", "alice@uni")) == "aandersen"
    assert backend.generate_username(info("Åsa Maria Øberg")) == "aoberg"


def test_falls_back_to_the_waldur_username():
    backend = BaseUsernameBackend()
    assert backend.generate_username(info("", "Bob.Berg@example.org")) == "bobbergexampleorg"
    assert backend.generate_username(info("Cher", "")) == "cher"


def test_names_are_safe_for_a_command_line():
    assert normalise("$(id); rm -rf /") == "idrm-rf"
    assert normalise("123abc") == "abc"
    assert len(normalise("x" * 100)) == 32
    assert normalise("李雷") == ""


def test_collisions_get_a_number():
    taken = {"aandersen", "aandersen2"}
    assert unique("aandersen", taken) == "aandersen3"
    assert unique("bob", taken) == "bob"
    long = "a" * 32
    assert unique(long, {long}) == "a" * 31 + "2"
