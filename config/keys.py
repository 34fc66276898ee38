"""What every configuration key does here: one line per key, upstream 1.0.7's and ours.

A key is one of:
- `works(test)`: does here what it does in upstream 1.0.7; `test` (`path::name`) shows it.
- `ours()`: not upstream's; a key this agent adds.
- `inert(why)`: upstream 1.0.7 accepts it and gives it no effect either (for this backend), so
  it loads and does nothing, as it did there.
- `refused(why, off=...)`: upstream has it, this agent does not yet. A file with it off (a value
  in `off`, or the key left out) loads as upstream's files do; turned on, `validate` and `run`
  refuse the file naming the key, never ignore it.
- `with_(key)`: only read while `key` (same scope) is on, and follows that key's status.

Scopes: `root`, `offering`, `component`, `backend_settings` (read from the settings of every
backend), one per backend plugin (`slurm`, ...) for its own settings and `<plugin> component`
for its component keys, and `plugin_options` (set in Waldur on the offering, read at run time).
A plugin scope's entry wins over the `backend_settings` one. Nested keys are dotted
(`periodic_limits.enabled`); a refused or inert key covers the keys inside it.

Implementing an upstream key means changing its line here to `works(...)` with its test;
tests/test_config_keys.py fails when a config Struct has a field without a line, when upstream's
key set (tests/data/upstream-1.0.7-keys.txt) has a key without one, or when a named test is gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from waldur_site_agent_actors.config.secrets import is_secret_key
from waldur_site_agent_actors.config.validate import shown


@dataclass(frozen=True)
class Works:
    test: str


@dataclass(frozen=True)
class Ours:
    pass


@dataclass(frozen=True)
class Inert:
    why: str


@dataclass(frozen=True)
class Refused:
    why: str
    off: tuple[Any, ...] = (False,)
    removable: bool = True


@dataclass(frozen=True)
class With:
    key: str


Status = Works | Ours | Inert | Refused | With


def works(test: str) -> Works:
    return Works(test)


def ours() -> Ours:
    return Ours()


def inert(why: str) -> Inert:
    return Inert(why)


def refused(why: str, off: tuple[Any, ...] = (False,), removable: bool = True) -> Refused:
    return Refused(why, off, removable)


def with_(key: str) -> With:
    return With(key)


T_CFG = "tests/test_config_errors.py"
T_TELEMETRY = "tests/test_telemetry.py::"
T_SHOW = "tests/test_config_show.py"
T_E2E_ORDERS = "tests/e2e/test_orders.py::test_create_update_terminate_reach_done"
T_E2E_USAGE = (
    "tests/e2e/test_membership_usage.py::test_usage_reaches_waldur_in_waldur_units_and_never_"
    "decreases"
)
T_E2E_TEAM = "tests/e2e/test_membership_usage.py::test_team_changes_become_associations"
T_EVENTS = "tests/e2e/test_events.py::test_orders_complete_by_event_and_across_a_broker_outage"
T_SLURM = "tests/slurm/test_backend.py::"
T_BAD_INPUT = "tests/e2e/test_bad_input.py::"
T_FEATURES = "tests/slurm/test_features.py::"
T_SLURM_CONFIGS = "tests/slurm/test_upstream_features.py::test_upstream_feature_config_end_to_end"
T_OPTIONS = "tests/e2e/test_offering_options.py::"
T_IMPORTS = "tests/e2e/test_imports.py::"
T_STORAGE = "tests/slurm/test_storage.py::"
T_AGENT = "tests/slurm/test_agent.py::"
T_LDAP = "tests/slurm/test_ldap.py::"
T_LDAP_USERS = "tests/usernames/test_ldap.py::"
T_WELCOME = "tests/usernames/test_welcome.py::"
T_MUP = "tests/mup/test_backend.py::"
T_FED = "tests/federation/test_backend.py::"
T_FED_KEYS = "tests/federation/test_upstream_keys.py::"
T_CROIT = "tests/croit/test_backend.py::"
T_RGW_KEYS = (
    "tests/croit/test_keys.py::test_keys_are_minted_rotated_by_the_sweep_and_restored_after_a_"
    "soft_delete"
)
T_MOAB = "tests/moab/test_backend.py::"
T_MUP_PROFILES = (
    "tests/mup/test_backend.py::test_profiles_become_mup_terms_and_missing_ones_the_defaults"
)
T_LOAD_COMPONENTS = (
    "tests/test_load_components.py::test_every_component_setting_reaches_waldur_on_create_and_"
    "on_update"
)
T_MUP_DEFAULTS = f"{T_MUP}test_new_projects_and_users_carry_the_configured_defaults"
NO_HOMEDIRS = "upstream makes home directories only on backends that support them (SLURM)"
NAMED_BY_B = "Waldur B names the resources it creates: there is no name here to try or to check"

KEYS: dict[str, dict[str, Status]] = {
    "root": {
        "offerings": works(T_E2E_ORDERS),
        "sentry_dsn": works(f"{T_TELEMETRY}test_sentry_gets_errors_masked"),
        "elastic_apm_server_url": works(f"{T_TELEMETRY}test_elastic_apm_gets_errors_masked"),
        "timezone": works(
            "tests/slurm/test_parsing.py::test_month_windows_meet_exactly_across_a_boundary"
        ),
        "global_proxy": works(
            "tests/e2e/test_global_proxy.py::test_the_agent_and_its_tools_reach_waldur_through_"
            "the_global_proxy"
        ),
        "log_level": works(
            "tests/e2e/test_service.py::test_log_level_decides_which_lines_the_agent_writes"
        ),
        "reporting_periods": works(
            "tests/e2e/test_membership_usage.py::test_the_last_reporting_periods_months_are_"
            "reported_again_each_cycle"
        ),
        "expose_backend_error_details": works(
            "tests/actors/test_error_details.py::test_hidden_errors_keep_only_the_backends_refusal"
        ),
        "log_shipping.enabled": works(
            "tests/e2e/test_presence.py::test_log_lines_reach_waldur_under_the_identity"
        ),
        "log_shipping.ship_interval_seconds": with_("log_shipping.enabled"),
        "log_shipping.buffer_size_mb": with_("log_shipping.enabled"),
        "log_shipping.log_level": with_("log_shipping.enabled"),
        "order_process_period_minutes": ours(),
        "report_period_minutes": ours(),
        "membership_sync_period_minutes": ours(),
        "reconciliation_period_minutes": ours(),
        "command_timeout_seconds": ours(),
        "state_dir": ours(),
        "supervision.max_restarts": ours(),
        "supervision.within_seconds": ours(),
        "supervision.backoff_initial_seconds": ours(),
        "supervision.backoff_max_seconds": ours(),
        "metrics.enabled": ours(),
        "metrics.listen_address": ours(),
        "metrics.listen_port": ours(),
        "metrics.textfile_directory": ours(),
    },
    "offering": {
        "name": works(T_E2E_ORDERS),
        "waldur_api_url": works(T_E2E_ORDERS),
        "waldur_api_token": works(T_E2E_ORDERS),
        "waldur_offering_uuid": works(T_E2E_ORDERS),
        "oidc_token_url": works(
            "tests/simulator/test_agent_client.py::test_oidc_client_credentials"
        ),
        "oidc_client_id": works(
            "tests/simulator/test_agent_client.py::test_oidc_client_credentials"
        ),
        "oidc_client_secret": works(
            "tests/simulator/test_agent_client.py::test_oidc_client_credentials"
        ),
        "backend_type": works(
            "tests/test_plugins.py::test_per_mode_keys_fall_back_to_backend_type"
        ),
        "order_processing_backend": works(
            "tests/test_plugins.py::test_per_mode_keys_fall_back_to_backend_type"
        ),
        "reporting_backend": works(
            "tests/croit/test_e2e.py::test_limit_based_storage_is_updated_and_reported_in_gb_days"
        ),
        "membership_sync_backend": works(
            "tests/test_plugins.py::test_per_mode_keys_fall_back_to_backend_type"
        ),
        "username_management_backend": works(
            "tests/usernames/test_sync.py::test_names_by_rule_unique_stored_and_users_moved_to_ok"
        ),
        "backend_settings": works("tests/test_plugins.py::test_settings_schema_defaults_apply"),
        "backend_components": works("tests/test_units.py::test_seed_example_usage"),
        "stomp_enabled": works(T_EVENTS),
        "stomp_membership_sync_enabled": works(
            "tests/e2e/test_events.py::test_stomp_membership_sync_enabled_chooses_how_team_"
            "changes_arrive"
        ),
        "websocket_use_tls": works(T_EVENTS),
        "stomp_ws_host": works(T_EVENTS),
        "stomp_ws_port": works(T_EVENTS),
        "stomp_ws_path": works(T_EVENTS),
        "resource_import_enabled": works(
            f"{T_IMPORTS}test_a_request_is_answered_at_once_by_its_event"
        ),
        "username_reconciliation_enabled": works(
            f"{T_FED_KEYS}test_usernames_bs_offering_gives_come_back_to_a"
        ),
        "verify_ssl": works(
            "tests/simulator/test_agent_client.py::test_verify_ssl_false_holds_even_with_requests_"
            "ca_bundle_set"
        ),
        "omit_anomalous_usage_components": works(
            "tests/e2e/test_membership_usage.py::test_a_component_whose_usage_went_down_is_"
            "omitted_or_stops_the_whole_report"
        ),
        "plugin_distributions": ours(),
    },
    "component": {
        "measured_unit": works(
            "tests/slurm/test_tools.py::test_load_components_updates_and_creates_and_the_old_"
            "name_works"
        ),
        "accounting_type": works(
            "tests/slurm/test_features.py::test_prepaid_budget_is_limit_times_months_and_follows_"
            "a_renewal"
        ),
        "label": works(
            "tests/slurm/test_tools.py::test_load_components_updates_and_creates_and_the_old_"
            "name_works"
        ),
        "unit_factor": works("tests/test_units.py::test_seed_example_usage"),
        "unit_factor_reporting": inert("upstream 1.0.7 reads it nowhere (a CSCS-DWDI plugin key)"),
        "limit": works("tests/test_units.py::test_seed_example_limits"),
        "description": works(T_LOAD_COMPONENTS),
        "min_value": works(T_LOAD_COMPONENTS),
        "max_value": works(T_LOAD_COMPONENTS),
        "max_available_limit": works(T_LOAD_COMPONENTS),
        "default_limit": works(T_LOAD_COMPONENTS),
        "limit_period": works(T_LOAD_COMPONENTS),
        "article_code": works(T_LOAD_COMPONENTS),
        "is_boolean": works(T_LOAD_COMPONENTS),
        "is_prepaid": works(T_LOAD_COMPONENTS),
        "min_prepaid_duration": works(T_LOAD_COMPONENTS),
        "max_prepaid_duration": works(T_LOAD_COMPONENTS),
        "prepaid_duration_step": works(T_LOAD_COMPONENTS),
        "min_renewal_duration": works(T_LOAD_COMPONENTS),
        "max_renewal_duration": works(T_LOAD_COMPONENTS),
        "renewal_duration_step": works(T_LOAD_COMPONENTS),
    },
    "backend_settings": {
        "customer_prefix": inert("upstream names customer accounts only in SLURM"),
        "project_prefix": works(
            f"{T_IMPORTS}test_a_request_whose_event_was_missed_is_answered_by_the_order_sweep"
        ),
        "allocation_prefix": works(T_E2E_ORDERS),
        "default_account": inert(
            "upstream hands it to the backend's association call, which only SLURM reads"
        ),
        "check_backend_id_uniqueness": works(
            f"{T_BAD_INPUT}test_a_backend_id_waldur_has_seen_is_skipped"
        ),
        "check_all_offerings": works(f"{T_BAD_INPUT}test_a_backend_id_waldur_has_seen_is_skipped"),
        "backend_id_max_retries": works(
            f"{T_BAD_INPUT}test_names_run_out_after_backend_id_max_retries"
        ),
        "soft_delete": works(
            f"{T_OPTIONS}test_soft_delete_keeps_the_account_with_zero_limits_and_a_restore_"
            "brings_them_back"
        ),
        "enable_user_homedir_account_creation": inert(NO_HOMEDIRS),
        "default_homedir_umask": inert(NO_HOMEDIRS),
        "homedir_base_path": inert(NO_HOMEDIRS),
        "homedir_quota": inert(NO_HOMEDIRS),
    },
    "slurm": {
        "default_account": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "customer_prefix": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "project_prefix": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "allocation_prefix": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "backend_id_max_retries": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "check_backend_id_uniqueness": works(T_SLURM_CONFIGS),
        "check_all_offerings": works(T_SLURM_CONFIGS),
        "parent_account": works(f"{T_SLURM}test_flat_tree_under_a_parent_account"),
        "default_account_policy": works(
            f"{T_SLURM}test_users_default_accounts_and_per_user_limits"
        ),
        "cluster_name": works(f"{T_SLURM}test_tree_names_limits_and_collisions"),
        "slurm_bin_path": works(
            "tests/slurm/test_agent.py::test_orders_team_changes_and_qos_reach_the_cluster"
        ),
        "default_partition": works(f"{T_FEATURES}test_default_partition_scopes_new_associations"),
        "qos_default": works(f"{T_SLURM}test_qos_pause_downscale_restore_and_metadata"),
        "qos_downscaled": works(f"{T_SLURM}test_qos_pause_downscale_restore_and_metadata"),
        "qos_paused": works(f"{T_SLURM}test_qos_pause_downscale_restore_and_metadata"),
        "enable_user_homedir_account_creation": works(
            f"{T_SLURM}test_home_directories_only_when_enabled"
        ),
        "default_homedir_umask": works(f"{T_SLURM}test_home_directories_only_when_enabled"),
        "periodic_limits.enabled": works(
            "tests/slurm/test_periodic_events.py::test_policy_settings_reach_the_account_and_the_"
            "outcome_reaches_waldur"
        ),
        "periodic_limits.limit_type": works(
            "tests/slurm/test_periodic.py::test_max_tres_minutes_by_the_message_or_the_offering"
        ),
        "periodic_limits.emulator_mode": works(
            "tests/slurm/test_periodic.py::test_emulator_mode_posts_each_setting_to_the_emulator"
        ),
        "periodic_limits.emulator_base_url": with_("periodic_limits.emulator_mode"),
        "periodic_limits.tres_billing_enabled": inert(
            "upstream 1.0.7 ignores it: Waldur sends the policy"
        ),
        "periodic_limits.tres_billing_weights": inert(
            "upstream 1.0.7 ignores it: Waldur sends the policy"
        ),
        "periodic_limits.billing_weights": inert(
            "upstream 1.0.7 ignores it: Waldur sends the policy"
        ),
        "periodic_limits.fairshare_decay_half_life": inert(
            "upstream 1.0.7 ignores it: Waldur sends the policy"
        ),
        "periodic_limits.qos_levels": inert("upstream 1.0.7 ignores it: Waldur sends the policy"),
        "homedir_base_path": works(
            f"{T_STORAGE}test_home_directories_are_on_by_default_and_skip_an_existing_base_path"
        ),
        "homedir_quota.provider": works(f"{T_STORAGE}test_xfs_user_quota_on_the_home_filesystem"),
        "homedir_quota.max_bytes": works(
            f"{T_STORAGE}test_ceph_xattr_quota_on_a_new_home_directory"
        ),
        "homedir_quota.max_files": works(
            f"{T_STORAGE}test_ceph_xattr_quota_on_a_new_home_directory"
        ),
        "homedir_quota.mount_point": works(
            f"{T_STORAGE}test_xfs_user_quota_on_the_home_filesystem"
        ),
        "homedir_quota.block_softlimit": works(
            f"{T_STORAGE}test_xfs_user_quota_on_the_home_filesystem"
        ),
        "homedir_quota.block_hardlimit": works(
            f"{T_STORAGE}test_xfs_user_quota_on_the_home_filesystem"
        ),
        "homedir_quota.inode_softlimit": works(
            f"{T_STORAGE}test_lustre_user_quota_in_upstream_s_format"
        ),
        "homedir_quota.inode_hardlimit": works(
            f"{T_STORAGE}test_lustre_user_quota_in_upstream_s_format"
        ),
        "root_account": works(
            f"{T_FEATURES}test_root_account_and_allocations_named_after_the_project"
        ),
        "soft_delete": works(
            f"{T_FEATURES}test_soft_delete_keeps_an_unusable_account_for_a_restore"
        ),
        "execution_mode": works(f"{T_AGENT}test_orders_team_changes_and_qos_reach_the_cluster"),
        "rest_api.url": with_("execution_mode"),
        "rest_api.api_version": with_("execution_mode"),
        "rest_api.username": with_("execution_mode"),
        "rest_api.token_file": with_("execution_mode"),
        "rest_api.token_env": with_("execution_mode"),
        "rest_api.verify_ssl": with_("execution_mode"),
        "rest_api.timeout": with_("execution_mode"),
        "qos_enforcement_enabled": works(
            f"{T_FEATURES}test_qos_enforcement_grants_the_order_s_qos_on_its_partition"
        ),
        "enforce_offering_qos": works(
            f"{T_FEATURES}test_qos_enforcement_grants_the_order_s_qos_on_its_partition"
        ),
        "enforce_offering_partitions": works(
            f"{T_FEATURES}test_offering_partitions_limit_associations_only_when_enforced"
        ),
        "qos_management.enabled": works(
            f"{T_FEATURES}test_allocation_qos_holds_the_budget_and_pause_keeps_it"
        ),
        "qos_management.flags": with_("qos_management.enabled"),
        "qos_management.grp_tres": with_("qos_management.enabled"),
        "qos_management.max_jobs": with_("qos_management.enabled"),
        "qos_management.max_submit": with_("qos_management.enabled"),
        "qos_management.max_wall": with_("qos_management.enabled"),
        "qos_management.min_tres_per_job": with_("qos_management.enabled"),
        "qos_management.additional_qos": with_("qos_management.enabled"),
        "qos_management.skip_qos_swap": works(
            f"{T_FEATURES}test_allocation_qos_holds_the_budget_and_pause_keeps_it"
        ),
        "qos_management.apply_limits_to_qos": works(
            f"{T_FEATURES}test_allocation_qos_holds_the_budget_and_pause_keeps_it"
        ),
        "project_directory.enabled": works(
            f"{T_STORAGE}test_project_directory_with_acl_setgid_and_lustre_project_quota"
        ),
        "project_directory.base_path": with_("project_directory.enabled"),
        "project_directory.owner": with_("project_directory.enabled"),
        "project_directory.permissions": with_("project_directory.enabled"),
        "project_directory.set_gid": with_("project_directory.enabled"),
        "project_directory.set_acl": with_("project_directory.enabled"),
        "project_directory.group_owner_source": with_("project_directory.enabled"),
        "project_directory.group_name": with_("project_directory.enabled"),
        "project_directory.lustre_quota.mount_point": with_("project_directory.enabled"),
        "project_directory.lustre_quota.block_softlimit": with_("project_directory.enabled"),
        "project_directory.lustre_quota.block_hardlimit": with_("project_directory.enabled"),
        "project_directory.lustre_quota.inode_softlimit": with_("project_directory.enabled"),
        "project_directory.lustre_quota.inode_hardlimit": with_("project_directory.enabled"),
        "ldap.uri": works(
            f"{T_LDAP}test_an_allocation_has_a_posix_group_with_its_users_until_it_goes"
        ),
        "ldap.gid_range_start": works(
            f"{T_LDAP}test_an_allocation_has_a_posix_group_with_its_users_until_it_goes"
        ),
        "ldap.username_format": works(
            f"{T_LDAP_USERS}test_new_users_are_posix_entries_with_a_personal_group_and_access_groups"
        ),
        "ldap.generate_vpn_password": works(
            f"{T_LDAP_USERS}test_new_users_are_posix_entries_with_a_personal_group_and_access_groups"
        ),
        "ldap.waldur_username_attribute": works(
            f"{T_LDAP_USERS}test_new_users_are_posix_entries_with_a_personal_group_and_access_groups"
        ),
        "ldap.access_groups": works(
            f"{T_LDAP_USERS}test_new_users_are_posix_entries_with_a_personal_group_and_access_groups"
        ),
        "ldap.remove_user_on_deactivate": inert(
            "upstream's core never calls the LDAP plugin's deactivate_users, so it had no "
            "effect there either"
        ),
        "ldap.welcome_email.smtp_host": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.welcome_email.smtp_port": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.welcome_email.smtp_username": works(
            f"{T_WELCOME}test_welcome_email_over_starttls_with_login"
        ),
        "ldap.welcome_email.smtp_password": works(
            f"{T_WELCOME}test_welcome_email_over_starttls_with_login"
        ),
        "ldap.welcome_email.use_tls": works(
            f"{T_WELCOME}test_welcome_email_over_starttls_with_login"
        ),
        "ldap.welcome_email.use_ssl": works(f"{T_WELCOME}test_welcome_email_over_implicit_tls"),
        "ldap.welcome_email.verify_ssl": ours(),
        "ldap.welcome_email.timeout": with_("ldap.welcome_email.smtp_host"),
        "ldap.welcome_email.from_address": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.welcome_email.from_name": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.welcome_email.subject": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.welcome_email.template_path": works(
            f"{T_WELCOME}test_a_new_user_gets_the_welcome_email_and_no_secret_of_the_site"
        ),
        "ldap.bind_dn": with_("ldap.uri"),
        "ldap.bind_password": with_("ldap.uri"),
        "ldap.base_dn": with_("ldap.uri"),
        "ldap.use_starttls": with_("ldap.uri"),
        "ldap.people_ou": with_("ldap.uri"),
        "ldap.groups_ou": with_("ldap.uri"),
        "ldap.uid_range_start": with_("ldap.uri"),
        "ldap.uid_range_end": with_("ldap.uri"),
        "ldap.gid_range_end": with_("ldap.uri"),
        "ldap.default_login_shell": with_("ldap.uri"),
        "ldap.default_home_base": with_("ldap.uri"),
        "ldap.user_object_classes": with_("ldap.uri"),
        "ldap.user_group_object_classes": with_("ldap.uri"),
        "ldap.project_group_object_classes": with_("ldap.uri"),
        "limit_type": ours(),
        "create_homedirs": ours(),
        "homedir_umask": ours(),
        "homedir_skeleton": ours(),
        "cancel_jobs_wait_seconds": ours(),
    },
    "slurm component": {
        "target_components": works(
            f"{T_FEATURES}test_one_component_onto_several_tres_with_factors"
        ),
        "tres": ours(),
        "limit_type": ours(),
    },
    "moab": {
        "allocation_prefix": works(
            f"{T_MOAB}test_create_makes_an_account_with_a_fund_holding_the_deposit"
        ),
        "project_prefix": works(
            f"{T_MOAB}test_a_project_account_is_shared_by_its_allocations_and_goes_with_the_last"
        ),
        "mam_bin_path": ours(),
    },
    "mup": {
        "api_url": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
        "username": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
        "password": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
        "allocation_prefix": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
        "project_prefix": inert(
            "read only by resource import, and a MUP allocation names a grant, not a Waldur "
            "project slug: nothing is offered, as upstream"
        ),
        "default_research_field": works(T_MUP_DEFAULTS),
        "default_agency": works(T_MUP_DEFAULTS),
        "default_storage_limit": works(T_MUP_DEFAULTS),
        "default_user_salutation": works(T_MUP_PROFILES),
        "default_user_gender": works(T_MUP_PROFILES),
        "default_user_birth_year": works(T_MUP_PROFILES),
        "default_user_country": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
        "default_user_institution_type": works(T_MUP_PROFILES),
        "default_user_institution": works(T_MUP_PROFILES),
        "default_user_biography": works(T_MUP_DEFAULTS),
        "user_funding_agency_prefix": works(T_MUP_DEFAULTS),
        "timeout": ours(),
        "verify_ssl": ours(),
    },
    "mup component": {
        "mup_allocation_type": works(
            f"{T_MUP}test_create_makes_the_project_with_its_pi_and_one_allocation_per_component"
        ),
    },
    "waldur": {
        "check_backend_id_uniqueness": inert(NAMED_BY_B),
        "check_all_offerings": inert(NAMED_BY_B),
        "backend_id_max_retries": inert(NAMED_BY_B),
        "target_api_url": works(f"{T_FED}test_create_orders_on_b_in_one_project_per_project_here"),
        "target_api_token": works(
            f"{T_FED}test_create_orders_on_b_in_one_project_per_project_here"
        ),
        "target_offering_uuid": works(
            f"{T_FED}test_create_orders_on_b_in_one_project_per_project_here"
        ),
        "target_customer_uuid": works(
            f"{T_FED}test_create_orders_on_b_in_one_project_per_project_here"
        ),
        "user_match_field": works(f"{T_FED}test_users_are_matched_by_the_configured_field"),
        "user_not_found_action": works(
            f"{T_FED}test_a_user_missing_on_b_fails_the_sync_when_told_to_after_the_others"
        ),
        "order_poll_timeout": works(f"{T_FED}test_an_order_b_leaves_pending_too_long_fails"),
        "order_poll_interval": works(f"{T_FED}test_settled_orders_are_reported_once"),
        "passthrough_attributes": works(
            "tests/federation/test_e2e.py::test_resource_options_changed_on_a_reach_b_directly_or_by_bs_order"
        ),
        "target_stomp_enabled": works(
            "tests/federation/test_events.py::test_b_finishing_an_order_finishes_as_order_by_event"
        ),
        "user_resolve_method": works(f"{T_FED_KEYS}test_users_reach_b_through_its_identity_bridge"),
        "identity_bridge_source": works(
            f"{T_FED_KEYS}test_users_reach_b_through_its_identity_bridge"
        ),
        "role_mapping": works(f"{T_FED_KEYS}test_roles_reach_b_as_role_mapping_renames_them"),
        "end_date_sync_direction": works(
            f"{T_FED_KEYS}test_end_dates_follow_the_side_that_changed_last"
        ),
        "limit_sync_direction": works(
            f"{T_FED_KEYS}test_limits_bs_provider_changes_come_back_to_a"
        ),
        "fetch_consented_users_only": works(f"{T_FED_KEYS}test_only_consenting_users_reach_b"),
        "target_verify_ssl": ours(),
        "target_timeout": ours(),
        "target_stomp_ws_host": ours(),
        "target_stomp_ws_port": ours(),
        "target_stomp_ws_path": ours(),
        "target_websocket_use_tls": ours(),
    },
    "waldur component": {
        "target_components": works(
            "tests/federation/test_mapping.py::test_the_seeds_example_fans_out_and_back"
        ),
    },
    "ceph_s3": {
        "api_url": works(
            f"{T_CROIT}test_create_makes_one_stamped_user_with_quotas_no_key_and_metadata"
        ),
        "token": works(
            "tests/croit/test_client.py::test_bearer_token_and_basic_credentials_are_accepted"
        ),
        "username": works(
            "tests/croit/test_client.py::test_bearer_token_and_basic_credentials_are_accepted"
        ),
        "password": works(
            "tests/croit/test_client.py::test_bearer_token_and_basic_credentials_are_accepted"
        ),
        "verify_ssl": works(
            "tests/croit/test_client.py::test_tls_verification_can_use_a_ca_bundle_or_be_turned_off"
        ),
        "timeout": works(
            "tests/croit/test_client.py::test_an_unanswered_request_is_transient_and_bounded_by_"
            "the_timeout"
        ),
        "allocation_prefix": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "s3_endpoint": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "s3_region": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "default_tenant": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "default_placement": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "default_storage_class": works(
            f"{T_CROIT}test_upstream_attribute_names_and_user_settings_are_honoured"
        ),
        "flavour": works(T_RGW_KEYS),
        "admin_access_key": works(T_RGW_KEYS),
        "admin_secret_key": works(T_RGW_KEYS),
        "admin_path": works(
            "tests/croit/test_radosgw.py::test_admin_path_names_where_admin_ops_live"
        ),
        "user_prefix": ours(),
        "slug_separator": ours(),
        "max_username_length": ours(),
        "ca_bundle": ours(),
        "quota_scope": ours(),
    },
    "ceph_s3 component": {
        "backend_name": works(f"{T_CROIT}test_usage_is_what_the_buckets_hold_now"),
        "enforce_limits": ours(),
    },
    "demo": {
        "path": ours(),
        "usage_per_second": ours(),
        "allocation_prefix": ours(),
        "default_account": ours(),
        "fail_on": ours(),
        "pending_seconds": ours(),
        "fail_rate": ours(),
        "fail_seed": ours(),
    },
    "plugin_options": {
        "username_generation_policy": works(
            "tests/usernames/test_sync.py::test_nothing_happens_unless_the_offering_lets_the_"
            "provider_make_names"
        ),
        "service_provider_can_create_offering_user": works(
            "tests/usernames/test_sync.py::test_nothing_happens_unless_the_offering_lets_the_"
            "provider_make_names"
        ),
        "account_name_generation_policy": works(
            f"{T_OPTIONS}test_accounts_named_after_the_project_slug_are_numbered_from_zero"
        ),
        "enforce_qos": with_("slurm qos_enforcement_enabled"),
        "enable_membership_sync_status": works(
            f"{T_OPTIONS}test_membership_sync_status_shows_in_waldur_which_grants_landed"
        ),
    },
}
"""Scope -> key -> status. Keep one line per key (long test names may wrap)."""

# Plugins registered under several names share one scope.
SCOPE_OF_PLUGIN = {"croit_s3": "ceph_s3", "croit_usage": "ceph_s3"}


def plugin_scope(plugin: str) -> str | None:
    name = SCOPE_OF_PLUGIN.get(plugin, plugin)
    return name if name in KEYS else None


def status(scope: str, key: str) -> Status | None:
    """The key's own line, else (for a plugin's settings) the line every backend shares."""
    found = KEYS.get(scope, {}).get(key)
    if found is None and scope in PLUGIN_SCOPES:
        found = KEYS["backend_settings"].get(key)
    return found


CORE_SCOPES = ("root", "offering", "component", "backend_settings", "plugin_options")
PLUGIN_SCOPES = frozenset(s for s in KEYS if s not in CORE_SCOPES and " " not in s)


def is_off(value: Any, off: tuple[Any, ...]) -> bool:
    """Absent, in `off` (compared with its type: 0 is not False), empty, or a mapping whose
    `enabled` is false and which turns nothing else on."""
    if value is None or any(type(value) is type(o) and value == o for o in off):
        return True
    if isinstance(value, dict | list) and not value:
        return True
    if isinstance(value, dict) and "enabled" in value:
        return not value["enabled"] and not any(
            v is True for k, v in value.items() if k != "enabled"
        )
    return False


def refusal(key: str, value: Any, reason: Refused) -> str:
    """The message of a key refused while on (its path names the key): the value (never a
    secret's), why, and what to do."""
    scalar = not isinstance(value, dict | list)
    what = shown(value) if scalar and not is_secret_key(key.rsplit(".", 1)[-1]) else "this setting"
    alike = [o for o in reason.off if o is not None and type(o) is type(value)]
    off = alike or [o for o in reason.off if o is not None]
    if isinstance(value, dict) and "enabled" in value:
        action = "set its `enabled` to false or remove it"
    elif off and scalar:
        action = "set it to " + " or ".join(json.dumps(o) for o in off)
        action += " or remove it" if reason.removable else ""
    else:
        action = "it has no value that turns it off: remove it"
    return f"{what} is not supported by this agent yet ({reason.why}); {action}"


def dig(mapping: Any, dotted: str) -> Any:
    """The value at a dotted key of nested mappings, None where any step is missing."""
    for part in dotted.split("."):
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(part)
    return mapping


def refusals(scope: str, raw: Any) -> list[tuple[str, str]]:
    """`(dotted key, message)` for every refused key that `raw` (one scope's mapping) turns on;
    for a plugin's settings, the keys every backend shares are checked too."""
    if not isinstance(raw, dict):
        return []
    keys = dict(KEYS["backend_settings"]) if scope in PLUGIN_SCOPES else {}
    keys.update(KEYS.get(scope, {}))
    found = []
    for key, state in keys.items():
        value = dig(raw, key)
        if isinstance(state, Refused) and not is_off(value, state.off):
            found.append((key, refusal(key, value, state)))
    return found
