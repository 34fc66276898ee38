"""A username plugin whose answers a test scripts per Waldur username (`SCRIPT`)."""

from waldur_site_agent_actors.backends.usernames import OfferingUserInfo, UsernameManagementBackend

SCRIPT: dict[str, object] = {}
"""Waldur username -> what to do: a str to generate, an exception to raise, or ("existing", name)
for an account the backend already has."""


class Scripted(UsernameManagementBackend):
    def get_username(self, offering_user: OfferingUserInfo) -> str:
        answer = SCRIPT.get(offering_user.user_username)
        if isinstance(answer, tuple) and answer[0] == "existing":
            return str(answer[1])
        return ""

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        answer = SCRIPT.get(offering_user.user_username, "")
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, str) else ""
