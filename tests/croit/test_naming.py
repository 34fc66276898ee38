"""S3 user names: the seed's slug rules."""

import pytest

from tests.croit.conftest import make_resource
from waldur_site_agent_actors.backends.croit_s3.backend import CroitS3Backend
from waldur_site_agent_actors.backends.croit_s3.naming import clean_slug, s3_user_name
from waldur_site_agent_actors.backends.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("MyOrg", "myorg"),
        ("Climate  Modelling-2024", "climate_modelling_2024"),
        ("--a..b__c--", "a_b_c"),
        ("Ünïcode Labs", "n_code_labs"),
        ("___", ""),
    ],
)
def test_clean_slug(text, cleaned):
    assert clean_slug(text) == cleaned


def test_name_is_prefix_organisation_project_and_uuid_start():
    name = s3_user_name(make_resource(), "waldur_", "_", 64)
    assert name == "waldur_myorg_myproject_3f2a9c1e"


def test_separator_and_fallbacks_when_slugs_are_missing():
    resource = make_resource(customer_slug="", customer_name="Big Uni", project_slug="")
    assert s3_user_name(resource, "s3-", "-", 64) == "s3-big_uni-project-3f2a9c1e"


def test_too_long_names_shorten_organisation_and_project_but_keep_prefix_and_uuid():
    resource = make_resource(customer_slug="o" * 40, project_slug="p" * 40)
    name = s3_user_name(resource, "waldur_", "_", 40)
    assert len(name) == 40
    assert name.startswith("waldur_o") and name.endswith("_3f2a9c1e")
    assert name == "waldur_" + "o" * 11 + "_" + "p" * 12 + "_3f2a9c1e"


def test_a_short_part_leaves_its_room_to_the_long_one():
    resource = make_resource(customer_slug="ab", project_slug="p" * 40)
    name = s3_user_name(resource, "w_", "_", 32)
    assert name == "w_ab_" + "p" * 18 + "_3f2a9c1e"
    assert len(name) == 32


def test_a_prefix_leaving_no_room_is_a_configuration_error():
    settings = {
        "api_url": "http://croit",
        "token": "t",
        "user_prefix": "a_very_long_prefix_",
        "max_username_length": 28,
    }
    with pytest.raises(ConfigurationError, match="leaves no room"):
        CroitS3Backend(settings, {})
