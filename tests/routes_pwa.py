"""Access matrix rows for the installable web app: public files at the site root."""

from tests.matrix import RELATIONS, Case

EVERYONE = dict.fromkeys(RELATIONS, 200)

ROUTES = [
    Case("pwa.manifest", EVERYONE, args=lambda demo: {}),
    Case("pwa.service_worker", EVERYONE, args=lambda demo: {}),
    Case("pwa.offline", EVERYONE, args=lambda demo: {}),
]
