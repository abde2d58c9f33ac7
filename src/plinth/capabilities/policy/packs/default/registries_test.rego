# Tests of the registry rule, in OPA's pre-1.0 syntax (no if/contains keywords).
package plinth.default.registries_test

import data.plinth.default.registries

plan(images) = inp {
	inp := {"resources": [r | image := images[i]; r := {"name": sprintf("web-%d", [i]), "type": "service", "action": "create", "spec": {"containers": {"main": {"image": image}}}}]}
}

test_docker_hub_library_images_are_allowed {
	count(registries.violations(plan(["nginx:1.27"]))) == 0
}

test_allowed_registries_pass {
	count(registries.violations(plan(["ghcr.io/acme/web:1", "py:plinth_demo.webapp"]))) == 0
}

test_other_registries_are_denied {
	count(registries.violations(plan(["quay.io/acme/web:1", "ghcr.io/acme/ok:1"]))) == 1
}

test_the_message_says_what_to_change {
	v := registries.violations(plan(["evil.example/miner:1"]))[_]
	contains(v.fix, "ghcr.io/")
}
