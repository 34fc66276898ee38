"""Every operation the agent uses (waldur-api.md §2, upstream-contract.md §3-§4) is routed."""

from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

AGENT_OPERATIONS = """
GET /api/marketplace-orders/
GET /api/marketplace-orders/{uuid}/
POST /api/marketplace-orders/{uuid}/approve_by_provider/
POST /api/marketplace-orders/{uuid}/reject_by_provider/
POST /api/marketplace-orders/{uuid}/set_state_executing/
POST /api/marketplace-orders/{uuid}/set_state_done/
POST /api/marketplace-orders/{uuid}/set_state_erred/
POST /api/marketplace-orders/{uuid}/set_backend_id/
GET /api/marketplace-provider-resources/
GET /api/marketplace-provider-resources/{uuid}/
GET /api/marketplace-provider-resources/{uuid}/team/
POST /api/marketplace-provider-resources/{uuid}/set_backend_id/
POST /api/marketplace-provider-resources/{uuid}/set_backend_metadata/
POST /api/marketplace-provider-resources/{uuid}/set_limits/
POST /api/marketplace-provider-resources/{uuid}/set_as_erred/
POST /api/marketplace-provider-resources/{uuid}/set_as_ok/
POST /api/marketplace-provider-resources/{uuid}/refresh_last_sync/
POST /api/marketplace-provider-resources/{uuid}/set_endpoints/
POST /api/marketplace-provider-resources/{uuid}/set_membership_sync_statuses/
GET /api/marketplace-resources/
GET /api/marketplace-resources/{uuid}/
GET /api/marketplace-resources/{uuid}/team/
POST /api/marketplace-resources/{uuid}/terminate/
POST /api/marketplace-resources/{uuid}/update_limits/
GET /api/marketplace-component-usages/
POST /api/marketplace-component-usages/set_usage/
POST /api/marketplace-component-usages/{uuid}/set_user_usage/
POST /api/marketplace-component-usages/{uuid}/set_user_usages/
GET /api/marketplace-component-user-usages/
GET /api/component-user-usage-limits/
GET /api/marketplace-offering-users/
PATCH /api/marketplace-offering-users/{uuid}/
POST /api/marketplace-offering-users/{uuid}/begin_creating/
POST /api/marketplace-offering-users/{uuid}/set_pending_account_linking/
POST /api/marketplace-offering-users/{uuid}/set_pending_additional_validation/
POST /api/marketplace-offering-users/{uuid}/set_validation_complete/
POST /api/marketplace-offering-users/{uuid}/set_error_creating/
GET /api/marketplace-provider-offerings/{uuid}/
POST /api/marketplace-provider-offerings/{uuid}/create_offering_component/
POST /api/marketplace-provider-offerings/{uuid}/update_offering_component/
POST /api/marketplace-provider-offerings/{uuid}/check_unique_backend_id/
GET /api/marketplace-provider-offerings/{uuid}/user-attribute-config/
GET /api/marketplace-provider-offerings/{uuid}/list_course_accounts/
GET /api/marketplace-provider-offerings/{uuid}/list_project_service_accounts/
GET /api/marketplace-plans/{uuid}/
GET /api/marketplace-service-providers/
GET /api/marketplace-service-providers/{uuid}/keys/
GET /api/marketplace-service-providers/{uuid}/projects/
GET /api/projects/
GET /api/users/me/
GET /api/version/
GET /api/marketplace-site-agent-identities/
POST /api/marketplace-site-agent-identities/
PUT /api/marketplace-site-agent-identities/{uuid}/
POST /api/marketplace-site-agent-identities/{uuid}/register_event_subscription/
POST /api/marketplace-site-agent-identities/{uuid}/register_service/
POST /api/marketplace-site-agent-identities/{uuid}/register_queue/
POST /api/marketplace-site-agent-services/{uuid}/register_processor/
POST /api/event-subscriptions/{uuid}/create_queue/
DELETE /api/event-subscriptions/{uuid}/
POST /api/marketplace-site-agent-logs/
GET /api/marketplace-resource-api-keys/
POST /api/marketplace-resource-api-keys/report_created/
POST /api/marketplace-resource-api-keys/{uuid}/set_key/
POST /api/marketplace-resource-api-keys/{uuid}/set_erred/
POST /api/marketplace-slurm-periodic-usage-policies/{uuid}/report-command-result/
GET /api/backend-resource-requests/
GET /api/backend-resource-requests/{uuid}/
POST /api/backend-resource-requests/{uuid}/start_processing/
POST /api/backend-resource-requests/{uuid}/set_done/
POST /api/backend-resource-requests/{uuid}/set_erred/
GET /api/backend-resources/
POST /api/backend-resources/
"""


def test_every_agent_operation_is_routed():
    with WaldurSimulator(tick_interval=0) as sim:
        routed = set(sim.app.router.templates())
    wanted = {line for line in AGENT_OPERATIONS.strip().splitlines()}
    assert sorted(wanted - routed) == []
